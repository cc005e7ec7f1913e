"""Reading back what a migration sent, and showing it without its literals."""

import binascii

from dokku_migrations.database.statements import (
    from_mysql_rows,
    from_postgres_csv,
    line_starts,
    numbered,
    split,
)


def test_split_keeps_semicolons_inside_quotes_dollar_quotes_and_comments():
    sql = ("CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql; "
           "INSERT INTO t VALUES ('a;b'); -- a comment; with a semicolon\nSELECT \"x;y\" FROM t;;")

    assert split(sql) == ["CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
                          "INSERT INTO t VALUES ('a;b')", 'SELECT "x;y" FROM t']


def pg_row(severity: str, database: str, message: str) -> str:
    fields = ["2026-01-01 00:00:00 UTC", "postgres", database, "42", "", "s", "1", "", "", "", "0", severity, "00000",
              message, "", "", "", "", "", "", "", "", "", "client backend"]
    return ",".join('"' + field.replace('"', '""') + '"' for field in fields) + "\n"


def test_postgres_statements_come_from_log_rows_of_the_database_in_order():
    log = (pg_row("LOG", "shop", "statement: BEGIN; CREATE TABLE \"a\"\n(id int);")
           + pg_row("LOG", "other", "statement: SELECT 1")
           + pg_row("LOG", "shop", "execute <unnamed>: INSERT INTO pgmigrations (name) VALUES ($1)")
           + pg_row("ERROR", "shop", "relation \"b\" does not exist")
           + pg_row("LOG", "shop", "database system is ready to accept connections"))

    assert from_postgres_csv(log, "shop") == ["BEGIN", 'CREATE TABLE "a"\n(id int)',
                                              "INSERT INTO pgmigrations (name) VALUES ($1)"]


def test_mysql_statements_leave_out_the_plugins_own_sessions_and_connects():
    def row(thread: int, kind: str, argument: str) -> str:
        return f"{thread}\t{kind}\t{binascii.hexlify(argument.encode()).decode().upper()}"

    rows = "\n".join([row(7, "Connect", "mariadb@10.0.0.2 on shop"), row(7, "Query", "CREATE TABLE w (id int)"),
                      row(9, "Query", "SET SESSION sql_log_off = 1"), row(9, "Query", "SET GLOBAL general_log = 0"),
                      row(7, "Execute", "INSERT INTO w VALUES (1)")])

    assert from_mysql_rows(rows, "SET SESSION sql_log_off = 1") == ["CREATE TABLE w (id int)",
                                                                    "INSERT INTO w VALUES (1)"]


def test_numbered_script_and_its_line_starts_agree():
    statements = ["CREATE TABLE a (\nid int\n)", "SELECT 1"]

    assert numbered(statements) == "CREATE TABLE a (\nid int\n);\nSELECT 1;\n"
    assert line_starts(statements) == [0, 3]
