"""`python3 -m dokku_migrations try IMAGE ...`: an image's migrations against a throwaway PostgreSQL,
without Dokku, exactly as a deploy would run them.

    try <image> [--env KEY=VALUE ...] [--command CMD] [--postgres-image IMAGE] [--timeout SECONDS]

1. The command is found as a deploy finds it (manifest.detect with the default rules, or --command),
   before anything is started, so a missing image or command costs nothing.
2. A private network and a PostgreSQL container on it (alias `postgres`, random password) are started;
   readiness is `pg_isready` inside that container, waited for at most DM_TRY_POSTGRES_WAIT seconds
   (default 60).
3. The migration container is created and started the way a deploy does it (plan.task_command,
   runner.run_container), with DATABASE_URL=postgres://postgres:<pw>@postgres:5432/postgres. Every
   value (DATABASE_URL, --env) reaches it as a deploy's config does (clientenv: the docker client's
   environment, or an env file from a pipe), never through argv.
4. Whatever happens (failure, timeout, an error, Ctrl-C raised as errors.Interrupted), everything
   started here is removed; the last line says how it went.
"""

import argparse
import re
import secrets
import sys
import time
from typing import Dict, List, Mapping, NoReturn, Optional, Sequence, Tuple

from . import clientenv, interrupts, output
from .docker import Docker
from .errors import Interrupted, UserError
from .image import ImageInfo
from .manifest import detect
from .outcome import judge
from .plan import DEFAULT_APP_USER, RUN, decide, image_kind, stop_args, task_command
from .runner import Result, Spec, run_container
from .settings import KEYS, parse_command, parse_seconds, resolve

DEFAULT_POSTGRES_IMAGE = "postgres:16"
GRACE = int(KEYS["grace"].default)
LABEL = "com.dokku.migrations.try"
DB_HOST = "postgres"
DEFAULT_READY_WAIT = 60
READY_WAIT_ENV = "DM_TRY_POSTGRES_WAIT"
ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
USAGE = ("python3 -m dokku_migrations try <image> [--env KEY=VALUE ...] [--command CMD] "
         "[--postgres-image IMAGE] [--timeout SECONDS]")


# --- arguments -------------------------------------------------------------------------------------
class Parser(argparse.ArgumentParser):
    """argparse that fails with one UserError line instead of printing usage and exiting 2."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{message[0].upper()}{message[1:]}; usage: {USAGE}")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = Parser(prog="python3 -m dokku_migrations try", usage=USAGE,
                    description="Run an image's database migrations against a throwaway PostgreSQL, "
                                "as a Dokku deploy would, and remove everything afterwards.")
    parser.add_argument("image", help="the application image (it must exist locally)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra variable for the migration container (repeatable)")
    parser.add_argument("--command", help="migration command, instead of detecting it from the image")
    parser.add_argument("--postgres-image", default=DEFAULT_POSTGRES_IMAGE, metavar="IMAGE",
                        help=f"PostgreSQL image (default {DEFAULT_POSTGRES_IMAGE})")
    parser.add_argument("--timeout", default=KEYS["timeout"].default, metavar="SECONDS",
                        help=f"stop the migrations after this long, 0 for never (default {KEYS['timeout'].default})")
    options = parser.parse_args(list(argv))
    options.timeout = int(parse_seconds(options.timeout))
    if options.command is not None:
        options.command = parse_command(options.command)
    options.env = parse_env(options.env)
    return options


def parse_env(items: Sequence[str]) -> Dict[str, str]:
    """KEY=VALUE pairs; the value may hold anything (it never reaches argv), the key is checked."""
    values: Dict[str, str] = {}
    for item in items:
        key, has_value, value = item.partition("=")
        if not has_value:
            raise UserError(f"Invalid --env '{printable(item)}': write it as KEY=VALUE")
        if not ENV_KEY.fullmatch(key):
            raise UserError(f"Invalid --env key '{printable(key)}': use letters, digits and '_', "
                            "not starting with a digit")
        values[key] = value
    return values


def printable(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii")


# --- the session -----------------------------------------------------------------------------------
class Session:
    """Everything one `try` starts is named from one random id and labelled with it, so cleanup finds
    it even when an interrupt arrived halfway through a `docker` call."""

    def __init__(self, docker: Docker, postgres_image: str, env: Mapping[str, str]) -> None:
        self.docker = docker
        self.postgres_image = postgres_image
        self.env = env
        self.id = secrets.token_hex(4)
        self.label = f"{LABEL}={self.id}"
        self.network = f"dm-try-{self.id}"
        self.postgres = f"dm-try-{self.id}-postgres"
        self.migrations = f"dm-try-{self.id}-migrations"
        self.password = secrets.token_hex(16)
        self.started_network = False

    @property
    def database_url(self) -> str:
        return f"postgres://postgres:{self.password}@{DB_HOST}:5432/postgres"

    @property
    def shown_url(self) -> str:
        return f"postgres://postgres:***@{DB_HOST}:5432/postgres"

    def start_postgres(self) -> None:
        output.info1(f"Starting a throwaway PostgreSQL ({self.postgres_image})")
        output.verbose(f"Container {self.postgres} on network {self.network}, both removed at the end")
        self.started_network = True
        self.docker.create_network(self.network, self.label)
        self.docker.run_service(self.postgres, self.postgres_image, {"POSTGRES_PASSWORD": self.password},
                                self.label, self.network, DB_HOST, "starting PostgreSQL")
        interrupts.check()
        self.wait_until_ready(ready_wait(self.env))

    def wait_until_ready(self, wait: float) -> None:
        started = time.monotonic()
        deadline = started + wait
        while True:
            interrupts.check()
            code, stderr = self.docker.exec_status(self.postgres, ["pg_isready", "-q", "-h", "127.0.0.1",
                                                                   "-U", "postgres"])
            if code == 0:
                output.verbose(f"PostgreSQL is ready ({time.monotonic() - started:.1f}s)")
                return
            running, exit_code = self.docker.state(self.postgres) or (False, -1)
            if not running:
                last = self.docker.last_log_line(self.postgres)
                raise UserError(f"PostgreSQL ({self.postgres_image}) stopped before it was ready (exit code "
                                f"{exit_code}): {last or 'is it a PostgreSQL image?'}")
            if "executable file not found" in stderr:
                raise UserError(f"{self.postgres_image} has no pg_isready: is it a PostgreSQL image? "
                                "Pass one with --postgres-image")
            if time.monotonic() >= deadline:
                last = self.docker.last_log_line(self.postgres)
                raise UserError(f"PostgreSQL ({self.postgres_image}) was not ready after {wait:g}s"
                                f"{' (last log line: ' + last + ')' if last else ''}; "
                                f"allow longer with {READY_WAIT_ENV}=SECONDS")
            time.sleep(0.2)

    def run_migrations(self, image: ImageInfo, command: str, values: Dict[str, str], timeout: int) -> Result:
        plain, piped, dropped = clientenv.split_values({"DATABASE_URL": self.database_url, **values})
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
            output.verbose("Removed the throwaway PostgreSQL and its network")

    def _remove_all(self) -> List[str]:
        left: List[str] = []
        try:
            ids = self.docker.labelled_containers(self.label)
        except Interrupted:
            raise
        except UserError:
            ids = []
        for container in dict.fromkeys(ids + [self.postgres, self.migrations]):
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
    text = env.get(READY_WAIT_ENV, "")
    try:
        return float(text) if text else DEFAULT_READY_WAIT
    except ValueError:
        raise UserError(f"{READY_WAIT_ENV} must be a number of seconds, not '{printable(text)}'")


# --- the command -----------------------------------------------------------------------------------
def find_command(docker: Docker, image: ImageInfo, command: Optional[str]) -> Tuple[str, str]:
    """(command, where it came from), decided by the same rules as a deploy with default settings."""
    if command:
        return command, "--command"
    settings = resolve({}, {})
    plan = decide(settings, lambda: detect(settings.rules, image.workdir,
                                           lambda paths: docker.read_file(image.ref, paths, "try")))
    if plan.action != RUN:
        raise UserError(f"No migration command to try in {image.ref}: {plan.reason}; "
                        "pass one with --command 'CMD'")
    return plan.command, plan.source


def main(argv: Sequence[str], env: Mapping[str, str]) -> None:
    options = parse_args(argv)
    ready_wait(env)
    docker = Docker(env.get("DOCKER_BIN", "docker"), env)
    try:
        image, command, source = prepare(docker, options)
        interrupts.check()
    except Interrupted as error:
        raise UserError(f"Interrupted by {error.signame} before anything was started", error.exit_code) from None
    output.info1(f"Trying the migrations of {options.image} against a throwaway PostgreSQL")
    session = Session(docker, options.postgres_image, env)
    try:
        try:
            session.start_postgres()
            output.info1(f"Running migrations: {command}")
            url = "from --env" if "DATABASE_URL" in options.env else session.shown_url
            output.verbose(f"from {source}; DATABASE_URL={url}")
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
        raise UserError(f"Interrupted by {error.signame}: the throwaway PostgreSQL, network and migration "
                        "container were removed", error.exit_code) from None
    report(result, command, options.timeout)


def prepare(docker: Docker, options: argparse.Namespace) -> Tuple[ImageInfo, str, str]:
    """Everything that can fail before a container exists: the image, its command, the PostgreSQL image."""
    image = docker.inspect_image(options.image)
    if image is None:
        raise UserError(f"Image {options.image} does not exist on this host: build it first "
                        f"(docker build -t {options.image} .)")
    command, source = find_command(docker, image, options.command)
    if docker.inspect_image(options.postgres_image) is None:
        output.info1(f"Pulling {options.postgres_image}")
        try:
            docker.pull(options.postgres_image)
        except Interrupted:
            raise
        except UserError as error:
            raise UserError(f"PostgreSQL image {options.postgres_image} is not on this host and could not be "
                            f"pulled ({error.message}); pass a local one with --postgres-image")
    return image, command, source


def report(result: Result, command: str, timeout: int) -> None:
    outcome = judge(result, command, timeout, GRACE, longer_hint=f"--timeout {timeout * 2}")
    if outcome.message:
        raise UserError(outcome.message, outcome.exit_code)
    output.info1(f"Migrations succeeded in {result.seconds:.1f}s")


class Unwatched:
    """`try` needs no watchdog: it has no history or gate to settle, and its containers are labelled."""

    def dismiss(self) -> None:
        pass
