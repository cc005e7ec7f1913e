"""The one path every run takes, from a deploy trigger or `migrations:run`:
settings → plan → lock → container → history, with one message per outcome."""

import os
from contextlib import nullcontext
import shlex
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional

from . import gate
from . import history as records
from . import output
from .docker import Docker, ImageInfo
from .dokku import Dokku
from .errors import Interrupted, UserError
from .gate import Gate
from .history import History, Run
from .lock import deploy_lock, run_lock
from .manifest import detect
from .plan import (PHASE, RUN, RUN_LABEL, SKIP, container_args, decide, image_kind, move_env_values,
                   source_type, unsafe_config_keys, client_keys)
from .runner import run_container
from .settings import Resolved, SettingsStore


@dataclass(frozen=True)
class Context:
    dokku: Dokku
    docker: Docker
    settings: SettingsStore
    history: History
    gate: Gate

    @classmethod
    def from_environ(cls, env) -> "Context":
        dokku = Dokku.from_environ(env)
        data = dokku.lib_root / "data" / "migrations"
        return cls(
            dokku=dokku,
            docker=Docker(dokku.docker_bin),
            settings=SettingsStore(dokku.lib_root / "config" / "migrations"),
            history=History(data),
            gate=Gate(data),
        )


DEPLOY_TRIGGERS = ("pre-release-builder", "pre-deploy")
FAILED_TAG = "migrations-failed"


@dataclass(frozen=True)
class Request:
    app: str
    image: str
    trigger: str
    dry_run: bool = False
    missing_image: str = ""


def execute(ctx: Context, request: Request) -> None:
    """Runs (or previews) the migrations for one image; raises UserError when the deploy must stop."""
    app = request.app
    settings = ctx.settings.resolved(app)
    if request.dry_run:
        preview(ctx, request, settings)
        return
    image = inspect(ctx, request) if settings.enabled else None
    manual = request.trigger == "migrations:run"
    with run_lock(ctx.history.root / app / ".lock", app), \
            (deploy_lock(ctx.dokku.deploy_lock_path(app), app) if manual else nullcontext()):
        run = ctx.history.start(app, request.trigger)
        run.image = request.image
        try:
            _execute(ctx, request, run, settings, image)
        except UserError as error:
            if not run.finished:
                status = records.INTERRUPTED if isinstance(error, Interrupted) else records.ERROR
                ctx.history.finish(run, status, settings.keep, message=error.message)
            if request.trigger in DEPLOY_TRIGGERS and run.image_id:
                ctx.gate.mark(app, run.image_id, gate.FAILED)
                keep_latest_on_running_image(ctx, app, run.image_id)
            raise


def keep_latest_on_running_image(ctx: Context, app: str, failed_id: str) -> None:
    """Points `dokku/<app>:latest` back at the image that is serving, so restarts keep serving it.

    The unmigrated image stays tagged `dokku/<app>:migrations-failed`: nothing is thrown away.
    """
    repo = ctx.dokku.image_repo(app)
    latest = ctx.docker.inspect_image(f"{repo}:latest")
    if latest is None or latest.id != failed_id:
        return
    ctx.docker.tag(failed_id, f"{repo}:{FAILED_TAG}")
    previous = [image for image in ctx.docker.running_image_ids(app, RUN_LABEL) if image != failed_id]
    if previous:
        ctx.docker.tag(previous[0], f"{repo}:latest")
        output.info1(f"{repo}:latest points to the running image again, so restarts keep serving it; "
                     f"the new image is kept as {repo}:{FAILED_TAG}")
    else:
        output.info1(f"{app} has never run: 'ps:restart' will refuse {repo}:latest until its migrations succeed")


def inspect(ctx: Context, request: Request) -> ImageInfo:
    info = ctx.docker.inspect_image(request.image)
    if info is None:
        raise UserError(request.missing_image or f"Image {request.image} does not exist on this host")
    return info


@dataclass(frozen=True)
class Container:
    """What `docker container create` gets: argv without values, and the client env holding them."""

    args: List[str]
    env: Dict[str, str]
    config_keys: List[str]


def prepare(ctx: Context, request: Request, image: ImageInfo, command: str, settings: Resolved,
            run_id: int) -> Container:
    app = request.app
    config = ctx.dokku.config_values(app)
    unsafe = unsafe_config_keys(list(config))
    if unsafe:
        shown = ", ".join(repr(key) for key in unsafe)
        raise UserError(f"Config key {shown} of {app} is not a valid environment variable name and cannot be "
                        f"passed to the migration container safely: rename it (dokku config:unset {app} ...)")
    kind = image_kind(image, config.get("DOKKU_APP_USER") or "herokuishuser")
    deploy_args, argv_values = move_env_values(
        ctx.dokku.deploy_args(app, image_tag(request.image), source_type(kind)))
    values = {**argv_values, **config}
    held_back = client_keys(list(values))
    if held_back:
        output.warn(f"Not passing {', '.join(held_back)} to the migration container: the docker client reads "
                    "DOCKER_* variables from the same environment and would obey the app's values")
    deploy_args = [arg for arg in deploy_args if arg not in {f"--env={key}" for key in held_back}]
    args = container_args(app=app, run_id=run_id, image=image, kind=kind, command=command,
                          deploy_args=deploy_args, global_run_args=shlex.split(ctx.dokku.global_run_args),
                          memory=settings.get("memory"), cpus=settings.get("cpus"))
    env = dict(os.environ)
    env.update({key: value for key, value in values.items() if key not in held_back})
    return Container(args=args, env=env, config_keys=sorted(config))


def detector(ctx: Context, request: Request, image: ImageInfo, settings: Resolved):
    def read_files(paths: List[str]) -> Dict[str, Optional[bytes]]:
        return ctx.docker.read_file(request.image, paths, request.app)
    return lambda: detect(settings.rules, image.workdir, read_files)


def _execute(ctx: Context, request: Request, run: Run, settings: Resolved, image: Optional[ImageInfo]) -> None:
    app = request.app
    if not settings.enabled or image is None:
        output.info1(f"Migrations are disabled for {app}: deploying without running them")
        output.verbose(f"Turn them back on with 'dokku migrations:set {app} enabled true'")
        ctx.history.finish(run, records.SKIPPED, settings.keep, message="migrations are disabled (enabled=false)")
        return
    run.image_id = image.id
    plan = decide(settings, detector(ctx, request, image, settings))
    if plan.action == SKIP:
        output.info1(f"No migrations to run for {app}: {plan.reason}")
        ctx.history.finish(run, records.SKIPPED, settings.keep, message=plan.reason)
        ctx.gate.mark(app, image.id, gate.NOTHING_TO_RUN)
        return
    run.command, run.source = plan.command, plan.source
    ctx.history.save(run)
    container = prepare(ctx, request, image, plan.command, settings, run.id)

    output.info1(f"Running migrations for {app}: {plan.command}")
    output.verbose(f"from {plan.source} in {request.image} (run {run.id})")
    log = ctx.history.open_log(run)
    stream = output.IndentedStream(sys.stdout.buffer, log)
    try:
        result = run_container(ctx.docker, container.args, container.env, stream, settings.timeout,
                               lambda cid: ctx.dokku.post_container_create(app, cid, PHASE))
    finally:
        try:
            log.close()
        except OSError as error:
            stream.log_error = stream.log_error or error
    if stream.log_error is not None:
        message = (f"Could not write the output of run {run.id} to the history "
                   f"({stream.log_error.strerror or stream.log_error}); the migration exited with "
                   f"{'a timeout' if result.timed_out else result.exit_code}. Free space under "
                   f"{ctx.history.root} and deploy again")
        ctx.history.finish(run, records.ERROR, settings.keep, exit_code=result.exit_code, message=message)
        raise UserError(message)

    if result.timed_out:
        message = (f"Migrations for {app} timed out after {settings.timeout}s and were stopped; "
                   f"give them longer with 'dokku migrations:set {app} timeout {settings.timeout * 2}'")
        ctx.history.finish(run, records.TIMED_OUT, settings.keep, message=message)
        raise UserError(message)
    if result.start_error:
        message = f"The migration container could not start: {result.start_error}"
        ctx.history.finish(run, records.FAILED, settings.keep, exit_code=result.exit_code, message=message)
        raise UserError(message)
    if result.exit_code != 0:
        message = (f"Migration command '{plan.command}' failed with exit code {result.exit_code}: "
                   f"see the output above, or 'dokku migrations:logs {app} {run.id}'")
        ctx.history.finish(run, records.FAILED, settings.keep, exit_code=result.exit_code, message=message)
        raise UserError(message)
    ctx.history.finish(run, records.SUCCEEDED, settings.keep, exit_code=0)
    ctx.gate.mark(app, image.id, gate.MIGRATED)
    output.info1(f"Migrations for {app} succeeded in {result.seconds:.1f}s")


def preview(ctx: Context, request: Request, settings: Resolved) -> None:
    """--dry-run: says exactly what a run would do (keys, never values) and runs nothing."""
    app = request.app
    image = inspect(ctx, request)
    plan = decide(settings, detector(ctx, request, image, settings))
    output.info2(f"{app} migrations dry run: nothing will be run or changed")
    output.verbose(f"Image:    {request.image} ({image.id})")
    if plan.action != RUN:
        output.verbose(f"Action:   skip, {plan.reason}")
        return
    container = prepare(ctx, request, image, plan.command, settings, 0)
    output.verbose(f"Command:  {plan.command}")
    output.verbose(f"Source:   {plan.source}")
    output.verbose(f"Timeout:  {settings.timeout}s" if settings.timeout else "Timeout:  none")
    output.verbose(f"Config:   {', '.join(container.config_keys) or '(none)'}")
    output.verbose(f"Docker:   docker container create {shlex.join(container.args)}")


def image_tag(image: str) -> str:
    """The tag part of `repo:tag` (Dokku's IMAGE_TAG), `latest` when none is given."""
    last = image.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"
