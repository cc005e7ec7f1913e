"""A statement's shape: keywords, identifiers and punctuation kept, every literal and comment gone."""

import pytest

from dokku_migrations.database.shape import shape
from dokku_migrations.database.url import MYSQL


def test_string_and_number_literals_become_question_marks():
    assert shape("UPDATE users SET token = 's3cret', tries = 3 WHERE id = 42") == \
        "UPDATE users SET token = ?, tries = ? WHERE id = ?"


def test_a_doubled_quote_stays_inside_its_string():
    assert shape("INSERT INTO notes VALUES ('it''s the s3cret', 'x')") == "INSERT INTO notes VALUES (?, ?)"


@pytest.mark.parametrize("number", ["7", "3.14", ".5", "5.", "1e10", "1.5E-3", "2e+8", "0x1F", "0o17", "0b101",
                                    "1_000_000", "12abc"])
def test_every_form_of_number_is_a_literal(number):
    assert shape(f"SELECT {number} FROM t") == "SELECT ? FROM t"


def test_names_with_digits_are_names():
    assert shape("SELECT col2 FROM table1 t1 WHERE t1.x9 = 1") == "SELECT col2 FROM table1 t1 WHERE t1.x9 = ?"


def test_a_dollar_quoted_body_is_a_literal():
    assert shape("CREATE FUNCTION f() RETURNS text AS $$ SELECT 'pw' $$ LANGUAGE sql") == \
        "CREATE FUNCTION f() RETURNS text AS ? LANGUAGE sql"


def test_a_tagged_dollar_quote_ends_only_at_its_own_tag():
    sql = "DO $body$ BEGIN PERFORM $$ s3cret $$; RAISE NOTICE 'x'; END $body$"
    assert shape(sql) == "DO ?"


def test_an_unended_dollar_quote_hides_the_rest():
    assert shape("SELECT $q$ token s3cret") == "SELECT ?"


def test_parameters_stay_they_hold_no_value():
    assert shape("SELECT * FROM users WHERE id = $1 AND name = $2") == "SELECT * FROM users WHERE id = $1 AND name = $2"


def test_a_dollar_inside_a_name_is_part_of_the_name():
    assert shape("SELECT a$b$c FROM t") == "SELECT a$b$c FROM t"


def test_an_escape_string_with_an_escaped_quote_is_one_literal():
    assert shape(r"SELECT E'it\'s s3cret', e'\\', 'x' FROM t") == "SELECT ?, ?, ? FROM t"


def test_an_escape_string_with_a_doubled_quote_is_one_literal():
    assert shape("SELECT E'a''s3cret' FROM t") == "SELECT ? FROM t"


@pytest.mark.parametrize("literal", ["B'0101'", "X'1F'", "N'name'", "U&'data'", "u&'data'"])
def test_prefixed_strings_are_literals(literal):
    assert shape(f"SELECT {literal} FROM t") == "SELECT ? FROM t"


def test_a_typed_string_keeps_its_type_name():
    assert shape("SELECT date '2024-01-01', interval'1 day' FROM t") == "SELECT date ?, interval? FROM t"


def test_a_mysql_charset_introducer_belongs_to_its_string():
    assert shape("SELECT _utf8mb4'pw' FROM t", MYSQL) == "SELECT ? FROM t"


def test_a_backslash_in_a_plain_string_ends_the_shape_rather_than_guess():
    # standard_conforming_strings on: 'C:\' ends there, and 's3cret' is a second literal; off: it
    # goes on. Either reading may be the server's, so nothing after the backslash is shown.
    shown = shape(r"INSERT INTO paths VALUES ('C:\', 's3cret')")
    assert shown == "INSERT INTO paths VALUES (?…"


def test_comments_are_dropped_whole():
    sql = "SELECT 1 -- token s3cret\nFROM t /* pw s3cret */ WHERE x = 2"
    assert shape(sql) == "SELECT ? FROM t WHERE x = ?"


def test_nested_comments_end_where_postgresql_ends_them():
    assert shape("SELECT a /* outer /* inner */ still s3cret */ FROM t") == "SELECT a FROM t"


def test_an_unended_comment_hides_the_rest():
    assert shape("SELECT a /* s3cret") == "SELECT a"


def test_a_literal_cut_off_by_the_server_hides_the_rest():
    # pg_stat_activity.query stops at track_activity_query_size bytes, mid-literal
    assert shape("INSERT INTO tokens VALUES ('s3cret-and-more") == "INSERT INTO tokens VALUES (?…"


def test_quoted_names_are_names():
    sql = 'ALTER TABLE "Order Items" ADD COLUMN "a""b" text'
    assert shape(sql) == sql


def test_a_closing_semicolon_is_dropped():
    assert shape("SELECT pg_sleep(5);  \n") == "SELECT pg_sleep(?)"


def test_whitespace_is_one_space():
    assert shape("CREATE INDEX\n\tCONCURRENTLY   idx ON t (a)") == "CREATE INDEX CONCURRENTLY idx ON t (a)"


def test_a_long_statement_is_cut_with_an_ellipsis():
    shown = shape("SELECT " + ", ".join(f"column_{n}" for n in range(100)) + " FROM t", limit=40)
    assert len(shown) <= 41 and shown.endswith("…") and shown.startswith("SELECT column_0, column_1")


def test_control_characters_never_reach_the_line():
    assert shape('SELECT "a\nb\x1b[31m" FROM t') == 'SELECT "a b [31m" FROM t'


def test_mysql_double_quotes_are_strings_and_backticks_names():
    assert shape('SELECT `token`, "s3cret" FROM `users`', MYSQL) == "SELECT `token`, ? FROM `users`"


def test_mysql_hash_comments_are_dropped():
    assert shape("SELECT a # s3cret\nFROM t", MYSQL) == "SELECT a FROM t"


def test_mysql_backslash_escapes_end_the_shape_rather_than_guess():
    assert shape(r"INSERT INTO t VALUES ('it\'s', 's3cret')", MYSQL) == "INSERT INTO t VALUES (?…"


def test_mysql_comments_do_not_nest():
    assert shape("SELECT a /* x /* y */ FROM t", MYSQL) == "SELECT a FROM t"
