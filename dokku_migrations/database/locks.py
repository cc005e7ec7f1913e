"""Which lock a PostgreSQL statement takes on a table, and whether it rewrites it: the rules of
PostgreSQL 16's documentation, statement by statement.

Sources (PostgreSQL 16):
- ALTER TABLE, https://www.postgresql.org/docs/16/sql-altertable.html — "An ACCESS EXCLUSIVE lock
  is acquired unless explicitly noted. When multiple subcommands are given, the lock acquired will
  be the strictest one required by any subcommand." Noted lighter: SET STATISTICS, SET/RESET
  (attribute_option), CLUSTER ON, SET WITHOUT CLUSTER, VALIDATE CONSTRAINT and SET (fillfactor,
  toast and autovacuum storage parameters, parallel_workers): SHARE UPDATE EXCLUSIVE; ADD FOREIGN
  KEY: SHARE ROW EXCLUSIVE on the table and on the referenced table; ENABLE/DISABLE TRIGGER: SHARE
  ROW EXCLUSIVE; ATTACH PARTITION: SHARE UPDATE EXCLUSIVE on the parent; DETACH PARTITION
  CONCURRENTLY: SHARE UPDATE EXCLUSIVE. Notes: "Adding a column with a volatile DEFAULT or changing
  the type of an existing column will require the entire table and its indexes to be rewritten. As
  an exception, when changing the type of an existing column, if the USING clause does not change
  the column contents and the old type is either binary coercible to the new type or an
  unconstrained domain over the new type, a table rewrite is not needed"; "Adding a CHECK or NOT
  NULL constraint requires scanning the table to verify that existing rows meet the constraint, but
  does not require a table rewrite"; SET LOGGED/UNLOGGED, SET ACCESS METHOD and SET TABLESPACE
  write the table anew.
- CREATE INDEX, https://www.postgresql.org/docs/16/sql-createindex.html — a SHARE lock (writes
  blocked, reads allowed); CONCURRENTLY: SHARE UPDATE EXCLUSIVE. DROP INDEX (sql-dropindex.html):
  ACCESS EXCLUSIVE; CONCURRENTLY: SHARE UPDATE EXCLUSIVE.
- Explicit locking, https://www.postgresql.org/docs/16/explicit-locking.html (13.3.1, Table 13.2):
  the modes, their conflicts, and the commands that take them — ROW EXCLUSIVE for UPDATE, DELETE,
  INSERT, MERGE; SHARE UPDATE EXCLUSIVE for VACUUM, ANALYZE, CREATE INDEX CONCURRENTLY; SHARE ROW
  EXCLUSIVE for CREATE TRIGGER; ACCESS EXCLUSIVE for DROP TABLE, TRUNCATE, REINDEX's index, CLUSTER,
  VACUUM FULL, REFRESH MATERIALIZED VIEW, and LOCK TABLE without a mode; REINDEX TABLE: SHARE (its
  CONCURRENTLY: SHARE UPDATE EXCLUSIVE), sql-reindex.html.

Only tables that exist in production are reported (a table the migration creates blocks nobody),
and the migration tools' own ledgers are left out (their rows are the tool's bookkeeping). A plain
SELECT's ACCESS SHARE blocks only ACCESS EXCLUSIVE and is not reported.

Pure: statement text and the production tables in, lock rows out.
"""

import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from dokku_migrations.database.schema import is_ledger
from dokku_migrations.database.statements import Token, tokenize

ACCESS_SHARE, ROW_SHARE, ROW_EXCLUSIVE = "ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE"
SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE = "SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE"
EXCLUSIVE, ACCESS_EXCLUSIVE = "EXCLUSIVE", "ACCESS EXCLUSIVE"
MODES = (ACCESS_SHARE, ROW_SHARE, ROW_EXCLUSIVE, SHARE_UPDATE_EXCLUSIVE, SHARE, SHARE_ROW_EXCLUSIVE, EXCLUSIVE,
         ACCESS_EXCLUSIVE)  # weakest first
BLOCKS = {
    ACCESS_EXCLUSIVE: "blocks reads and writes",
    EXCLUSIVE: "blocks writes",
    SHARE_ROW_EXCLUSIVE: "blocks writes",
    SHARE: "blocks writes",
    SHARE_UPDATE_EXCLUSIVE: "blocks other schema changes and VACUUM, not reads or writes",
    ROW_EXCLUSIVE: "blocks only SHARE and stronger locks",
    ROW_SHARE: "blocks only EXCLUSIVE and ACCESS EXCLUSIVE locks",
    ACCESS_SHARE: "blocks only ACCESS EXCLUSIVE locks",
}
REWRITES = "rewrites the table and its indexes"
SCANS = "scans the whole table"
BUILDS = "builds an index: reads the whole table"
# Functions a DEFAULT may call that PostgreSQL marks volatile: a column defaulting to one is filled
# row by row (a rewrite). now(), CURRENT_TIMESTAMP and friends are stable: no rewrite.
VOLATILE = {"nextval", "random", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4",
            "clock_timestamp", "timeofday", "statement_timestamp", "txid_current", "setseed", "uuidv4", "uuidv7"}
SERIAL = {"serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"}
LIGHT_STORAGE = ("fillfactor", "autovacuum_", "toast.", "toast_tuple_target", "parallel_workers")
ALIASES = {"int": "integer", "int4": "integer", "int8": "bigint", "int2": "smallint", "float8": "double precision",
           "float4": "real", "bool": "boolean", "varchar": "character varying", "char": "character",
           "bpchar": "character", "timestamptz": "timestamp with time zone", "timestamp": "timestamp without time zone",
           "decimal": "numeric", "varbit": "bit varying"}


@dataclass(frozen=True)
class Lock:
    """What one statement does to one production table."""

    table: str
    mode: str
    rewrites: Optional[bool]  # None: cannot tell (a type change from a type not known)
    notes: Tuple[str, ...] = ()

    @property
    def effect(self) -> str:
        parts = list(self.notes)
        if self.rewrites is None:
            parts.insert(0, "may rewrite the table (unless the new type is binary-coercible)")
        return "; ".join(dict.fromkeys(parts))


@dataclass
class Tables:
    """The production schema as the rules need it: tables (schema.name) with their columns' types,
    and which table each index belongs to."""

    columns: Dict[str, Dict[str, str]] = field(default_factory=dict)
    indexes: Dict[str, str] = field(default_factory=dict)

    def find(self, name: Sequence[str]) -> Optional[str]:
        """A table named as a statement names it (schema-qualified or not) as it exists, else None."""
        return _resolve(name, self.columns)

    def index_table(self, name: Sequence[str]) -> Optional[str]:
        found = _resolve(name, self.indexes)
        return self.indexes[found] if found else None


def _resolve(name: Sequence[str], known: Iterable[str]) -> Optional[str]:
    names = set(known)
    if len(name) >= 2:
        qualified = f"{name[-2]}.{name[-1]}"
        return qualified if qualified in names else None
    if not name:
        return None
    if f"public.{name[0]}" in names:
        return f"public.{name[0]}"
    return next((known_name for known_name in sorted(names) if known_name.split(".", 1)[-1] == name[0]), None)


def strongest(modes: Iterable[str]) -> str:
    return max(modes, key=MODES.index)


class _Words:
    """A statement's tokens without spaces and comments; words upper-cased for matching, identifiers
    folded as PostgreSQL folds them."""

    def __init__(self, tokens: List[Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self, ahead: int = 0) -> str:
        index = self.at + ahead
        if index >= len(self.tokens):
            return ""
        token = self.tokens[index]
        return token.text.upper() if token.kind == "word" else token.text

    def take(self, *words: str) -> bool:
        """Consumes the words if they come next, in order."""
        if all(self.peek(offset) == word for offset, word in enumerate(words)):
            self.at += len(words)
            return True
        return False

    def skip(self, count: int = 1) -> None:
        self.at += count

    def name(self) -> List[str]:
        """A possibly qualified name: identifier(.identifier)*."""
        parts: List[str] = []
        while self.at < len(self.tokens):
            token = self.tokens[self.at]
            if token.kind == "word":
                parts.append(token.text.lower())
            elif token.kind == "quoted":
                parts.append(token.text[1:-1].replace('""', '"'))
            else:
                break
            self.at += 1
            if not self.take("."):
                break
        return parts

    def rest(self) -> List[Token]:
        return self.tokens[self.at:]

    @property
    def done(self) -> bool:
        return self.at >= len(self.tokens)


def locks(statement: str, tables: Tables) -> List[Lock]:
    """The locks `statement` takes on production tables (strongest first per table, one row each)."""
    words = _Words([token for token in tokenize(statement) if token.kind not in ("space", "comment")])
    found = _dispatch(words, tables)
    merged: Dict[str, Lock] = {}
    for lock in found:
        if lock.table is None or is_ledger(lock.table):
            continue
        old = merged.get(lock.table)
        if old is None:
            merged[lock.table] = lock
        else:
            rewrites = True if (old.rewrites or lock.rewrites) else (None if None in (old.rewrites, lock.rewrites)
                                                                     else False)
            merged[lock.table] = Lock(lock.table, strongest([old.mode, lock.mode]), rewrites, old.notes + lock.notes)
    return list(merged.values())


def _dispatch(words: _Words, tables: Tables) -> List[Lock]:
    if words.take("ALTER", "TABLE"):
        return _alter_table(words, tables)
    if words.take("CREATE", "UNIQUE", "INDEX") or words.take("CREATE", "INDEX"):
        return _create_index(words, tables)
    if words.take("DROP", "INDEX"):
        concurrently = words.take("CONCURRENTLY")
        words.take("IF", "EXISTS")
        return [Lock(table, SHARE_UPDATE_EXCLUSIVE if concurrently else ACCESS_EXCLUSIVE, False)
                for table in _names(words, tables.index_table)]
    if words.take("DROP", "TABLE"):
        words.take("IF", "EXISTS")
        return [Lock(table, ACCESS_EXCLUSIVE, False, ("drops the table",)) for table in _names(words, tables.find)]
    if words.take("TRUNCATE"):
        words.take("TABLE")
        words.take("ONLY")
        return [Lock(table, ACCESS_EXCLUSIVE, False, ("empties the table",)) for table in _names(words, tables.find)]
    if words.take("CREATE", "OR", "REPLACE", "TRIGGER") or words.take("CREATE", "TRIGGER") or \
            words.take("CREATE", "CONSTRAINT", "TRIGGER"):
        return [Lock(table, SHARE_ROW_EXCLUSIVE, False) for table in _after(words, "ON", tables)]
    if words.take("DROP", "TRIGGER"):
        return [Lock(table, ACCESS_EXCLUSIVE, False) for table in _after(words, "ON", tables)]
    if words.take("REINDEX"):
        return _reindex(words, tables)
    if words.take("VACUUM") or words.take("ANALYZE") or words.take("ANALYSE"):
        return _vacuum(words, tables)
    if words.take("CLUSTER"):
        words.take("VERBOSE")
        return [Lock(table, ACCESS_EXCLUSIVE, True, (REWRITES,)) for table in _names(words, tables.find)[:1]]
    if words.take("LOCK"):
        return _lock(words, tables)
    if words.take("REFRESH", "MATERIALIZED", "VIEW"):
        mode = EXCLUSIVE if words.take("CONCURRENTLY") else ACCESS_EXCLUSIVE
        return [Lock(table, mode, False) for table in _names(words, tables.find)[:1]]
    if words.take("CREATE"):
        return _create_table(words, tables)
    return _dml(words, tables)


def _names(words: _Words, find) -> List[str]:
    """A comma-separated list of names, as production knows them (unknown ones dropped)."""
    found: List[str] = []
    while not words.done:
        words.take("ONLY")
        name = words.name()
        if not name:
            break
        table = find(name)
        if table:
            found.append(table)
        words.take("*")
        if not words.take(","):
            break
    return found


def _after(words: _Words, keyword: str, tables: Tables) -> List[str]:
    while not words.done and not words.take(keyword):
        words.skip()
    words.take("ONLY")
    table = tables.find(words.name())
    return [table] if table else []


def _actions(tokens: List[Token]) -> List[List[Token]]:
    """An ALTER TABLE's subcommands, split at the commas outside parentheses."""
    actions: List[List[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.kind == "punct" and token.text == "(":
            depth += 1
        elif token.kind == "punct" and token.text == ")":
            depth -= 1
        elif token.kind == "punct" and token.text == "," and depth == 0:
            actions.append([])
            continue
        actions[-1].append(token)
    return [action for action in actions if action]


def _alter_table(words: _Words, tables: Tables) -> List[Lock]:
    if words.take("ALL", "IN", "TABLESPACE"):
        return []
    words.take("IF", "EXISTS")
    words.take("ONLY")
    table = tables.find(words.name())
    words.take("*")
    if table is None:
        return []
    found: List[Lock] = []
    for action in _actions(words.rest()):
        found += _action(_Words(action), table, tables)
    return found


def _action(words: _Words, table: str, tables: Tables) -> List[Lock]:
    """One ALTER TABLE subcommand; ACCESS EXCLUSIVE unless the documentation notes otherwise."""
    if words.take("ADD"):
        if words.peek() in ("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "EXCLUDE"):
            return _add_constraint(words, table, tables)
        words.take("COLUMN")
        words.take("IF", "NOT", "EXISTS")
        return _add_column(words, table, tables)
    if words.take("VALIDATE", "CONSTRAINT"):
        return [Lock(table, SHARE_UPDATE_EXCLUSIVE, False, (SCANS,))]
    if words.peek() in ("ENABLE", "DISABLE") and (words.peek(1) == "TRIGGER" or words.peek(2) == "TRIGGER"):
        return [Lock(table, SHARE_ROW_EXCLUSIVE, False)]
    if words.take("CLUSTER", "ON") or words.take("SET", "WITHOUT", "CLUSTER"):
        return [Lock(table, SHARE_UPDATE_EXCLUSIVE, False)]
    if words.take("SET", "LOGGED") or words.take("SET", "UNLOGGED") or words.take("SET", "ACCESS", "METHOD") or \
            words.take("SET", "TABLESPACE"):
        return [Lock(table, ACCESS_EXCLUSIVE, True, (REWRITES,))]
    if words.take("SET", "(") or words.take("RESET", "("):
        parameters = [token.text.lower() for token in words.rest() if token.kind in ("word", "quoted")]
        light = all(any(name.startswith(prefix) for prefix in LIGHT_STORAGE) for name in parameters
                    if name not in ("true", "false", "on", "off"))
        return [Lock(table, SHARE_UPDATE_EXCLUSIVE if light else ACCESS_EXCLUSIVE, False)]
    if words.take("ATTACH", "PARTITION"):
        partition = tables.find(words.name())
        checked = [Lock(partition, ACCESS_EXCLUSIVE, False, ("scans the partition to check its bounds",))] \
            if partition else []
        return [Lock(table, SHARE_UPDATE_EXCLUSIVE, False)] + checked
    if words.take("DETACH", "PARTITION"):
        words.name()
        concurrently = words.take("CONCURRENTLY")
        return [Lock(table, SHARE_UPDATE_EXCLUSIVE if concurrently else ACCESS_EXCLUSIVE, False)]
    if words.take("ALTER"):
        words.take("COLUMN")
        column = words.name()
        return _alter_column(words, table, column[0] if column else "", tables)
    return [Lock(table, ACCESS_EXCLUSIVE, False)]


def _alter_column(words: _Words, table: str, column: str, tables: Tables) -> List[Lock]:
    if words.take("SET", "STATISTICS") or words.take("SET", "(") or words.take("RESET", "("):
        return [Lock(table, SHARE_UPDATE_EXCLUSIVE, False)]
    if words.take("SET", "NOT", "NULL"):
        return [Lock(table, ACCESS_EXCLUSIVE, False, (SCANS,))]
    if words.take("SET", "DATA", "TYPE") or words.take("TYPE"):
        rest = words.rest()
        using = any(token.kind == "word" and token.text.upper() == "USING" for token in rest)
        new_type = _type_text([token for token in rest if not (token.kind == "word" and token.text.upper()
                                                               in ("COLLATE", "USING"))][:6])
        old_type = tables.columns.get(table, {}).get(column, "")
        rewrites = True if using else _type_change_rewrites(old_type, new_type)
        return [Lock(table, ACCESS_EXCLUSIVE, rewrites, (REWRITES,) if rewrites else ())]
    return [Lock(table, ACCESS_EXCLUSIVE, False)]


def _add_column(words: _Words, table: str, tables: Tables) -> List[Lock]:
    words.name()  # the column
    rest = words.rest()
    upper = [token.text.upper() if token.kind == "word" else token.text for token in rest]
    found: List[Lock] = []
    rewrites = bool(upper) and upper[0].lower() in SERIAL
    if "DEFAULT" in upper:
        default = upper[upper.index("DEFAULT") + 1:]
        rewrites = rewrites or any(word.lower() in VOLATILE for word in default)
    if "GENERATED" in upper and ("STORED" in upper or "IDENTITY" in upper):
        rewrites = True
    notes = [REWRITES] if rewrites else []
    if "PRIMARY" in upper or "UNIQUE" in upper:
        notes.append(BUILDS)
    if "REFERENCES" in upper:
        referenced = _Words(rest[upper.index("REFERENCES") + 1:]).name()
        other = tables.find(referenced)
        if other and other != table:
            found.append(Lock(other, SHARE_ROW_EXCLUSIVE, False, ("referenced by a new foreign key",)))
    return [Lock(table, ACCESS_EXCLUSIVE, rewrites, tuple(notes))] + found


def _add_constraint(words: _Words, table: str, tables: Tables) -> List[Lock]:
    if words.take("CONSTRAINT"):
        words.name()
    rest = words.rest()
    upper = [token.text.upper() if token.kind == "word" else token.text for token in rest]
    valid = not (len(upper) >= 2 and upper[-2:] == ["NOT", "VALID"])
    if upper and upper[0] == "FOREIGN":
        other = tables.find(_Words(rest[upper.index("REFERENCES") + 1:]).name()) if "REFERENCES" in upper else None
        notes = (SCANS,) if valid else ()
        return [Lock(table, SHARE_ROW_EXCLUSIVE, False, notes)] + (
            [Lock(other, SHARE_ROW_EXCLUSIVE, False, ("referenced by a new foreign key",))]
            if other and other != table else [])
    if upper and upper[0] == "CHECK":
        return [Lock(table, ACCESS_EXCLUSIVE, False, (SCANS,) if valid else ())]
    if "USING" in upper and "INDEX" in upper:
        return [Lock(table, ACCESS_EXCLUSIVE, False)]
    return [Lock(table, ACCESS_EXCLUSIVE, False, (BUILDS,))]


def _create_index(words: _Words, tables: Tables) -> List[Lock]:
    concurrently = words.take("CONCURRENTLY")
    while not words.done and not words.take("ON"):
        words.skip()
    words.take("ONLY")
    table = tables.find(words.name())
    if table is None:
        return []
    if concurrently:
        return [Lock(table, SHARE_UPDATE_EXCLUSIVE, False, ("builds an index without blocking writes (reads the "
                                                            "whole table twice)",))]
    return [Lock(table, SHARE, False, (BUILDS,))]


def _reindex(words: _Words, tables: Tables) -> List[Lock]:
    if words.take("("):
        while not words.done and not words.take(")"):
            words.skip()
    what = words.peek()
    words.skip()
    concurrently = words.take("CONCURRENTLY")
    name = words.name()
    table = tables.index_table(name) if what == "INDEX" else tables.find(name) if what == "TABLE" else None
    if table is None:
        return []
    return [Lock(table, SHARE_UPDATE_EXCLUSIVE if concurrently else SHARE, False, ("rebuilds indexes",))]


def _vacuum(words: _Words, tables: Tables) -> List[Lock]:
    full = False
    while words.peek() in ("FULL", "FREEZE", "VERBOSE", "ANALYZE", "ANALYSE", "("):
        if words.peek() == "(":
            while not words.done and not words.take(")"):
                full = full or words.peek() == "FULL"
                words.skip()
            continue
        full = full or words.peek() == "FULL"
        words.skip()
    found = _names(words, tables.find)
    if full:
        return [Lock(table, ACCESS_EXCLUSIVE, True, (REWRITES,)) for table in found]
    return [Lock(table, SHARE_UPDATE_EXCLUSIVE, False) for table in found]


def _lock(words: _Words, tables: Tables) -> List[Lock]:
    words.take("TABLE")
    found = _names(words, tables.find)
    mode = ACCESS_EXCLUSIVE
    if words.take("IN"):
        spoken = []
        while not words.done and words.peek() != "MODE":
            spoken.append(words.peek())
            words.skip()
        mode = " ".join(spoken) if " ".join(spoken) in MODES else ACCESS_EXCLUSIVE
    return [Lock(table, mode, False) for table in found]


def _create_table(words: _Words, tables: Tables) -> List[Lock]:
    """A new table is nobody's yet, but a foreign key of it takes SHARE ROW EXCLUSIVE on the table it references."""
    rest = words.rest()
    upper = [token.text.upper() if token.kind == "word" else token.text for token in rest]
    if "TABLE" not in upper[:6]:
        return []
    found: List[Lock] = []
    for at, word in enumerate(upper):
        if word == "REFERENCES":
            other = tables.find(_Words(rest[at + 1:]).name())
            if other:
                found.append(Lock(other, SHARE_ROW_EXCLUSIVE, False, ("referenced by a new foreign key",)))
    return found


def _dml(words: _Words, tables: Tables) -> List[Lock]:
    if words.peek() == "WITH":
        return []  # a CTE: what it writes is not worth a guess
    if words.take("INSERT", "INTO") or words.take("MERGE", "INTO") or words.take("DELETE", "FROM") or \
            words.take("UPDATE") or words.take("COPY"):
        words.take("ONLY")
        table = tables.find(words.name())
        if table and not (words.peek() == "TO" or (words.peek() == "(" and "TO" in _upper(words.rest()))):
            return [Lock(table, ROW_EXCLUSIVE, False, ("writes rows",))]
    return []


def _upper(tokens: List[Token]) -> List[str]:
    return [token.text.upper() for token in tokens if token.kind == "word"]


def _type_text(tokens: List[Token]) -> str:
    text = ""
    for token in tokens:
        if token.kind == "punct" and token.text not in ("(", ")", ","):
            break
        text += token.text.lower() if token.kind != "punct" else token.text
        text += " " if token.kind in ("word", "quoted") else ""
    return re.sub(r"\s+", " ", text.replace(" (", "(")).strip()


def _normal(type_text: str) -> Tuple[str, Tuple[int, ...]]:
    """("character varying", (100,)) from "varchar(100)" or "character varying(100)"."""
    match = re.fullmatch(r"([a-z_ ]+?)\s*(?:\(([0-9, ]+)\))?(\s*\[\])?", type_text.strip().lower())
    if not match:
        return type_text.strip().lower(), ()
    base = match.group(1).strip()
    base = ALIASES.get(base, base)
    arguments = tuple(int(part) for part in (match.group(2) or "").split(",") if part.strip())
    return base + (match.group(3) or "").strip(), arguments


def _type_change_rewrites(old: str, new: str) -> Optional[bool]:
    """False where the documentation's exception applies (binary-coercible, no USING), True where it
    does not, None when the old type is not known."""
    if not old or not new:
        return None
    (old_base, old_args), (new_base, new_args) = _normal(old), _normal(new)
    if (old_base, old_args) == (new_base, new_args):
        return False
    text_like = ("character varying", "text")
    if old_base in text_like and new_base in text_like:
        if new_base == "text" or not new_args:
            return False
        return not (old_base == "character varying" and old_args and new_args[0] >= old_args[0])
    if old_base == new_base and old_base in ("numeric", "bit varying"):
        if not new_args:
            return False
        same_scale = old_args[1:] == new_args[1:] or old_base == "bit varying"
        return not (old_args and same_scale and new_args[0] >= old_args[0])
    return (old_base, new_base) != ("cidr", "inet")
