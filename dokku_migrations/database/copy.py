"""The production schema, copied into a throwaway server: dumped by a client container of the
database's own image that reaches production exactly as the migration does (client.networking),
restored with the throwaway server's own client.

PostgreSQL: `pg_dump --schema-only --no-owner --no-privileges`; MySQL/MariaDB: `mariadb-dump` or
`mysqldump --no-data`. Schema only: no row is read, so none can be printed, and the copy is as quick
as the catalog is small. The connection's values reach the dump client on its stdin (never on an
argv or in the container's configuration); the dump travels through the plugin's memory, never
to disk.
"""

import secrets
from typing import Any, Callable, Dict

from dokku_migrations.common.errors import UserError
from dokku_migrations.database.client import networking
from dokku_migrations.database.server import Throwaway, last_words
from dokku_migrations.database.url import POSTGRES, Target, environment
from dokku_migrations.docker import labels
from dokku_migrations.docker.client import Docker

LIMIT = 256 * 1024 * 1024  # a schema of this size is not a schema
# Reads the connection's variables, runs the dump with them, then says how it ended on stderr.
# --lock-wait-timeout: pg_dump's ACCESS SHARE locks never queue behind a production ALTER for long.
SCRIPT = r"""
while IFS= read -r line && [ -n "$line" ]; do export "$line"; done
if [ "$1" = postgres ]; then
  if ! command -v pg_dump >/dev/null; then echo "@@$2 127 pg_dump" >&2; exit 0; fi
  pg_dump --schema-only --no-owner --no-privileges --lock-wait-timeout=10000; code=$?
else
  dump=$(command -v mariadb-dump || command -v mysqldump)
  if [ -z "$dump" ]; then echo "@@$2 127 mariadb-dump or mysqldump" >&2; exit 0; fi
  "$dump" --no-data --single-transaction --skip-lock-tables --routines --triggers --skip-comments \
    --no-tablespaces --protocol=TCP -h "$MYSQL_HOST" -P "$MYSQL_TCP_PORT" -u "$MYSQL_USER" "$MYSQL_DATABASE"
  code=$?
fi
echo "@@$2 $code" >&2
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
            "Cmd": [target.kind, marker], "User": "", "WorkingDir": "/",
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
        raise UserError(f"Could not copy the schema of {target.shown}: {last_words(said[:end]) or f'exit {code}'}")
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
