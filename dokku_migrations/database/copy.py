"""The production schema, copied into a throwaway server: dumped by a client container of the
database's own image that reaches production exactly as the migration does (client.networking),
restored with the throwaway server's own client.

PostgreSQL: `pg_dump --schema-only --no-owner --no-privileges`; MySQL/MariaDB: `mariadb-dump` or
`mysqldump --no-data`. Schema only, but for the rows of the migration tools' ledgers (which migrations
production has: without them every tool would start from its first one); no other row is read, none
is ever printed, and the copy is as quick as the catalog is small. The connection's values reach
the dump client on its stdin (never on an argv or in the container's configuration); the dump
travels through the plugin's memory, never to disk.
"""

import secrets
from typing import Any, Callable, Dict

from dokku_migrations.common.errors import UserError
from dokku_migrations.database.client import networking
from dokku_migrations.database.schema import LEDGER_ROWS_MAX, LEDGERS
from dokku_migrations.database.server import Throwaway, last_words
from dokku_migrations.database.url import POSTGRES, Target, environment
from dokku_migrations.docker import labels
from dokku_migrations.docker.client import Docker

LIMIT = 256 * 1024 * 1024  # a schema of this size is not a schema
_NAMES = ", ".join(f"'{name}'" for name in LEDGERS)
# The migration tools' ledgers (schema.is_ledger), whose rows say which migrations production has: without
# them every tool would start from its first migration. Never a big table that merely has the word in its name.
PG_LEDGERS = ("SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n "
              "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', "
              f"'information_schema') AND (c.relname ILIKE '%migration%' OR lower(c.relname) IN ({_NAMES})) "
              f"AND c.reltuples < {LEDGER_ROWS_MAX}")
MYSQL_LEDGERS = ("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND "
                 f"TABLE_TYPE = 'BASE TABLE' AND (TABLE_NAME LIKE '%migration%' OR LOWER(TABLE_NAME) IN ({_NAMES})) "
                 f"AND IFNULL(TABLE_ROWS, 0) < {LEDGER_ROWS_MAX}")
# Reads the connection's variables, dumps the schema, then the ledgers' rows, and says how it ended
# on stderr. --lock-wait-timeout: pg_dump's ACCESS SHARE locks never queue behind a production ALTER
# for long.
SCRIPT = r"""
while IFS= read -r line && [ -n "$line" ]; do export "$line"; done
marker=$2 pg_ledgers=$3 mysql_ledgers=$4 nl='
'
if [ "$1" = postgres ]; then
  if ! command -v pg_dump >/dev/null; then echo "@@$marker 127 pg_dump" >&2; exit 0; fi
  pg_dump --schema-only --no-owner --no-privileges --lock-wait-timeout=10000; code=$?
  if [ $code = 0 ]; then
    ledgers=$(psql -X -A -t -v ON_ERROR_STOP=1 -c "$pg_ledgers"); code=$?
    set --
    IFS=$nl; for table in $ledgers; do set -- "$@" --table="$table"; done; unset IFS
    if [ $code = 0 ] && [ $# -gt 0 ]; then
      pg_dump --data-only --no-owner --no-privileges --lock-wait-timeout=10000 "$@"; code=$?
    fi
  fi
else
  dump=$(command -v mariadb-dump || command -v mysqldump)
  client=$(command -v mariadb || command -v mysql)
  if [ -z "$dump" ] || [ -z "$client" ]; then echo "@@$marker 127 mariadb-dump or mysqldump" >&2; exit 0; fi
  set -- --protocol=TCP -h "$MYSQL_HOST" -P "$MYSQL_TCP_PORT" -u "$MYSQL_USER"
  "$dump" --no-data --single-transaction --skip-lock-tables --routines --triggers --skip-comments \
    --no-tablespaces "$@" "$MYSQL_DATABASE"; code=$?
  if [ $code = 0 ]; then
    ledgers=$("$client" -N -B "$@" -D "$MYSQL_DATABASE" -e "$mysql_ledgers"); code=$?
    if [ $code = 0 ] && [ -n "$ledgers" ]; then
      IFS=$nl; set -- "$@" "$MYSQL_DATABASE" $ledgers; unset IFS
      "$dump" --no-create-info --skip-triggers --single-transaction --skip-lock-tables --skip-comments \
        --no-tablespaces "$@"; code=$?
    fi
  fi
fi
echo "@@$marker $code" >&2
"""


class NoDumpTool(UserError):
    """The database's image has no dump client."""


def dump(docker: Docker, app: str, target: Target, image: str, migration: Dict[str, Any], label: Dict[str, str],
         seconds: float, check: Callable[[], None]) -> bytes:
    """The production schema as SQL, read through a client container on the migration's networking."""
    host_config, others, _ = networking(migration)
    host_config.update({"AutoRemove": True, "Memory": 512 * 1024 * 1024})
    marker = "dm-" + secrets.token_hex(8)
    body = {"Image": image, "Entrypoint": ["/bin/sh", "-c", SCRIPT, "dokku-migrations-dump"],
            "Cmd": [target.kind, marker, PG_LEDGERS, MYSQL_LEDGERS], "User": "", "WorkingDir": "/",
            "Labels": {labels.DATABASE: app, **label}, "OpenStdin": True, "StdinOnce": True, "AttachStdin": True,
            "AttachStdout": True, "AttachStderr": True, "Tty": False, "HostConfig": host_config}
    values = environment(target) or {}
    stdin = "".join(f"{name}={value}\n" for name, value in values.items()).encode("utf-8") + b"\n"
    out, err = docker.run_client(body, others, stdin, seconds, check, LIMIT,
                                 f"copying the schema of {target.shown}")
    said = err.decode("utf-8", "replace")
    end = said.rfind(f"@@{marker} ")
    if end < 0:
        raise UserError(f"The schema dump of {target.shown} ended without a word: {last_words(said)}")
    code, _, missing = said[end + len(marker) + 3:].strip().partition(" ")
    if code == "127" and missing:
        raise NoDumpTool(f"{image} has no {missing}, so the schema of {target.shown} cannot be copied")
    if code != "0":
        raise UserError(f"{target.shown} did not answer the dump: {last_words(said[:end]) or f'exit {code}'}")
    return out


def restore(server: Throwaway, schema: bytes, seconds: float) -> None:
    """The dump, replayed into the throwaway server's database as the app's role (objects owned by
    it, as they are in production by the role the app connects as)."""
    text = schema.decode("utf-8", "replace")
    code, out, err = server.sql(text, user=server.user if server.kind.family == POSTGRES else "",
                                seconds=seconds)
    if code != 0:
        raise UserError(f"Could not restore the schema into the throwaway {server.kind.title}: "
                        f"{last_words(err or out)}")


def counted_tables(schema: bytes) -> int:
    """How many tables the dump creates (for the report: never their names or content)."""
    return sum(schema.count(b"\n" + word) + schema.startswith(word)
               for word in (b"CREATE TABLE ", b"CREATE UNLOGGED TABLE "))
