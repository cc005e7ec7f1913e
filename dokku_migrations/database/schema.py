"""A schema fingerprint: what a migration can change, read from the catalog, and what changed.

The fingerprint is a set of objects — tables, views, columns (with type, nullability, default),
indexes, constraints, user types, functions, triggers, extensions — plus the rows of the migration
tools' own ledgers (node-pg-migrate's `pgmigrations`, Django's `django_migrations`, Rails'
`schema_migrations`, knex, Alembic, Doctrine, Laravel, Prisma, Flyway…). The ledgers matter: a
data-only migration changes no table, yet it is a migration a down command would undo. A run
changed the database when either part differs; a run that changed neither applied nothing, and its
image's down migration would undo someone else's migrations.

Pure: the SQL sent, the parsing of what comes back, the comparison and its wording.
"""

import hashlib
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from dokku_migrations.database.url import MYSQL, POSTGRES

# Tables the migration tools keep their ledger in, besides any table whose name holds "migration".
LEDGERS = ("alembic_version", "goose_db_version", "schema_version", "flyway_schema_history", "schema_migrations",
           "sequelizemeta", "phinxlog", "databasechangelog", "atlas_schema_revisions")  # compared in lower case
LEDGER_ROWS_MAX = 100000  # a ledger is small; a big table that merely has "migration" in its name is not read
SEPARATOR = "\t"

_PG_NAMESPACES = ("n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
                  "AND n.nspname NOT LIKE 'pg\\_temp\\_%'")
# Objects created by an extension are the extension's: "+1 extension", not "+40 functions".
_NOT_EXTENSION = ("NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog}'::regclass AND d.objid = {oid} "
                  "AND d.deptype = 'e')")


def _node(column: str) -> str:
    """An expression (a default, an index's expressions or predicate) as its stored tree, without the
    positions of the statement that wrote it. pg_get_expr and pg_get_indexdef would read it back as SQL,
    but they open the table, so a session holding a lock on it (the very one a migration waits
    behind) would hold the fingerprint up too; the stored tree needs no lock."""
    return f"md5(regexp_replace(coalesce({column}::text, ''), ' :location -?[0-9]+', '', 'g'))"


POSTGRES_SQL = " UNION ALL ".join((
    "SELECT 'table', n.nspname || '.' || c.relname, c.relkind::text FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    f"WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {_PG_NAMESPACES} "
    f"AND {_NOT_EXTENSION.format(catalog='pg_class', oid='c.oid')}",
    "SELECT 'column', n.nspname || '.' || c.relname || '.' || a.attname, format_type(a.atttypid, a.atttypmod) "
    "|| CASE WHEN a.attnotnull THEN ' not null' ELSE '' END "
    f"|| coalesce(' default ' || {_node('ad.adbin')}, '') FROM pg_attribute a "
    "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum "
    f"WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {_PG_NAMESPACES} "
    f"AND {_NOT_EXTENSION.format(catalog='pg_class', oid='c.oid')}",
    "SELECT 'index', n.nspname || '.' || ci.relname, concat_ws(' ', i.indrelid::regclass, am.amname, i.indisunique, "
    "i.indnkeyatts, i.indkey, i.indclass, i.indoption, i.indcollation, "
    f"{_node('i.indexprs')}, {_node('i.indpred')}) FROM pg_index i "
    "JOIN pg_class ci ON ci.oid = i.indexrelid JOIN pg_am am ON am.oid = ci.relam "
    "JOIN pg_namespace n ON n.oid = ci.relnamespace "
    f"WHERE {_PG_NAMESPACES} AND {_NOT_EXTENSION.format(catalog='pg_class', oid='i.indrelid')}",
    "SELECT 'constraint', n.nspname || '.' || cl.relname || '.' || co.conname, pg_get_constraintdef(co.oid) "
    "FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace "
    f"WHERE {_PG_NAMESPACES} AND {_NOT_EXTENSION.format(catalog='pg_class', oid='cl.oid')}",
    "SELECT 'type', n.nspname || '.' || t.typname, t.typtype::text || ' ' || coalesce((SELECT string_agg(e.enumlabel, "
    "',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), format_type(t.typbasetype, "
    "t.typtypmod)) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
    f"WHERE t.typtype IN ('e', 'd') AND {_PG_NAMESPACES} AND {_NOT_EXTENSION.format(catalog='pg_type', oid='t.oid')}",
    "SELECT 'function', n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', "
    "md5(coalesce(p.prosrc, '')) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
    f"WHERE {_PG_NAMESPACES} AND {_NOT_EXTENSION.format(catalog='pg_proc', oid='p.oid')}",
    "SELECT 'trigger', n.nspname || '.' || c.relname || '.' || tg.tgname, pg_get_triggerdef(tg.oid) "
    "FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    f"WHERE NOT tg.tgisinternal AND {_PG_NAMESPACES}",
    "SELECT 'extension', x.extname, x.extversion FROM pg_extension x WHERE x.extname <> 'plpgsql'",
)) + ";"

_LEDGER_NAMES = ", ".join(f"'{name}'" for name in LEDGERS)
# psql's \gexec runs each generated query: one row per ledger, its row count and a digest of its rows.
POSTGRES_LEDGERS_SQL = (
    "SELECT format('SELECT %L, %L, count(*)::text || '':'' || md5(coalesce(string_agg(t::text, %L ORDER BY "
    "t::text), %L)) FROM %I.%I t', 'ledger', n.nspname || '.' || c.relname, chr(10), '', n.nspname, c.relname) "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    f"WHERE c.relkind IN ('r', 'p') AND {_PG_NAMESPACES} AND (c.relname ILIKE '%migration%' OR lower(c.relname) IN "
    f"({_LEDGER_NAMES})) AND c.reltuples < {LEDGER_ROWS_MAX} \\gexec"
)

# information_schema answers in its own collation: one statement per kind avoids "Illegal mix of
# collations" in a UNION on MariaDB and MySQL alike.
MYSQL_SQL = " ".join((
    "SELECT 'table', TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE();",
    "SELECT 'column', CONCAT(TABLE_NAME, '.', COLUMN_NAME), CONCAT_WS(' ', COLUMN_TYPE, IF(IS_NULLABLE = 'NO', "
    "'not null', NULL), CONCAT('default ', COLUMN_DEFAULT), NULLIF(EXTRA, '')) FROM information_schema.COLUMNS "
    "WHERE TABLE_SCHEMA = DATABASE();",
    "SELECT 'index', CONCAT(TABLE_NAME, '.', INDEX_NAME), CONCAT(IF(NON_UNIQUE = 0, 'unique ', ''), "
    "GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX)) FROM information_schema.STATISTICS "
    "WHERE TABLE_SCHEMA = DATABASE() GROUP BY TABLE_NAME, INDEX_NAME, NON_UNIQUE;",
    "SELECT 'constraint', CONCAT(TABLE_NAME, '.', CONSTRAINT_NAME), CONSTRAINT_TYPE "
    "FROM information_schema.TABLE_CONSTRAINTS WHERE TABLE_SCHEMA = DATABASE();",
    "SELECT 'trigger', TRIGGER_NAME, MD5(ACTION_STATEMENT) FROM information_schema.TRIGGERS "
    "WHERE TRIGGER_SCHEMA = DATABASE();",
    "SELECT 'function', CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME), MD5(IFNULL(ROUTINE_DEFINITION, '')) "
    "FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE();",
))

KINDS = ("table", "view", "column", "index", "constraint", "type", "function", "trigger", "extension")
PLURALS = {"index": "indexes"}
_VIEW_KINDS = {"v", "m", "VIEW", "SYSTEM VIEW"}


@dataclass
class Schema:
    """Objects by kind (name → definition), and ledgers (name → "rows:digest")."""

    objects: Dict[str, Dict[str, str]] = field(default_factory=dict)
    ledgers: Dict[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """A short, stable digest of everything compared: equal digests, equal databases."""
        lines = sorted(f"{kind}\t{name}\t{definition}" for kind, named in self.objects.items()
                       for name, definition in named.items())
        lines += sorted(f"ledger\t{name}\t{value}" for name, value in self.ledgers.items())
        return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]

    def ledger_tables(self) -> List[str]:
        """For MySQL/MariaDB, whose ledgers are read in a second request (no \\gexec there)."""
        tables = self.objects.get("table", {})
        return sorted(name for name, kind in tables.items() if kind not in _VIEW_KINDS and is_ledger(name))


def is_ledger(table: str) -> bool:
    name = table.rsplit(".", 1)[-1].lower()
    return "migration" in name or name in LEDGERS


def first_request(kind: str) -> str:
    """What is asked first: the whole fingerprint for PostgreSQL, the catalog for MySQL/MariaDB."""
    return f"{POSTGRES_SQL} {POSTGRES_LEDGERS_SQL}" if kind == POSTGRES else MYSQL_SQL


def ledger_request(tables: List[str]) -> str:
    """MySQL/MariaDB: each ledger's row count and checksum (CHECKSUM TABLE reads every row)."""
    quoted = [f"`{table.replace('`', '``')}`" for table in tables]
    counts = " ".join(f"SELECT 'ledger', '{table}', COUNT(*) FROM {name};" for table, name in zip(tables, quoted))
    return f"{counts} CHECKSUM TABLE {', '.join(quoted)};"


def parse(text: str, kind: str = POSTGRES) -> Schema:
    """Rows of `kind<TAB>name<TAB>definition` (and MySQL's CHECKSUM TABLE rows) into a Schema."""
    schema = Schema()
    checksums: Dict[str, str] = {}
    counts: Dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split(SEPARATOR)
        if len(fields) == 2 and kind == MYSQL:  # CHECKSUM TABLE: `db.table<TAB>checksum`
            checksums[fields[0].split(".", 1)[-1]] = fields[1]
            continue
        if len(fields) < 3:
            continue
        what, name, definition = fields[0], fields[1], SEPARATOR.join(fields[2:])
        if what == "ledger":
            counts[name] = definition
        elif what == "table" and definition in _VIEW_KINDS:
            schema.objects.setdefault("view", {})[name] = definition
        elif what in KINDS:
            schema.objects.setdefault(what, {})[name] = definition
    for name, value in counts.items():
        schema.ledgers[name] = f"{value}:{checksums[name]}" if name in checksums else value
    return schema


@dataclass(frozen=True)
class Change:
    """What a run changed, by kind: (added, removed, altered) counts; ledger rows gained or lost."""

    objects: Tuple[Tuple[str, int, int, int], ...]
    migrations: int  # rows the ledgers gained (negative: lost, as a rollback does)
    ledger_changed: bool

    @property
    def changed(self) -> bool:
        return bool(self.objects) or self.ledger_changed


def compare(before: Schema, after: Schema) -> Change:
    rows = []
    for kind in KINDS:
        old, new = before.objects.get(kind, {}), after.objects.get(kind, {})
        added = len(new.keys() - old.keys())
        removed = len(old.keys() - new.keys())
        altered = sum(1 for name in new.keys() & old.keys() if new[name] != old[name])
        if added or removed or altered:
            rows.append((kind, added, removed, altered))
    gained = sum(_rows(after.ledgers.get(name, "0")) - _rows(before.ledgers.get(name, "0"))
                 for name in before.ledgers.keys() | after.ledgers.keys())
    return Change(tuple(rows), gained, before.ledgers != after.ledgers)


def _rows(value: str) -> int:
    count = value.split(":", 1)[0]
    return int(count) if count.isdigit() else 0


def describe(change: Change) -> str:
    """"+1 table, +2 columns, ~1 index; 1 migration recorded" — or "unchanged"."""
    if not change.changed:
        return "unchanged"
    parts = []
    for kind, added, removed, altered in change.objects:
        for sign, count in (("+", added), ("-", removed), ("~", altered)):
            if count:
                parts.append(f"{sign}{count} {noun(kind, count)}")
    text = ", ".join(parts) or "no schema object"
    if change.migrations > 0:
        text += f"; {change.migrations} {noun('migration', change.migrations)} recorded"
    elif change.migrations < 0:
        text += f"; {-change.migrations} {noun('migration', -change.migrations)} unrecorded"
    elif change.ledger_changed:
        text += "; migration records changed"
    return text


def noun(kind: str, count: int) -> str:
    return kind if count == 1 else PLURALS.get(kind, kind + "s")
