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
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, NoReturn, Optional, Sequence, Tuple

from dokku_migrations.common import interrupts, output
from dokku_migrations.common.errors import Interrupted, UserError
from dokku_migrations.database.capture import Capture
from dokku_migrations.database.preflight import Findings, findings
from dokku_migrations.database.server import (
    KINDS,
    POSTGRES,
    SUPPORTED,
    Kind,
    NotADatabase,
    NotReady,
    Throwaway,
)
from dokku_migrations.database.server import ready_wait as server_wait
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


# --- databases (pure) ---------------------------------------------------------------------------
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
        self.server = Throwaway(docker, self.kind, database.image, f"dm-try-{self.id}", self.label)
        self.network = self.server.network
        self.container = self.server.container
        self.migrations = f"dm-try-{self.id}-migrations"
        self.password = self.server.password

    def start_database(self) -> None:
        title, image = self.kind.title, self.database.image
        output.info1(f"Starting a throwaway {title} ({image})")
        output.verbose(f"{title} {self.database.source}")
        output.verbose(f"Container {self.container} on network {self.network}, both removed at the end")
        try:
            seconds = self.server.start(ready_wait(self.env), logged=True)
        except NotADatabase as error:
            raise UserError(f"{error.message}: name the type with --database TYPE, or another image with "
                            "--database-image") from None
        except NotReady as error:
            raise UserError(f"{error.message}; allow longer with {READY_WAIT_ENV}=SECONDS") from None
        output.verbose(f"{title} is ready ({seconds:.1f}s)")
        self.capture = Capture(self.server)
        self.capture.start()

    def findings(self) -> "Findings | str":
        """Every statement the migrations sent, squawk's warnings and the lock report; tables as they
        stand after the run (the throwaway starts empty). Never fails `try`: a reason instead."""
        try:
            statements = self.capture.statements()
            seen = findings(self.kind.family, statements, self.capture.tables(), self.capture.version())
            seen.scope = "tables"
            return seen
        except Interrupted:
            raise
        except UserError as error:
            return error.message

    def run_migrations(self, image: ImageInfo, command: str, values: Dict[str, str], timeout: int) -> Result:
        url = url_for(self.kind, self.password, values)
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
        """Removes the containers (found by label as well as by name), then the network."""
        left = self.server.remove(interrupted)
        if left:
            output.warn(f"Could not remove {', '.join(left)}: remove them with 'docker rm -f' / 'docker network rm'")
        else:
            output.verbose(f"Removed the throwaway {self.kind.title} and its network")


def url_for(kind: Kind, password: str, env: Mapping[str, str]) -> str:
    """The DATABASE_URL `try` gives. The scheme is the type's own unless the app's config picks another
    as Dokku's plugins allow (`MYSQL_DATABASE_SCHEME=mysql2` for Rails)."""
    scheme = env.get(kind.scheme_key) or kind.scheme
    if not SCHEME.fullmatch(scheme):
        raise UserError(f"Invalid --env {kind.scheme_key} '{printable(scheme)}': a URL scheme is letters, digits, "
                        "'+', '-' and '.', starting with a letter, e.g. mysql2")
    return f"{scheme}://{kind.user}:{password}@{DB_HOST}:{kind.port}/{kind.database}"


def ready_wait(env: Mapping[str, str]) -> float:
    """Seconds to wait for the database; the old PostgreSQL-only name counts when the new one is unset."""
    return server_wait(env, READY_WAIT_ENV, OLD_READY_WAIT_ENV, DEFAULT_READY_WAIT)


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
    shown_url = "from --env" if "DATABASE_URL" in options.env else url_for(database.kind, "***", options.env)
    output.info1(f"Trying the migrations of {options.image} against a throwaway {database.kind.title}")
    session = Session(docker, database, env)
    try:
        try:
            session.start_database()
            output.info1(f"Running migrations: {command}")
            output.verbose(f"from {source}; DATABASE_URL={shown_url}")
            result = session.run_migrations(image, command, options.env, options.timeout)
            interrupts.check()
            seen = session.findings()
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
    say_findings(seen)
    report(result, command, options.timeout)


def say_findings(seen: "Findings | str") -> None:
    """What the migration sent, its locks and squawk's warnings; or why that could not be read."""
    if isinstance(seen, str):
        output.verbose(f"Statements not captured: {seen}")
        return
    output.info1("What the migrations sent")
    output.verbose("\n".join(seen.lines()))
    if seen.family == POSTGRES.family:
        output.verbose("(the locks each statement takes where its table already exists: in production, where the "
                       "migrations before it have run)")


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
    url_for(database.kind, "***", options.env)  # a bad <TYPE>_DATABASE_SCHEME fails here, before any pull
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
