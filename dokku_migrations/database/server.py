"""Throwaway database servers: PostgreSQL, MySQL or MariaDB in a container of their own on a private
network, started, checked until they take connections, asked things through `docker exec`, and
removed with everything else carrying their label. `try` migrates against one; a pre-flight copies
the production schema into one first.

Every name comes from one random id, and everything started carries the caller's label, so a
removal finds it even when an interrupt arrived halfway through a Docker call. Passwords are made
here, travel in the Engine API's request bodies (container and exec environments), and are never
on an argv or on disk.
"""

import secrets
import time
from dataclasses import dataclass
from typing import Dict, List, Mapping, Sequence, Tuple

from dokku_migrations.common import interrupts
from dokku_migrations.common.errors import Interrupted, UserError
from dokku_migrations.database import url as urls
from dokku_migrations.docker.client import Docker


@dataclass(frozen=True)
class Kind:
    """One database type: its official image, how its container is configured and checked, and the
    DATABASE_URL an app gets for it. User and database names follow Dokku's own database plugins."""

    name: str
    title: str
    variable: str  # Dokku's plugin for it reads <variable>_DATABASE_SCHEME from the app's config
    repository: str
    default_version: str
    port: int
    scheme: str
    user: str
    database: str
    clients: Tuple[str, ...]  # the CLI clients its images ship, the first found runs the readiness check
    family: str  # url.POSTGRES or url.MYSQL: how a client speaks to it

    def container_env(self, password: str, root_password: str, user: str = "", database: str = "") -> Dict[str, str]:
        """The variables the official image initialises itself from (MariaDB's image takes MYSQL_* too,
        old tags only those). PostgreSQL's bootstrap superuser stays `postgres`: other roles are
        created over SQL (the test image, like some others, knows no POSTGRES_USER)."""
        if self.family == urls.POSTGRES:
            return {"POSTGRES_PASSWORD": password}
        user, database = user or self.user, database or self.database
        env = {"MYSQL_ROOT_PASSWORD": root_password, "MYSQL_DATABASE": database}
        if user != "root":
            env.update({"MYSQL_USER": user, "MYSQL_PASSWORD": password})
        return env

    def readiness(self, password: str, user: str = "", database: str = "") -> Tuple[List[str], Dict[str, str]]:
        """(argv, env) of the check run inside the database container; exit 0 means ready.

        MySQL's and MariaDB's images run a socket-only server while they initialise, then restart it:
        only a query over TCP proves the final server takes connections (as the app's user, in the
        app's database). The password goes in the exec's environment (MYSQL_PWD), not on argv."""
        if self.family == urls.POSTGRES:
            return ["pg_isready", "-q", "-h", "127.0.0.1", "-U", "postgres"], {}
        user, database = user or self.user, database or self.database
        find = " || ".join(f"command -v {client}" for client in self.clients)
        missing = f"no {' or '.join(self.clients)} client in the image"
        script = (f'client="$({find})" || {{ echo "{missing}" >&2; exit 127; }}; '
                  f'exec "$client" --protocol=tcp -h 127.0.0.1 -P {self.port} -u "$1" -D "$2" '
                  "--batch --skip-column-names -e 'SELECT 1'")
        return ["sh", "-c", script, "ready", user, database], {"MYSQL_PWD": password}

    @property
    def scheme_key(self) -> str:
        return f"{self.variable}_DATABASE_SCHEME"


# Default versions: PostgreSQL's as before; MySQL's and MariaDB's long-term releases. MariaDB 11 images have
# no `mysql` client, MySQL's no `mariadb`.
POSTGRES = Kind(name="postgres", title="PostgreSQL", variable="POSTGRES", repository="postgres", default_version="16",
                port=5432, scheme="postgres", user="postgres", database="postgres", clients=("pg_isready",),
                family=urls.POSTGRES)
MYSQL = Kind(name="mysql", title="MySQL", variable="MYSQL", repository="mysql", default_version="8.4",
             port=3306, scheme="mysql", user="mysql", database="app", clients=("mysql", "mariadb"), family=urls.MYSQL)
MARIADB = Kind(name="mariadb", title="MariaDB", variable="MARIADB", repository="mariadb", default_version="11.4",
               port=3306, scheme="mysql", user="mariadb", database="app", clients=("mariadb", "mysql"),
               family=urls.MYSQL)
KINDS: Dict[str, Kind] = {"postgres": POSTGRES, "postgresql": POSTGRES, "mysql": MYSQL, "mariadb": MARIADB}
SUPPORTED = "postgres (or postgresql), mysql and mariadb"
# PostgreSQL's statement log: a CSV file in the data directory that the plugin reads back with
# pg_read_file (log_destination=csvlog appends .csv). A throwaway server needs no durability.
PG_LOG_FILE = "log/dm-statements.csv"
MYSQL_QUIET = "SET SESSION sql_log_off = 1"  # the plugin's own sessions stay out of the general log
PG_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "logging_collector=on",
               "log_destination=csvlog", "log_directory=log", "log_filename=dm-statements",
               "log_rotation_age=0", "log_rotation_size=0")


class Throwaway:
    """One throwaway server: its network, its container, its credentials."""

    def __init__(self, docker: Docker, kind: Kind, image: str, name: str, label: str,
                 more_labels: Mapping[str, str] = {}, user: str = "", database: str = "", internal: bool = False,
                 aliases: Sequence[str] = ()) -> None:
        """`name` names the network, and the container after it; `label` ("key=value") is on
        everything started and finds it again; `more_labels` go on the container too."""
        self.docker = docker
        self.kind = kind
        self.image = image
        self.label = label
        self.more_labels = dict(more_labels)
        self.network = name
        self.container = f"{name}-{kind.name}"
        self.user = user or kind.user
        self.database = database or (self.user if kind.family == urls.POSTGRES and user else kind.database)
        self.password = secrets.token_hex(16)
        self.root_password = secrets.token_hex(16)
        self.internal = internal
        self.aliases = list(dict.fromkeys(["db", kind.name, *aliases]))
        self.started_network = False

    def start(self, wait: float, logged: bool = False) -> float:
        """Creates the network and the server, waits until it takes connections; returns the seconds
        that took. `logged`: PostgreSQL writes the statements it is told to log where `capture`
        reads them (MySQL/MariaDB switch their general log on at run time)."""
        started = time.monotonic()
        self.launch(logged)
        self.ready(wait)
        return time.monotonic() - started

    def launch(self, logged: bool = False) -> None:
        """The network and the server, started; it initialises itself meanwhile (`ready` waits)."""
        self.started_network = True
        self.docker.create_network(self.network, self.label, internal=self.internal, more_labels=self.more_labels)
        env = self.kind.container_env(self.password, self.root_password, self.user, self.database)
        command: List[str] = []
        if logged and self.kind.family == urls.POSTGRES:
            command = ["postgres"] + [word for setting in PG_SETTINGS for word in ("-c", setting)]
        self.docker.run_service(self.container, self.image, env, self.label, self.network, self.aliases,
                                f"starting {self.kind.title}", command=command, more_labels=self.more_labels)
        interrupts.check()

    def ready(self, wait: float) -> None:
        """Waits until the server takes connections; PostgreSQL then gets the app's role and database."""
        self.wait_until_ready(wait)
        if self.kind.family == urls.POSTGRES and (self.user != "postgres" or self.database != "postgres"):
            self.prepare_postgres()

    def wait_until_ready(self, wait: float) -> None:
        title, image = self.kind.title, self.image
        argv, env = self.kind.readiness(self.password, self.user, self.database)
        started = time.monotonic()
        deadline = started + wait
        while True:
            interrupts.check()
            code, answer = self.docker.exec_status(self.container, argv, env)
            if code == 0:
                return
            running, exit_code = self.docker.state(self.container) or (False, -1)
            if not running:
                last = self.docker.last_log_line(self.container)
                raise UserError(f"{title} ({image}) stopped before it was ready (exit code {exit_code}): "
                                f"{last or f'is it a {title} image?'}")
            if code == 127 or "executable file not found" in answer:
                raise NotADatabase(f"{image} has no {' or '.join(self.kind.clients)}: is it a {title} image?")
            if time.monotonic() >= deadline:
                last = self.docker.last_log_line(self.container)
                said = "; ".join(([f"last log line: {last}"] if last else []) +
                                 ([f"last check: {answer.splitlines()[-1]}"] if answer else []))
                raise NotReady(f"{title} ({image}) was not ready after {wait:g}s{f' ({said})' if said else ''}")
            time.sleep(0.2)

    def prepare_postgres(self) -> None:
        """The app's role (a superuser here, so the copy restores and migrates as it does) and its database."""
        role, database = quote_ident(self.user), quote_ident(self.database)
        sql = ""
        if self.user != "postgres":
            sql += f"CREATE ROLE {role} SUPERUSER LOGIN PASSWORD '{self.password}';\n"
        if self.database != "postgres":
            sql += f"CREATE DATABASE {database} OWNER {role};\n"
        code, out, err = self.sql(sql, user="postgres", database="postgres")
        if code != 0:
            raise UserError(f"Could not prepare the throwaway {self.kind.title}: {last_words(err or out)}")

    def sql(self, text: str, user: str = "", database: str = "", quiet_log: bool = True,
            seconds: float = 120) -> Tuple[int, str, str]:
        """Runs SQL in the server's container with its own client, over TCP as `user` (default: the
        app's role; MySQL/MariaDB: root); (exit code, stdout, stderr). `quiet_log`: this session's
        own statements are never in the statement log."""
        if self.kind.family == urls.POSTGRES:
            env = {"PGPASSWORD": self.password, "PGHOST": "127.0.0.1", "PGPORT": str(self.kind.port),
                   "PGUSER": user or self.user, "PGDATABASE": database or self.database}
            if quiet_log:
                env["PGOPTIONS"] = "-c log_statement=none"
            argv = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        else:
            env = {"MYSQL_PWD": self.root_password}
            find = " || ".join(f"command -v {client}" for client in self.kind.clients)
            argv = ["sh", "-c", f'client="$({find})" || exit 127; exec "$client" --protocol=tcp -h 127.0.0.1 '
                    f'-P {self.kind.port} -u root --batch --skip-column-names "$@"', "sql",
                    f"--database={database or self.database}"]
            if quiet_log:
                argv.append(f"--init-command={MYSQL_QUIET}")
        return self.docker.exec_input(self.container, argv, env, text.encode("utf-8"), seconds, interrupts.check)

    def url(self, scheme: str, host: str = "db", query: str = "") -> str:
        """The URL the migration gets: the app's scheme, user and database name, this server."""
        from urllib.parse import quote
        return (f"{scheme}://{quote(self.user, safe='')}:{self.password}@{host}:{self.kind.port}/"
                f"{quote(self.database, safe='')}{'?' + query if query else ''}")

    def remove(self, interrupted: bool = False) -> List[str]:
        """Removes every container with the label, then the network; returns what could not be
        removed. After an interrupt, a Docker call cut short may still be finishing in the daemon, so
        a second pass follows a short pause; an interrupt during removal is held back until it is done."""
        try:
            left = remove_labelled(self.docker, self.label, [self.container], self.network if self.started_network
                                   else "")
        except Interrupted:
            self.remove(interrupted=True)
            raise
        if interrupted:
            time.sleep(0.5)
            left = remove_labelled(self.docker, self.label, [self.container],
                                   self.network if self.started_network else "")
        return left


class NotADatabase(UserError):
    """The image has no client of the type: it is not that database's image."""


class NotReady(UserError):
    """The server did not take connections in time."""


def remove_labelled(docker: Docker, label: str, names: Sequence[str] = (), network: str = "") -> List[str]:
    """Every container with `label` (and those named), then the network(s): what could not go."""
    left: List[str] = []
    try:
        ids = docker.labelled_containers(label)
    except Interrupted:
        raise
    except UserError:
        ids = []
    for container in dict.fromkeys(ids + list(names)):
        try:
            docker.remove(container)
        except Interrupted:
            raise
        except UserError:
            left.append(container)
    networks = [network] if network else []
    try:
        networks += [name for name in docker.labelled_networks(label) if name not in networks]
    except Interrupted:
        raise
    except UserError:
        pass
    for name in networks:
        try:
            docker.remove_network(name)
        except Interrupted:
            raise
        except UserError:
            left.append(f"network {name}")
    return left


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def last_words(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else "no output")[:300]


def ready_wait(env: Mapping[str, str], name: str, old_name: str = "", default: float = 60) -> float:
    """Seconds to wait for a server, from the environment (an old variable name counts when the new is unset)."""
    key = name if env.get(name) or not old_name else old_name
    text = env.get(key, "")
    try:
        return float(text) if text else default
    except ValueError:
        raise UserError(f"{key} must be a number of seconds, not '{text.encode('unicode_escape').decode('ascii')}'")


def kind_of(family: str, image: str) -> Kind:
    """The Kind for a server of this family in this image: MariaDB unless the image says MySQL."""
    if family == urls.POSTGRES:
        return POSTGRES
    return MYSQL if "mysql" in image.rsplit("/", 1)[-1].split(":", 1)[0] else MARIADB
