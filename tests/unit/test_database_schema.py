"""What a run changed: the fingerprint's rows parsed, compared and said in one line."""

from dokku_migrations.database.schema import Schema, compare, describe, is_ledger, ledger_request, parse
from dokku_migrations.database.url import MYSQL

BEFORE = "\n".join([
    "table\tpublic.widgets\tr",
    "column\tpublic.widgets.id\tinteger not null default nextval('widgets_id_seq'::regclass)",
    "index\tpublic.widgets_pkey\tCREATE UNIQUE INDEX widgets_pkey ON public.widgets USING btree (id)",
    "constraint\tpublic.widgets.widgets_pkey\tPRIMARY KEY (id)",
    "ledger\tpublic.pgmigrations\t1:aaa",
])


def with_lines(*lines: str) -> str:
    return "\n".join([BEFORE, *lines])


def test_rows_are_read_by_kind():
    schema = parse(BEFORE)
    assert set(schema.objects) == {"table", "column", "index", "constraint"}
    assert schema.ledgers == {"public.pgmigrations": "1:aaa"}


def test_a_view_is_told_from_a_table():
    assert parse("table\tpublic.totals\tv").objects == {"view": {"public.totals": "v"}}


def test_an_identical_database_is_unchanged_and_has_the_same_digest():
    before, after = parse(BEFORE), parse(BEFORE)
    change = compare(before, after)
    assert not change.changed and describe(change) == "unchanged" and before.digest == after.digest


def test_added_removed_and_altered_objects_are_counted_per_kind():
    after = parse("\n".join([
        "table\tpublic.widgets\tr",
        "column\tpublic.widgets.id\tbigint not null",
        "column\tpublic.widgets.name\ttext",
        "column\tpublic.widgets.price\tnumeric",
        "table\tpublic.gadgets\tr",
        "constraint\tpublic.widgets.widgets_pkey\tPRIMARY KEY (id)",
        "ledger\tpublic.pgmigrations\t2:bbb",
    ]))
    change = compare(parse(BEFORE), after)
    assert describe(change) == "+1 table, +2 columns, ~1 column, -1 index; 1 migration recorded"


def test_a_data_only_migration_changes_the_database_through_its_ledger():
    change = compare(parse(BEFORE), parse(BEFORE.replace("1:aaa", "2:bbb")))
    assert change.changed and describe(change) == "no schema object; 1 migration recorded"


def test_a_ledger_rewritten_in_place_is_a_change():
    change = compare(parse(BEFORE), parse(BEFORE.replace("1:aaa", "1:ccc")))
    assert change.changed and describe(change) == "no schema object; migration records changed"


def test_a_rollback_unrecords_its_migrations():
    change = compare(parse(BEFORE.replace("1:aaa", "2:bbb")), parse(BEFORE))
    assert describe(change) == "no schema object; 1 migration unrecorded"


def test_the_ledger_table_created_by_a_first_run_counts_its_rows_as_recorded():
    change = compare(Schema(), parse(BEFORE))
    assert describe(change) == "+1 table, +1 column, +1 index, +1 constraint; 1 migration recorded"


def test_a_line_cut_short_is_ignored_rather_than_misread():
    assert parse("table\tpublic.widgets").objects == {}


def test_mysql_ledgers_combine_the_row_count_and_checksum_table():
    text = "ledger\tapplied_migrations\t3\nshop.applied_migrations\t123456"
    assert parse(text, MYSQL).ledgers == {"applied_migrations": "3:123456"}


def test_tables_named_for_migrations_and_the_tools_own_ledgers_are_ledgers():
    assert all(is_ledger(name) for name in ("pgmigrations", "public.django_migrations", "schema_migrations",
                                            "alembic_version", "SequelizeMeta", "knex_migrations", "phinxlog"))
    assert not any(is_ledger(name) for name in ("widgets", "public.orders"))


def test_a_mysql_ledger_name_is_quoted_as_an_identifier():
    assert ledger_request(["odd`name"]) == ("SELECT 'ledger', 'odd`name', COUNT(*) FROM `odd``name`; "
                                            "CHECKSUM TABLE `odd``name`;")
