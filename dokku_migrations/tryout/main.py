"""`dokku-migrations try IMAGE ...` (or `python3 -m dokku_migrations try ...`): an image's migrations
against a throwaway database of the type the project uses, without Dokku, exactly as a deploy would run them.

    try <image> [--env KEY[=VALUE] ...] [--env-file PATH ...] [--command CMD] [--database TYPE[:VERSION]]
                [--database-image IMAGE | --postgres-image IMAGE] [--timeout SECONDS]

1. The command is found as a deploy finds it (manifest.detect with the default rules, or --command),
   and the database as the project declares it in app.json (`"migrations": {"database": "mariadb:10.11"}`)
   unless --database (or --postgres-image) says otherwise; PostgreSQL when nothing does. All of it is read
   through one never-started probe container, before anything is started, so a missing image, command
   or unsupported database type costs nothing.
2. A private network and the database container on it (aliases `db` and the type's own name, random
   passwords) are started; readiness is a check inside that container (`pg_isready`; a query over TCP
   for MySQL and MariaDB, whose images restart their server once during init), waited for at most
   DM_TRY_DATABASE_WAIT seconds (default 60).
3. The migration container is created and started the way a deploy does it (plan.task_command,
   runner.run_container), with DATABASE_URL in the type's usual scheme (postgres://…@db:5432/postgres,
   mysql://…@db:3306/app). Every value (DATABASE_URL, --env) reaches it as a deploy's config does
   (clientenv: the docker client's environment, or an env file from a pipe), never through argv; the
   database's own passwords travel in the Engine API's request body. A secret should not be on try's
   own argv either (any local user reads /proc/*/cmdline): `--env KEY` takes the value from try's
   environment, `--env-file PATH` from a file, as `docker run` does.
4. Whatever happens (failure, timeout, an error, Ctrl-C raised as errors.Interrupted), everything
   started here is removed; the last line says how it went.
"""

import argparse
import re
import secrets
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, NoReturn, Optional, Sequence, Tuple

from dokku_migrations.common import interrupts, output
from dokku_migrations.common.errors import Interrupted, UserError
from dokku_migrations.docker import clientenv
from dokku_migrations.docker.client import Docker
from dokku_migrations.docker.image import ImageInfo
from dokku_migrations.run.manifest import DATABASE_PATH, app_json_paths, declared_database, detect
from dokku_migrations.run.outcome import judge
from dokku_migrations.run.plan import DEFAULT_APP_USER, RUN, decide, image_kind, stop_args, task_command
from dokku_migrations.run.runner import Result, Spec, run_container
from dokku_migrations.run.settings import KEYS, parse_command, parse_seconds, resolve

GRACE = int(KEYS["grace"].default)
LABEL = "com.dokku.migrations.try"
DB_HOST = "db"
DEFAULT_READY_WAIT = 60
READY_WAIT_ENV = "DM_TRY_DATABASE_WAIT"
OLD_READY_WAIT_ENV = "DM_TRY_POSTGRES_WAIT"  # its name before MySQL and MariaDB; still honoured
ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
VERSION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")  # a Docker image tag
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}")
PASS_COMMAND = "pass the command with --command 'CMD'"  # what a broken manifest offers besides fixing it
PROG = "python3 -m dokku_migrations try"  # the console script passes its own: "dokku-migrations try"
ARGUMENTS = ("<image> [--env KEY[=VALUE] ...] [--env-file PATH ...] [--command CMD] [--database TYPE[:VERSION]] "
             "[--database-image IMAGE] [--timeout SECONDS]")


# --- databases (pure) ------------------------------------------------------------------------------
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

    def container_env(self, password: str, root_password: str) -> Dict[str, str]:
        """The variables the official image initialises itself from (MariaDB's image takes MYSQL_* too,
        old tags only those)."""
        if self.name == "postgres":
            return {"POSTGRES_PASSWORD": password}
        return {"MYSQL_ROOT_PASSWORD": root_password, "MYSQL_DATABASE": self.database, "MYSQL_USER": self.user,
                "MYSQL_PASSWORD": password}

    def readiness(self, password: str) -> Tuple[List[str], Dict[str, str]]:
        """(argv, env) of the check run inside the database container; exit 0 means ready.

        MySQL's and MariaDB's images run a socket-only server while they initialise, then restart it:
        only a query over TCP proves the final server takes connections (as the app's user, in the
        app's database). The password goes in the exec's environment (MYSQL_PWD), not on argv."""
        if self.name == "postgres":
            return ["pg_isready", "-q", "-h", "127.0.0.1", "-U", self.user], {}
        find = " || ".join(f"command -v {client}" for client in self.clients)
        missing = f"no {' or '.join(self.clients)} client in the image"
        script = (f'client="$({find})" || {{ echo "{missing}" >&2; exit 127; }}; '
                  f'exec "$client" --protocol=tcp -h 127.0.0.1 -P {self.port} -u {self.user} -D {self.database} '
                  "--batch --skip-column-names -e 'SELECT 1'")
        return ["sh", "-c", script], {"MYSQL_PWD": password}

    def url(self, password: str, env: Mapping[str, str]) -> str:
        """The scheme is the type's own unless the app's config picks another as Dokku's plugins allow
        (`MYSQL_DATABASE_SCHEME=mysql2` for Rails). The password goes in as it is: `try` makes hex ones,
        which need no escaping in a URL."""
        scheme = env.get(self.scheme_key) or self.scheme
        if not SCHEME.fullmatch(scheme):
            raise UserError(f"Invalid --env {self.scheme_key} '{printable(scheme)}': a URL scheme is letters, digits, "
                            "'+', '-' and '.', starting with a letter, e.g. mysql2")
        return f"{scheme}://{self.user}:{password}@{DB_HOST}:{self.port}/{self.database}"

    @property
    def scheme_key(self) -> str:
        return f"{self.variable}_DATABASE_SCHEME"


# Default versions: PostgreSQL's as before; MySQL's and MariaDB's long-term releases. MariaDB 11 images have
# no `mysql` client, MySQL's no `mariadb`.
POSTGRES = Kind(name="postgres", title="PostgreSQL", variable="POSTGRES", repository="postgres", default_version="16",
                port=5432, scheme="postgres", user="postgres", database="postgres", clients=("pg_isready",))
MYSQL = Kind(name="mysql", title="MySQL", variable="MYSQL", repository="mysql", default_version="8.4",
             port=3306, scheme="mysql", user="mysql", database="app", clients=("mysql", "mariadb"))
MARIADB = Kind(name="mariadb", title="MariaDB", variable="MARIADB", repository="mariadb", default_version="11.4",
               port=3306, scheme="mysql", user="mariadb", database="app", clients=("mariadb", "mysql"))
KINDS: Dict[str, Kind] = {"postgres": POSTGRES, "postgresql": POSTGRES, "mysql": MYSQL, "mariadb": MARIADB}
SUPPORTED = "postgres (or postgresql), mysql and mariadb"


@dataclass(frozen=True)
class Database:
    """What `try` starts: a type, the image for it, and where that choice came from (for the output)."""

    kind: Kind
    image: str
    source: str


def parse_database(text: str, where: str) -> Tuple[Kind, str]:
    """`TYPE[:VERSION]` as written in --database or app.json's migrations.database: a database type and
    version, never an image name. Returns the type and the version ("" when none is given)."""
    name, _, version = text.strip().partition(":")
    kind = KINDS.get(name.strip().lower())
    if kind is None:
        fix = ("pass one of them to --database, as TYPE or TYPE:VERSION (mariadb:10.11)" if where == "--database"
               else "declare one of them (\"mariadb:10.11\"), or override it with --database TYPE[:VERSION]")
        raise UserError(f"Unsupported database type '{printable(name.strip())}' in {where}: try supports "
                        f"{SUPPORTED}; {fix}")
    version = version.strip()
    if version and not VERSION.fullmatch(version):
        raise UserError(f"Invalid database version '{printable(version)}' in {where}: write it as the image tag "
                        f"of the version, e.g. {kind.name}:{kind.default_version}")
    return kind, version


def check_flags(flag: Optional[str], database_image: Optional[str], postgres_image: Optional[str]) -> None:
    """The database flags on their own, so a bad combination fails before Docker is asked anything."""
    if flag is not None:
        parse_database(flag, "--database")
    if database_image and postgres_image:
        raise UserError("--database-image and --postgres-image both name the database image: pass only one")
    if postgres_image and flag and parse_database(flag, "--database")[0] is not POSTGRES:
        raise UserError(f"--postgres-image starts PostgreSQL, but --database asks for '{printable(flag)}': "
                        "name its image with --database-image instead")


def choose_database(flag: Optional[str], database_image: Optional[str], postgres_image: Optional[str],
                    declared: Callable[[], Optional[Tuple[str, str]]]) -> Database:
    """The flags win over the project's declaration, which is only read when no flag decides the type;
    PostgreSQL when nobody says. A given image is used as it is; otherwise the type's official image,
    at the version asked for or the type's default."""
    check_flags(flag, database_image, postgres_image)
    if postgres_image:
        return Database(POSTGRES, postgres_image, "as --postgres-image asks")
    if flag:
        (kind, version), source = parse_database(flag, "--database"), f"as --database {flag} asks"
    else:
        found = declared()
        if found is None:
            (kind, version), source = (POSTGRES, ""), f"by default: the project declares no {DATABASE_PATH} in app.json"
        else:
            where, value = found
            (kind, version), source = parse_database(value, where), f"as {where} declares ({value})"
    return Database(kind, database_image or f"{kind.repository}:{version or kind.default_version}", source)


# --- arguments -------------------------------------------------------------------------------------
class Parser(argparse.ArgumentParser):
    """argparse that fails with one UserError line instead of printing usage and exiting 2."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{message[0].upper()}{message[1:]}; usage: {self.usage}")


def parse_args(argv: Sequence[str], environ: Mapping[str, str], prog: str = PROG) -> argparse.Namespace:
    parser = Parser(prog=prog, usage=f"{prog} {ARGUMENTS}",
                    description="Run an image's database migrations against a throwaway database of the type "
                                "the project uses, as a Dokku deploy would, and remove everything afterwards.")
    parser.add_argument("image", help="the application image (it must exist locally)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY[=VALUE]",
                        help="extra variable for the migration container (repeatable); KEY alone takes the value "
                             "from this environment: a value written here is visible to every local user (ps)")
    parser.add_argument("--env-file", action="append", default=[], metavar="PATH",
                        help="variables from a file, one KEY=VALUE (or KEY, from this environment) per line, '#' "
                             "starts a comment, as docker run reads it (repeatable; --env wins)")
    parser.add_argument("--command", help="migration command, instead of detecting it from the image")
    parser.add_argument("--database", metavar="TYPE[:VERSION]",
                        help=f"database to start: {SUPPORTED}, instead of the one app.json's migrations.database "
                             f"declares (default {POSTGRES.name}:{POSTGRES.default_version})")
    parser.add_argument("--database-image", metavar="IMAGE",
                        help="image for that database (default: the official one, e.g. mariadb:10.11)")
    parser.add_argument("--postgres-image", metavar="IMAGE",
                        help="PostgreSQL from this image: the same as --database postgres --database-image IMAGE")
    parser.add_argument("--timeout", default=KEYS["timeout"].default, metavar="SECONDS",
                        help=f"stop the migrations after this long, 0 for never (default {KEYS['timeout'].default})")
    options = parser.parse_args(list(argv))
    options.timeout = parse_timeout(options.timeout)
    if options.command is not None:
        options.command = parse_command_flag(options.command)
    check_flags(options.database, options.database_image, options.postgres_image)
    files = [(path, read_env_file(path)) for path in options.env_file]
    options.env = {**{key: value for path, text in files for key, value in parse_env_file(path, text, environ).items()},
                   **parse_env(options.env, environ)}
    return options


def parse_timeout(value: str) -> int:
    """--timeout as the `timeout` setting takes it, refused in words that name the flag."""
    try:
        return int(parse_seconds(value))
    except UserError:
        raise UserError(f"Invalid --timeout '{printable(value)}': use a whole number of seconds, 0 for no "
                        "timeout, e.g. --timeout 600") from None


def parse_command_flag(value: str) -> str:
    """--command as the `command` setting takes it; empty, it is a mistake here, not a way to unset."""
    if not value.strip():
        raise UserError("--command is empty: give the migration command, e.g. --command 'npm run migrate', or "
                        "leave --command out to find it in the image as a deploy does")
    return parse_command(value)


def parse_env(items: Sequence[str], environ: Mapping[str, str]) -> Dict[str, str]:
    """KEY=VALUE pairs, or KEY alone for the value this process has; the value may hold anything (it
    never reaches argv), the key is checked."""
    values: Dict[str, str] = {}
    for item in items:
        key, has_value, value = item.partition("=")
        check_env_key(key, "--env")
        if not has_value:
            if key not in environ:
                raise UserError(f"Invalid --env '{printable(key)}': {printable(key)} is not set in this environment: "
                                f"export it first, or give it as --env {printable(key)}=VALUE")
            value = environ[key]
        values[key] = value
    return values


def check_env_key(key: str, where: str) -> None:
    if not ENV_KEY.fullmatch(key):
        raise UserError(f"Invalid {where} key '{printable(key)}': use letters, digits and '_', "
                        "not starting with a digit")


def read_env_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except (OSError, ValueError) as error:
        raise UserError(f"Cannot read --env-file {printable(path)} ({getattr(error, 'strerror', None) or error}): "
                        "give a readable text file of KEY=VALUE lines") from None


def parse_env_file(path: str, text: str, environ: Mapping[str, str]) -> Dict[str, str]:
    """Docker's env file (cli opts/envfile.go parseKeyValueFile): leading blanks dropped, blank lines and
    `#` comments skipped, KEY=VALUE with the value as written to the end of its line (no quotes, no
    escapes), KEY alone from this environment. Refused, naming the line, where docker would refuse —
    and where docker would leave an unset KEY out silently."""
    values: Dict[str, str] = {}
    for number, line in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        key, has_value, value = line.partition("=")
        where = f"--env-file {printable(path)} line {number}"
        check_env_key(key, where)
        if not has_value:
            if key not in environ:
                raise UserError(f"Invalid {where}: {key} is not set in this environment: export it first, or "
                                f"write it as {key}=VALUE")
            value = environ[key]
        values[key] = value
    return values


def printable(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii")


# --- the session -----------------------------------------------------------------------------------
class Session:
    """Everything one `try` starts is named from one random id and labelled with it, so cleanup finds
    it even when an interrupt arrived halfway through a `docker` call."""

    def __init__(self, docker: Docker, database: Database, env: Mapping[str, str]) -> None:
        self.docker = docker
        self.database = database
        self.kind = database.kind
        self.env = env
        self.id = secrets.token_hex(4)
        self.label = f"{LABEL}={self.id}"
        self.network = f"dm-try-{self.id}"
        self.container = f"dm-try-{self.id}-{self.kind.name}"
        self.migrations = f"dm-try-{self.id}-migrations"
        self.password = secrets.token_hex(16)
        self.root_password = secrets.token_hex(16)
        self.started_network = False


    def start_database(self) -> None:
        title, image = self.kind.title, self.database.image
        output.info1(f"Starting a throwaway {title} ({image})")
        output.verbose(f"{title} {self.database.source}")
        output.verbose(f"Container {self.container} on network {self.network}, both removed at the end")
        self.started_network = True
        self.docker.create_network(self.network, self.label)
        self.docker.run_service(self.container, image, self.kind.container_env(self.password, self.root_password),
                                self.label, self.network, list(dict.fromkeys([DB_HOST, self.kind.name])),
                                f"starting {title}")
        interrupts.check()
        self.wait_until_ready(ready_wait(self.env))

    def wait_until_ready(self, wait: float) -> None:
        title, image = self.kind.title, self.database.image
        argv, env = self.kind.readiness(self.password)
        started = time.monotonic()
        deadline = started + wait
        while True:
            interrupts.check()
            code, answer = self.docker.exec_status(self.container, argv, env)
            if code == 0:
                output.verbose(f"{title} is ready ({time.monotonic() - started:.1f}s)")
                return
            running, exit_code = self.docker.state(self.container) or (False, -1)
            if not running:
                last = self.docker.last_log_line(self.container)
                raise UserError(f"{title} ({image}) stopped before it was ready (exit code {exit_code}): "
                                f"{last or f'is it a {title} image?'}")
            if code == 127 or "executable file not found" in answer:
                raise UserError(f"{image} has no {' or '.join(self.kind.clients)}: is it a {title} image? "
                                "Name the type with --database TYPE, or another image with --database-image")
            if time.monotonic() >= deadline:
                last = self.docker.last_log_line(self.container)
                said = "; ".join(([f"last log line: {last}"] if last else []) +
                                 ([f"last check: {answer.splitlines()[-1]}"] if answer else []))
                raise UserError(f"{title} ({image}) was not ready after {wait:g}s{f' ({said})' if said else ''}; "
                                f"allow longer with {READY_WAIT_ENV}=SECONDS")
            time.sleep(0.2)

    def run_migrations(self, image: ImageInfo, command: str, values: Dict[str, str], timeout: int) -> Result:
        url = self.kind.url(self.password, values)
        plain, piped, dropped = clientenv.split_values({"DATABASE_URL": url, **values})
        if dropped:
            raise UserError(f"--env {', '.join(dropped)} cannot be passed: the docker client reads it itself, "
                            "so it travels in an env file, which cannot hold a multi-line value")
        kind = image_kind(image, values.get("DOKKU_APP_USER") or DEFAULT_APP_USER)
        argv = task_command(image, kind, command)
        args = [f"--name={self.migrations}", f"--label={self.label}", f"--network={self.network}"]
        args += [f"--env={key}" for key in plain] + stop_args(image, kind)
        if argv and argv[0].startswith("--entrypoint="):
            args.append(argv.pop(0))
        args += [image.ref] + argv
        spec = Spec(args, clientenv.client_environment(self.env, plain), clientenv.env_file(piped))
        stream = output.IndentedStream(sys.stdout.buffer)
        return run_container(self.docker, spec, stream, timeout, GRACE, image.stop_signal,
                             on_created=lambda cid: None, watch=lambda cid: Unwatched())

    def cleanup(self, interrupted: bool = False) -> None:
        """Removes the containers (found by label as well as by name), then the network.

        After an interrupt, a `docker` call that was cut short may still be finishing in the daemon, so
        a second pass follows a short pause. An interrupt arriving during cleanup is held back until it
        is done (the signal handler ignores every later signal, so the second pass runs to the end)."""
        try:
            left = self._remove_all()
        except Interrupted:
            self.cleanup(interrupted=True)
            raise
        if interrupted:
            time.sleep(0.5)
            left = self._remove_all()
        if left:
            output.warn(f"Could not remove {', '.join(left)}: remove them with 'docker rm -f' / 'docker network rm'")
        else:
            output.verbose(f"Removed the throwaway {self.kind.title} and its network")

    def _remove_all(self) -> List[str]:
        left: List[str] = []
        try:
            ids = self.docker.labelled_containers(self.label)
        except Interrupted:
            raise
        except UserError:
            ids = []
        for container in dict.fromkeys(ids + [self.container, self.migrations]):
            try:
                self.docker.remove(container)
            except Interrupted:
                raise
            except UserError:
                left.append(container)
        if self.started_network:
            try:
                self.docker.remove_network(self.network)
            except Interrupted:
                raise
            except UserError:
                left.append(f"network {self.network}")
        return left


def ready_wait(env: Mapping[str, str]) -> float:
    """Seconds to wait for the database; the old PostgreSQL-only name counts when the new one is unset."""
    name = READY_WAIT_ENV if env.get(READY_WAIT_ENV) else OLD_READY_WAIT_ENV
    text = env.get(name, "")
    try:
        return float(text) if text else DEFAULT_READY_WAIT
    except ValueError:
        raise UserError(f"{name} must be a number of seconds, not '{printable(text)}'")


# --- what the image declares ------------------------------------------------------------------------
class ImageFiles:
    """Reads files out of the image through one probe container: the first read also takes app.json,
    so the command's detection and the database's declaration share it."""

    def __init__(self, docker: Docker, image: ImageInfo) -> None:
        self.docker = docker
        self.image = image
        self.files: Dict[str, Optional[bytes]] = {}

    def read(self, paths: List[str]) -> Dict[str, Optional[bytes]]:
        missing = [path for path in dict.fromkeys(paths + app_json_paths(self.image.workdir)) if path not in self.files]
        if missing:
            self.files.update(self.docker.read_file(self.image.ref, missing, "try", for_app=False))
        return {path: self.files[path] for path in paths}

    def declared_database(self) -> Optional[Tuple[str, str]]:
        return declared_database(self.image.workdir, self.read(app_json_paths(self.image.workdir)))


def find_command(files: ImageFiles, command: Optional[str]) -> Tuple[str, str]:
    """(command, where it came from), decided by the same rules as a deploy with default settings."""
    if command:
        return command, "--command"
    settings = resolve({}, {})
    image = files.image
    plan = decide(settings, lambda: detect(settings.rules, image.workdir, files.read, otherwise=PASS_COMMAND))
    if plan.action != RUN:
        raise UserError(f"No migration command to try in {image.ref}: {plan.reason}; "
                        "pass one with --command 'CMD'")
    return plan.command, plan.source


def main(argv: Sequence[str], env: Mapping[str, str], prog: str = PROG) -> None:
    options = parse_args(argv, env, prog)
    ready_wait(env)
    docker = Docker(env.get("DOCKER_BIN", "docker"), env)
    try:
        prepared = prepare(docker, options)
        interrupts.check()
    except Interrupted as error:
        raise UserError(f"Interrupted by {error.signame} before anything was started", error.exit_code) from None
    image, command, source, database = prepared
    shown_url = "from --env" if "DATABASE_URL" in options.env else database.kind.url("***", options.env)
    output.info1(f"Trying the migrations of {options.image} against a throwaway {database.kind.title}")
    session = Session(docker, database, env)
    try:
        try:
            session.start_database()
            output.info1(f"Running migrations: {command}")
            output.verbose(f"from {source}; DATABASE_URL={shown_url}")
            result = session.run_migrations(image, command, options.env, options.timeout)
            interrupts.check()
        except Interrupted:
            session.cleanup(interrupted=True)
            raise
        except BaseException:
            session.cleanup()
            raise
        session.cleanup()
    except Interrupted as error:
        raise UserError(f"Interrupted by {error.signame}: the throwaway {database.kind.title}, network and "
                        "migration container were removed", error.exit_code) from None
    report(result, command, options.timeout)


def prepare(docker: Docker, options: argparse.Namespace) -> Tuple[ImageInfo, str, str, Database]:
    """Everything that can fail before a container exists: the image, its command, the database and
    its image."""
    image = docker.inspect_image(options.image)
    if image is None:
        raise UserError(f"Image {options.image} does not exist on this host: build it first "
                        f"(docker build -t {options.image} .)")
    files = ImageFiles(docker, image)
    command, source = find_command(files, options.command)
    database = choose_database(options.database, options.database_image, options.postgres_image,
                               files.declared_database)
    database.kind.url("***", options.env)  # a bad <TYPE>_DATABASE_SCHEME fails here, before any pull
    if docker.inspect_image(database.image) is None:
        output.info1(f"Pulling {database.image}")
        try:
            docker.pull(database.image)
        except Interrupted:
            raise
        except UserError as error:
            raise UserError(f"{database.kind.title} image {database.image} is not on this host and could not be "
                            f"pulled ({error.message}); pass a local one with --database-image")
    return image, command, source, database


def report(result: Result, command: str, timeout: int) -> None:
    outcome = judge(result, command, timeout, GRACE, longer_hint=f"--timeout {timeout * 2}")
    if outcome.message:
        raise UserError(outcome.message, outcome.exit_code)
    output.info1(f"Migrations succeeded in {result.seconds:.1f}s")


class Unwatched:
    """`try` needs no watchdog: it has no history or gate to settle, and its containers are labelled."""

    def dismiss(self) -> None:
        pass
