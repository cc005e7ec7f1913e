"""Which database an app's URL names, parsed without ever printing or storing its password.

Dokku's database plugins give `postgres://user:pw@dokku-postgres-<svc>:5432/<db>` and
`mysql://user:pw@dokku-mysql-<svc>:3306/<db>` (dokku-mariadb gives `mysql://` too); frameworks add
their own schemes for the same servers (`postgresql`, `mysql2`, `mariadb`, `postgis`).
"""

from dataclasses import dataclass
from typing import Dict, Optional, Union
from urllib.parse import parse_qsl, unquote, urlsplit

POSTGRES = "postgres"
MYSQL = "mysql"
SCHEMES = {
    "postgres": POSTGRES, "postgresql": POSTGRES, "postgis": POSTGRES, "pgsql": POSTGRES,
    "mysql": MYSQL, "mysql2": MYSQL, "mariadb": MYSQL, "mysqli": MYSQL,
}
DEFAULT_PORTS = {POSTGRES: 5432, MYSQL: 3306}
# libpq's URL parameters that matter for reaching the server, as the environment variables psql reads.
PG_PARAMETERS = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "options": "PGOPTIONS",
                 "application_name": "PGAPPNAME", "target_session_attrs": "PGTARGETSESSIONATTRS"}


@dataclass(frozen=True)
class Target:
    """A database server and database, as a client needs them (the password kept out of repr)."""

    kind: str
    host: str
    port: int
    user: str
    database: str
    password: str = ""
    parameters: tuple = ()  # (name, value) pairs of the URL's query, libpq's for PostgreSQL

    def __repr__(self) -> str:
        return f"Target({self.kind}://{self.user}@{self.host}:{self.port}/{self.database})"

    @property
    def shown(self) -> str:
        """What may be printed: never the password, never the query (it may carry one)."""
        return f"{self.kind} database {self.database or '(default)'} on {self.host}:{self.port}"


@dataclass(frozen=True)
class Unsupported:
    """Why a URL cannot be observed: said once, and the run goes on."""

    reason: str


def parse(url: str, key: str = "DATABASE_URL") -> Union[Target, Unsupported]:
    """A Target, or why not: no URL, an unknown scheme, a socket path, a value that is not one line."""
    if not url:
        return Unsupported(f"the app has no {key}")
    if any(char in url for char in "\0\n\r"):
        return Unsupported(f"{key} is not one line")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return Unsupported(f"{key} is not a URL the plugin can read")
    kind = SCHEMES.get(parts.scheme.lower())
    if kind is None:
        shown = parts.scheme or "(none)"
        return Unsupported(f"{key} has the scheme '{shown}', and only PostgreSQL and MySQL/MariaDB URLs are observed")
    host = unquote(parts.hostname or "")
    if not host:
        return Unsupported(f"{key} names no host (a local socket cannot be reached from a container)")
    fields = [unquote(parts.username or ""), unquote(parts.password or ""), unquote(parts.path.lstrip("/"))]
    if any(char in field for field in fields for char in "\0\n\r"):
        return Unsupported(f"{key} holds a control character")
    user, password, database = fields
    query: Dict[str, str] = dict(parse_qsl(parts.query))
    kept = tuple(sorted((name, value) for name, value in query.items() if name in PG_PARAMETERS)) \
        if kind == POSTGRES else ()
    return Target(kind=kind, host=host, port=port or DEFAULT_PORTS[kind], user=user or default_user(kind),
                  database=database, password=password, parameters=kept)


def default_user(kind: str) -> str:
    return "postgres" if kind == POSTGRES else "root"


def environment(target: Target) -> Optional[Dict[str, str]]:
    """The variables a client reads to connect (libpq's PG*, MySQL's MYSQL_PWD) — what the client
    container receives over its stdin, so no value is ever on an argv or in a container's config."""
    if target.kind == POSTGRES:
        env = {"PGHOST": target.host, "PGPORT": str(target.port), "PGUSER": target.user,
               "PGPASSWORD": target.password, "PGDATABASE": target.database or target.user}
        for name, value in target.parameters:
            env[PG_PARAMETERS[name]] = value
        return env
    return {"MYSQL_HOST": target.host, "MYSQL_TCP_PORT": str(target.port), "MYSQL_USER": target.user,
            "MYSQL_PWD": target.password, "MYSQL_DATABASE": target.database}
