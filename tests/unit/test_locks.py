"""The lock report's rules, one documented case per test (PostgreSQL 16: sql-altertable.html,
sql-createindex.html, explicit-locking.html)."""

from dokku_migrations.database.locks import (
    ACCESS_EXCLUSIVE,
    ROW_EXCLUSIVE,
    SHARE,
    SHARE_ROW_EXCLUSIVE,
    SHARE_UPDATE_EXCLUSIVE,
    Lock,
    Tables,
    locks,
)

PRODUCTION = Tables(columns={"public.widgets": {"id": "integer", "name": "character varying(100)",
                                                "price": "numeric(10,2)", "body": "text"},
                             "public.orders": {"id": "bigint", "widget_id": "integer"},
                             "public.pgmigrations": {"id": "integer", "name": "character varying(255)"},
                             "billing.invoices": {"id": "integer"}},
                    indexes={"public.widgets_name_idx": "public.widgets"})


def one(statement: str) -> Lock:
    found = locks(statement, PRODUCTION)
    assert len(found) == 1, found
    return found[0]


def test_adding_a_nullable_column_takes_access_exclusive_without_a_rewrite():
    lock = one("ALTER TABLE widgets ADD COLUMN color text")

    assert (lock.table, lock.mode, lock.rewrites) == ("public.widgets", ACCESS_EXCLUSIVE, False)


def test_adding_a_column_with_a_constant_default_does_not_rewrite():
    assert one("ALTER TABLE widgets ADD COLUMN stock integer NOT NULL DEFAULT 0").rewrites is False


def test_adding_a_column_with_a_volatile_default_rewrites():
    lock = one('ALTER TABLE "widgets" ADD COLUMN "uid" uuid DEFAULT gen_random_uuid()')

    assert lock.rewrites is True and "rewrites the table" in lock.effect


def test_adding_a_serial_or_identity_column_rewrites():
    assert one("ALTER TABLE widgets ADD COLUMN n bigserial").rewrites is True
    assert one("ALTER TABLE widgets ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY").rewrites is True


def test_changing_a_column_type_rewrites():
    lock = one("ALTER TABLE widgets ALTER COLUMN id TYPE bigint")

    assert (lock.mode, lock.rewrites) == (ACCESS_EXCLUSIVE, True)


def test_widening_a_varchar_or_making_it_text_is_binary_coercible_and_does_not_rewrite():
    assert one("ALTER TABLE widgets ALTER COLUMN name TYPE varchar(200)").rewrites is False
    assert one("ALTER TABLE widgets ALTER COLUMN name SET DATA TYPE text").rewrites is False
    assert one("ALTER TABLE widgets ALTER COLUMN name TYPE character varying(50)").rewrites is True


def test_a_type_change_with_using_rewrites():
    assert one("ALTER TABLE widgets ALTER COLUMN name TYPE text USING upper(name)").rewrites is True


def test_widening_a_numeric_precision_does_not_rewrite():
    assert one("ALTER TABLE widgets ALTER COLUMN price TYPE numeric(12,2)").rewrites is False
    assert one("ALTER TABLE widgets ALTER COLUMN price TYPE numeric(12,3)").rewrites is True


def test_a_type_change_of_an_unknown_column_may_rewrite():
    lock = one("ALTER TABLE orders ALTER COLUMN missing TYPE text")

    assert lock.rewrites is None and "binary-coercible" in lock.effect


def test_set_not_null_scans_the_table_under_access_exclusive():
    lock = one("ALTER TABLE widgets ALTER COLUMN name SET NOT NULL")

    assert (lock.mode, lock.rewrites, lock.effect) == (ACCESS_EXCLUSIVE, False, "scans the whole table")


def test_set_statistics_takes_share_update_exclusive():
    assert one("ALTER TABLE widgets ALTER COLUMN name SET STATISTICS 500").mode == SHARE_UPDATE_EXCLUSIVE


def test_a_foreign_key_takes_share_row_exclusive_on_both_tables():
    found = locks("ALTER TABLE orders ADD CONSTRAINT orders_widget_fk FOREIGN KEY (widget_id) REFERENCES widgets (id)",
                  PRODUCTION)

    assert [(lock.table, lock.mode) for lock in found] == [("public.orders", SHARE_ROW_EXCLUSIVE),
                                                           ("public.widgets", SHARE_ROW_EXCLUSIVE)]
    assert found[0].effect == "scans the whole table"


def test_a_not_valid_constraint_does_not_scan_and_validating_it_takes_share_update_exclusive():
    assert one("ALTER TABLE widgets ADD CONSTRAINT positive CHECK (price > 0) NOT VALID").effect == ""
    lock = one("ALTER TABLE widgets VALIDATE CONSTRAINT positive")
    assert (lock.mode, lock.effect) == (SHARE_UPDATE_EXCLUSIVE, "scans the whole table")


def test_several_subcommands_take_the_strictest_lock():
    lock = one("ALTER TABLE widgets ALTER COLUMN name SET STATISTICS 100, ADD COLUMN x int DEFAULT random()")

    assert (lock.mode, lock.rewrites) == (ACCESS_EXCLUSIVE, True)


def test_create_index_takes_share_and_concurrently_share_update_exclusive():
    assert one("CREATE INDEX widgets_body ON widgets (body)").mode == SHARE
    assert one("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS w ON public.widgets USING btree (name)").mode == \
        SHARE_UPDATE_EXCLUSIVE


def test_drop_index_locks_the_table_the_index_belongs_to():
    assert one("DROP INDEX widgets_name_idx").table == "public.widgets"
    assert one("DROP INDEX CONCURRENTLY IF EXISTS widgets_name_idx").mode == SHARE_UPDATE_EXCLUSIVE


def test_a_schema_qualified_table_is_found_in_its_schema_only():
    assert one("ALTER TABLE billing.invoices ADD COLUMN total int").table == "billing.invoices"
    assert locks("ALTER TABLE billing.widgets ADD COLUMN x int", PRODUCTION) == []


def test_a_table_the_migration_creates_is_not_reported():
    assert locks("CREATE TABLE gadgets (id serial PRIMARY KEY)", PRODUCTION) == []
    assert locks("ALTER TABLE gadgets ADD COLUMN x int", PRODUCTION) == []


def test_a_new_table_referencing_a_production_table_locks_it_in_share_row_exclusive():
    lock = one("CREATE TABLE parts (id int, widget_id int REFERENCES widgets (id))")

    assert (lock.table, lock.mode) == ("public.widgets", SHARE_ROW_EXCLUSIVE)


def test_writing_rows_takes_row_exclusive_and_the_ledger_is_left_out():
    assert one("UPDATE widgets SET name = 'x' WHERE id = 1").mode == ROW_EXCLUSIVE
    assert locks("INSERT INTO pgmigrations (name, run_on) VALUES ($1, now())", PRODUCTION) == []
    assert locks("SELECT * FROM widgets", PRODUCTION) == []


def test_drop_table_truncate_and_lock_table():
    assert one("DROP TABLE IF EXISTS widgets CASCADE").mode == ACCESS_EXCLUSIVE
    assert one("TRUNCATE widgets").mode == ACCESS_EXCLUSIVE
    assert one("LOCK TABLE widgets IN SHARE MODE").mode == SHARE
    assert one("LOCK widgets").mode == ACCESS_EXCLUSIVE


def test_trigger_changes_take_share_row_exclusive():
    assert one("CREATE TRIGGER t BEFORE UPDATE ON widgets FOR EACH ROW EXECUTE FUNCTION f()").mode == \
        SHARE_ROW_EXCLUSIVE
    assert one("ALTER TABLE widgets DISABLE TRIGGER ALL").mode == SHARE_ROW_EXCLUSIVE


def test_vacuum_full_and_cluster_rewrite():
    assert one("VACUUM FULL widgets").rewrites is True
    assert one("CLUSTER widgets USING widgets_name_idx").rewrites is True
    assert one("VACUUM ANALYZE widgets").mode == SHARE_UPDATE_EXCLUSIVE


def test_storage_parameters_fillfactor_is_light_others_are_not():
    assert one("ALTER TABLE widgets SET (fillfactor = 70)").mode == SHARE_UPDATE_EXCLUSIVE
    assert one("ALTER TABLE widgets SET (user_catalog_table = true)").mode == ACCESS_EXCLUSIVE
    assert one("ALTER TABLE widgets SET LOGGED").rewrites is True
