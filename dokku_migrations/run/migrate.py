"""The one path every run takes, from a deploy trigger or `migrations:run`:
image → live? → gate (pending) → settings → lock → left-overs → plan → container → history → gate."""

import os
import shlex
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional, Union

from dokku_migrations.common import interrupts, output
from dokku_migrations.common.errors import Interrupted, UserError
from dokku_migrations.common.lock import Busy, run_lock
from dokku_migrations.context import Context
from dokku_migrations.database import locktimeout
from dokku_migrations.database.observe import Observation, Observer
from dokku_migrations.database.url import Target, Unsupported
from dokku_migrations.database.url import parse as parse_url
from dokku_migrations.docker import clientenv, labels
from dokku_migrations.docker.image import ImageInfo, belongs_to, image_tag
from dokku_migrations.gate import history as records
from dokku_migrations.gate import policy as gates
from dokku_migrations.gate.history import Run
from dokku_migrations.gate.leftovers import reap
from dokku_migrations.run.attempts import run_attempts
from dokku_migrations.run.manifest import detect, set_command
from dokku_migrations.run.outcome import Outcome, judge
from dokku_migrations.run.plan import (
    DEFAULT_APP_USER,
    PHASE,
    RUN,
    SKIP,
    Plan,
    container_args,
    decide,
    image_kind,
    move_env_values,
    source_type,
    unsafe_config_keys,
)
from dokku_migrations.run.quiet import Quiet
from dokku_migrations.run.releasetasks import Task, migration_commands, running_the_same, twice_warning
from dokku_migrations.run.releasetasks import shown as shown_tasks
from dokku_migrations.run.runner import Spec
from dokku_migrations.run.settings import OFF as PREFLIGHT_OFF
from dokku_migrations.run.settings import Resolved


@dataclass(frozen=True)
class Request:
    app: str
    image: str
    trigger: str
    dry_run: bool = False
    missing_image: str = ""
    own_image_only: bool = False  # `--image`: only an image of this app may run with its secrets
    command: str = ""  # given, not detected (a rollback), with where it came from
    source: str = ""

    @property
    def deploy(self) -> bool:
        return self.trigger in records.DEPLOY_TRIGGERS


def execute(ctx: Context, request: Request) -> None:
    """Runs (or previews) the migrations for one image; raises UserError when the deploy must stop."""
    app = request.app
    image = inspect(ctx, request)
    if request.dry_run:
        preview(ctx, request, ctx.settings.resolved(app), image)
        return
    fate = Fate(ctx, request, image.id)
    live = request.deploy and gates.is_live(ctx.gate, ctx.docker, app, image.id)  # before a record exists
    try:
        if request.deploy:  # fail closed from here, before anything else can fail: only success opens it
            fate.pending()
        settings = ctx.settings.resolved(app)
        with run_lock(ctx.history.lock_path(app), app), \
                (nullcontext() if request.deploy else
                 ctx.dokku.deploy_lock(app, os.environ.get("DOKKU_PID") or str(os.getpid()))):
            for note in reap(ctx, app, settings.grace, image.id):
                output.verbose(note)
            if request.trigger == records.ROLLBACK:  # a down migration stopped halfway: like a deploy's
                fate.pending()
            run = ctx.history.start(app, request.trigger)
            run.image, run.image_id = request.image, image.id
            try:
                status = _run(ctx, request, run, settings, image)
            except BaseException as error:
                fate.fail(gates.FAILED)  # `latest` back first, then the gate's record, then the run's
                if not run.finished:
                    message = error.message if isinstance(error, UserError) else f"unexpected error: {error!r}"
                    ctx.history.finish(run, records.INTERRUPTED if isinstance(error, Interrupted)
                                       else records.ERROR, settings.keep, message=message)
                raise
            fate.succeed(status)
    except BaseException as error:
        fate.fail(gates.PENDING, error)  # nothing ran: a lock held, Docker gone, a full disk, a bad setting
        if live and isinstance(error, UserError):
            raise UserError(f"{error.message}. {live_failure(app, request.image)}", error.exit_code) from None
        raise


class Fate:
    """What a run decides about its image. A deploy's image is `pending` before anything can fail, a
    rollback's before its down migration starts; from then on, every way out settles it: success
    opens the gate (a rollback closes it for good), anything else — the migration failing, or the run
    never starting (another run holds the lock, Docker went away, the disk is full) — points `latest`
    back at the image that went live last and leaves the image refused. Settled once."""

    def __init__(self, ctx: Context, request: Request, image_id: str) -> None:
        self.ctx, self.request, self.image_id = ctx, request, image_id
        self.gated = False
        self.settled = False

    def pending(self) -> None:
        self.gated = True  # even if writing it fails: `latest` must still point back
        self.ctx.gate.mark(self.request.app, self.image_id, gates.PENDING)
        self.ctx.gate.release_recorded(self.request.app)

    def succeed(self, status: str) -> None:
        self.settled = True
        ctx, app = self.ctx, self.request.app
        if self.request.trigger == records.ROLLBACK:
            self._close(gates.ROLLED_BACK)
        else:  # a manual run that found nothing to run (or migrations disabled) opens the gate as a deploy would
            ctx.gate.mark(app, self.image_id, status)

    def fail(self, status: str, error: Optional[BaseException] = None) -> None:
        if not self.gated or self.settled:
            return
        self.settled = True
        if isinstance(error, Busy) and self._running_elsewhere():
            return  # the run holding the lock migrates this very image: its end decides
        self._close(status)

    def _running_elsewhere(self) -> bool:
        return any(run.image_id == self.image_id for run in self.ctx.history.unfinished(self.request.app))

    def _close(self, status: str) -> None:
        ctx, app = self.ctx, self.request.app
        repo = ctx.dokku.image_repo(app)
        try:
            note = gates.close(ctx.gate, ctx.docker, app, repo, self.image_id, status)
        except UserError as problem:
            if status == gates.ROLLED_BACK:
                raise
            output.warn(f"{problem.message}; so {repo}:latest may still name this image, which restarts refuse: "
                        f"once that is fixed, deploy again or run 'dokku migrations:run {app}'")
            return
        if note:
            output.info1(note)


def live_failure(app: str, image: str) -> str:
    """A re-release of an image that already went live failed (config:set, ps:start, ps:restore).
    config:set then only warns and exits 0 (plugins/config/config.go triggerRestart) — from Dokku 0.38
    its warning is even empty, the release's stderr having gone through build capture — so this line,
    which Dokku 0.34–0.37 also repeats after "Failure while restarting app:", says it all: what runs,
    what does not, the config that a restart would start anyway, and what to do."""
    return (f"{image} already went live, so it stays startable and nothing that runs was changed; but config "
            f"saved since (config:set) is not live, and the next 'dokku ps:restart {app}' starts the app with it "
            f"all the same: fix the migration or the config, then run 'dokku migrations:run {app}'")


def inspect(ctx: Context, request: Request) -> ImageInfo:
    info = ctx.docker.inspect_image(request.image)
    if info is None:
        raise UserError(request.missing_image or f"Image {request.image} does not exist on this host")
    repo = ctx.dokku.image_repo(request.app)
    if request.own_image_only and not belongs_to(info, request.app, repo):
        raise UserError(f"{request.image} is not an image of {request.app} (neither tagged {repo}:<tag> nor "
                        f"labelled com.dokku.app-name={request.app}), and it would run with the app's secrets: "
                        f"deploy it first (dokku git:from-image {request.app} {request.image})")
    return info


class Prepared(NamedTuple):
    spec: Spec
    config_keys: List[str]
    piped: List[str]  # keys that travel in the piped env file
    dokku_tasks: List[Task]  # Dokku's own release tasks (asked for a deploy only)
    database: Union[Target, Unsupported]  # what the app's database URL names (observed, never shown)
    values: Dict[str, str]  # the config the container gets (a pre-flight replaces the database URL in it)
    kind: str  # how the image was built (plan.image_kind)


def prepare(ctx: Context, request: Request, image: ImageInfo, command: str, settings: Resolved,
            run_id: int) -> Prepared:
    """The container's spec and what goes with it, from Dokku's triggers asked all at once."""
    app = request.app
    tag = image_tag(request.image)
    guess = image_kind(image, DEFAULT_APP_USER)
    task_args, config, tasks = ctx.dokku.task_inputs(app, tag, source_type(guess), release_tasks=request.deploy)
    unsafe = unsafe_config_keys(list(config))
    if unsafe:
        shown = ", ".join(repr(key) for key in unsafe)
        raise UserError(f"Config key {shown} of {app} is not a valid environment variable name and cannot be "
                        f"passed to the migration container safely: rename it (dokku config:unset {app} ...)")
    kind = image_kind(image, config.get("DOKKU_APP_USER") or DEFAULT_APP_USER)
    if source_type(kind) != source_type(guess):  # a custom DOKKU_APP_USER: ask again with the right type
        task_args = ctx.dokku.deploy_args(app, tag, source_type(kind))
    deploy_args, argv_values = move_env_values(task_args)
    deploy_args, values = locktimeout.with_lock_timeout(deploy_args, {**argv_values, **config}, settings.lock_timeout)
    plain, piped, dropped = clientenv.split_values(values)
    if dropped:
        output.warn(f"Not passing {', '.join(dropped)} to the migration container: the docker client reads these "
                    "variables itself, so they travel in an env file, which cannot hold a multi-line value")
    own_flags = {f"--env={key}" for key in list(piped) + dropped}
    deploy_args = [arg for arg in deploy_args if arg not in own_flags]
    args = container_args(app=app, run_id=run_id, image=image, kind=kind, command=command,
                          deploy_args=deploy_args, global_run_args=shlex.split(ctx.dokku.global_run_args),
                          memory=settings.get("memory"), cpus=settings.get("cpus"))
    spec = Spec(args=args, env=clientenv.client_environment(os.environ, plain), env_file=clientenv.env_file(piped),
                owned_by=(f"{labels.APP}={app}", f"{labels.RUN}={run_id}"))
    url_key = settings.get("database-url-key")
    return Prepared(spec, sorted(config), sorted(piped), tasks, parse_url(config.get(url_key, ""), url_key),
                    {**plain, **piped}, kind)


def plan_for(ctx: Context, request: Request, image: ImageInfo, settings: Resolved,
             files: Optional[Dict[str, Optional[bytes]]] = None) -> Plan:
    if request.command:
        return Plan(RUN, command=request.command, source=request.source)
    return decide(settings, detector(ctx, request, image, settings, files))


def detector(ctx: Context, request: Request, image: ImageInfo, settings: Resolved,
             files: Optional[Dict[str, Optional[bytes]]] = None):
    """Detection, reading the manifests out of the image once; `files` keeps what was read."""
    def read_files(paths: List[str]) -> Dict[str, Optional[bytes]]:
        read = ctx.docker.read_file(request.image, paths, request.app)
        if files is not None:
            files.update(read)
        return read
    return lambda: detect(settings.rules, image.workdir, read_files, otherwise=set_command(request.app))


def run_by_dokku_too(tasks: List[Task], settings: Resolved, image: ImageInfo, command: str,
                     files: Dict[str, Optional[bytes]]) -> List[Task]:
    """Dokku's release tasks that run these migrations again in this deploy."""
    if not tasks:
        return []
    return running_the_same(tasks, migration_commands(command, settings.rules, image.workdir, files))


def _run(ctx: Context, request: Request, run: Run, settings: Resolved, image: ImageInfo) -> str:
    """Runs the migration of one image; returns the image's gate status, or raises UserError."""
    app = request.app
    if not settings.enabled and not request.command:
        output.info1(f"Migrations are disabled for {app}: deploying without running them")
        output.verbose(f"Turn them back on with 'dokku migrations:set {app} enabled true'")
        ctx.history.finish(run, records.SKIPPED, settings.keep, message="migrations are disabled (enabled=false)")
        return gates.DISABLED
    files: Dict[str, Optional[bytes]] = {}
    plan = plan_for(ctx, request, image, settings, files)
    if plan.action == SKIP:
        output.info1(f"No migrations to run for {app}: {plan.reason}")
        ctx.history.finish(run, records.SKIPPED, settings.keep, message=plan.reason)
        return gates.NOTHING_TO_RUN
    run.command, run.source = plan.command, plan.source
    prepared = prepare(ctx, request, image, plan.command, settings, run.id)
    twice = run_by_dokku_too(prepared.dokku_tasks, settings, image, plan.command, files)
    run.dokku_tasks = shown_tasks(twice)
    ctx.history.save(run)

    if twice:
        output.warn(twice_warning(app, twice))
    log = ctx.history.open_log(run)
    if request.trigger != records.ROLLBACK and settings.get("preflight") != PREFLIGHT_OFF:
        from dokku_migrations.run import preflight  # a throwaway server and squawk: loaded only when asked for
        try:
            preflight.gate(ctx, app, settings.get("preflight"), image, prepared.kind, plan.command,
                           prepared.spec.args, prepared.values, prepared.database, settings,
                           output.IndentedStream(sys.stdout.buffer, log))
        except BaseException as error:
            log.close()
            if isinstance(error, preflight.Failed):
                ctx.history.finish(run, records.FAILED, settings.keep, message=error.message)
            raise
    doing = "Rolling back migrations" if request.trigger == records.ROLLBACK else "Running migrations"
    output.info1(f"{doing} for {app}: {plan.command}")
    output.verbose(f"from {plan.source} in {request.image} (run {run.id})")
    stream = output.IndentedStream(sys.stdout.buffer, log)
    observer = Observer(ctx.docker, app, prepared.database, settings.get("database-image"), interrupts.check)

    def created(cid: str) -> None:
        ctx.dokku.post_container_create(app, cid, PHASE)
        if not run.attempts:  # the database as the migration will find it, before its first attempt starts
            observer.before(cid)
        else:
            observer.follow(cid)

    try:
        result, lock = run_attempts(ctx, app, run, prepared.spec, stream, log, settings, image, created,
                                    quiet=Quiet(settings.quiet_after, observer))
        observed(run, observer.after())
    finally:
        observer.close()
        try:
            log.close()
        except OSError as error:
            stream.log_error = stream.log_error or error
    run.stopped_with = result.stopped_with
    if stream.log_error is not None:
        message = (f"Could not write the output of run {run.id} to the history "
                   f"({stream.log_error.strerror or stream.log_error}); the migration exited with "
                   f"{'a timeout' if result.timed_out else result.exit_code}. Free space under "
                   f"{ctx.history.root} and deploy again")
        ctx.history.finish(run, records.ERROR, settings.keep, exit_code=result.exit_code, message=message)
        raise UserError(message)
    what = "Rollback command" if request.trigger == records.ROLLBACK else "Migration command"
    outcome = judge(result, plan.command, settings.timeout, settings.grace,
                    logs_hint=f"dokku migrations:logs {app} {run.id}",
                    longer_hint=f"dokku migrations:set {app} timeout {settings.timeout * 2}", what=what)
    if lock.last_gave_up and outcome.status == records.FAILED:
        outcome = Outcome(records.FAILED, locktimeout.gave_up(
            what, plan.command, lock.gave_up, settings.lock_timeout, app, settings.lock_retries, lock.out_of_time,
            logs_hint=f"dokku migrations:logs {app} {run.id}"))
    ctx.history.finish(run, outcome.status, settings.keep, exit_code=result.exit_code, message=outcome.message)
    if outcome.message:
        say_database(run)
        raise UserError(outcome.message, outcome.exit_code)
    after = f" (attempt {len(run.attempts)}: the earlier ones gave up waiting for a lock)" if lock.gave_up else ""
    output.info1(f"Migrations for {app} succeeded in {result.seconds:.1f}s{after}")
    say_database(run)
    return gates.MIGRATED


def observed(run: Run, seen: Observation) -> None:
    """What the run did to the database, kept on its record."""
    run.schema_changed, run.schema_change, run.schema_note = seen.changed, seen.summary, seen.note
    run.schema_before, run.schema_after = seen.before, seen.after


def say_database(run: Run) -> None:
    """One line under the run's outcome: what it changed in the database, or why that is unknown."""
    if run.schema_changed is None:
        if run.schema_note:
            output.verbose(f"Database not observed: {run.schema_note}")
    elif run.schema_changed:
        output.verbose(f"Database changed: {run.schema_change}")
    else:
        output.verbose("Database unchanged: this run applied nothing (its schema and migration records are as before)")


def preview(ctx: Context, request: Request, settings: Resolved, image: ImageInfo) -> None:
    """--dry-run: says exactly what a run would do (keys, never values) and runs nothing."""
    app = request.app
    plan = plan_for(ctx, request, image, settings)
    output.info2(f"{app} migrations dry run: nothing will be run or changed")
    output.verbose(f"Image:    {request.image} ({image.id})")
    if plan.action != RUN:
        output.verbose(f"Action:   skip, {plan.reason}")
        return
    spec, config_keys, piped, _, database, _, _ = prepare(ctx, request, image, plan.command, settings, 0)
    output.verbose(f"Command:  {plan.command}")
    output.verbose(f"Source:   {plan.source}")
    output.verbose(f"Timeout:  {settings.timeout}s" if settings.timeout else "Timeout:  none")
    output.verbose(f"Grace:    {settings.grace}s between the stop signal and SIGKILL")
    output.verbose(f"Locks:    PGOPTIONS gets {locktimeout.option(settings.lock_timeout)}, and a run that gives up "
                   f"waiting for a lock is tried {settings.lock_retries} more time(s)" if settings.lock_timeout > 0
                   else f"Locks:    no lock timeout; a run that gives up waiting for a lock is tried "
                        f"{settings.lock_retries} more time(s)")
    output.verbose(f"Config:   {', '.join(config_keys) or '(none)'}")
    output.verbose(f"Database: {database.shown} (observed before and after the run)" if isinstance(database, Target)
                   else f"Database: not observed, {database.reason}")
    mode = settings.get("preflight")
    output.verbose(f"Preflight: {mode}" + ("" if mode == PREFLIGHT_OFF else
                                           " (first on a copy of the production schema in a throwaway server)"))
    if piped:
        output.verbose(f"Piped:    {', '.join(piped)} (read by the docker client itself: "
                       "passed in --env-file from a pipe)")
    env_file = ["--env-file=/dev/fd/N"] if piped else []
    output.verbose(f"Docker:   docker container create {shlex.join(env_file + spec.args)}")
