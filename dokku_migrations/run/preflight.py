"""Pre-flight: the incoming image's migration, run first on a copy of the production schema.

`dokku migrations:preflight <app> [--image IMAGE]`, and on every deploy with the `preflight`
setting at `warn` or `block` (default `off`: see help.txt and the README for why).

1. A never-started container with the migration's own docker options (links, networks, DNS; Dokku's
   `post-container-create` fired, so attach-post-create networks join) says how production is
   reached; it is removed at once. A client container of the database's own image with that
   networking dumps the schema (database/copy.py) into a throwaway server of the same image on an
   internal network of its own (database/preflight.py).
2. The migration container runs on that network only — the same image, command and config, every
   value equal to the app's database URL replaced by the throwaway's URL; no links, no app
   networks, no volumes: it cannot reach production — with the app's timeout and grace.
3. The outcome and its duration, then what it sent: statements, locks on production tables, squawk.
   Everything started is removed on every way out (database/preflight.py says how).

On `block` a pre-flight that fails, or that cannot run, stops the deploy before production is
touched; on `warn` it says so and the deploy goes on.
"""

import os
import sys
from typing import Any, Dict, List, Optional

from dokku_migrations.common import interrupts, output
from dokku_migrations.common.errors import Interrupted, UserError
from dokku_migrations.context import Context
from dokku_migrations.database.preflight import DATA_CAVEAT, Findings, SchemaCopy, remove_leftovers
from dokku_migrations.database.server import ready_wait
from dokku_migrations.database.url import Target
from dokku_migrations.docker import clientenv, labels
from dokku_migrations.docker.image import ImageInfo
from dokku_migrations.run.outcome import judge
from dokku_migrations.run.plan import PHASE, run_args
from dokku_migrations.run.runner import Result, Spec, run_container
from dokku_migrations.run.settings import BLOCK, OFF, Resolved

READY_WAIT_ENV = "DM_PREFLIGHT_DATABASE_WAIT"


class Failed(UserError):
    """The pre-flight proved the migration fails."""


class CouldNotRun(Failed):
    """The pre-flight could not prove anything: no client image, production unreachable…"""


def probe_args(args: List[str], image_id: str, session: Dict[str, str]) -> List[str]:
    """The migration's `docker container create` argv for a container that is never started: the
    same networking, no values (`--env=KEY` and env files dropped), the pre-flight's labels instead
    of the run's, before the image."""
    kept: List[str] = []
    skip = False
    for at, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == image_id:
            marks = [f"--label={key}={value}" for key, value in session.items()]
            return kept + marks + args[at:]
        if arg in ("-e", "--env", "--env-file"):
            skip = True
            continue
        if arg.startswith(("--env=", "--env-file=", f"--label={labels.RUN}=")):
            continue
        kept.append(arg)
    raise UserError("Internal error: the migration's image is not in its docker arguments")


def container_args(image: ImageInfo, kind: str, command: str, network: str, keys: List[str],
                   session: Dict[str, str], memory: str, cpus: str) -> List[str]:
    """The migration against the copy: on the copy's network only (no links, no app networks, no
    volumes), the app's config keys, the run's stop handling, the same image and command."""
    args = [f"--network={network}"] + [f"--label={key}={value}" for key, value in session.items()]
    return args + [f"--env={key}" for key in keys] + run_args(image, kind, command, memory, cpus)


def replaced(values: Dict[str, str], url_key: str, new_url: str) -> Dict[str, str]:
    """The config with the database URL key, and every key holding the same URL (dokku-postgres sets
    DOKKU_POSTGRES_<ALIAS>_URL beside DATABASE_URL), pointing at the copy."""
    original = values.get(url_key, "")
    return {key: (new_url if key == url_key or (original and value == original) else value)
            for key, value in values.items()}


def prove(ctx: Context, app: str, image: ImageInfo, kind: str, command: str, spec_args: List[str],
          values: Dict[str, str], database: object, settings: Resolved, stream: output.IndentedStream) -> Result:
    """Runs the pre-flight; returns the migration's result on the copy, after saying it and what it
    sent. Failed when it could not run; Interrupted passes through (everything removed first)."""
    if not isinstance(database, Target):
        reason = getattr(database, "reason", "the database URL cannot be read")
        raise CouldNotRun(f"The pre-flight cannot copy the schema of {app}'s database: {reason}")
    url_key = settings.get("database-url-key")
    docker = ctx.docker
    removed = remove_leftovers(docker, app)
    if removed:
        output.verbose(f"Removed {removed} left-overs of an earlier pre-flight of {app}")
    copy = SchemaCopy(docker, app, database, settings.get("database-image"), {}, os.environ, interrupts.check)
    try:
        try:
            try:
                copy.watch()
                copy.migration = networking_of(ctx, app, spec_args, image.id, copy.labels)
                seconds = copy.open(ready_wait(os.environ, READY_WAIT_ENV))
            except Interrupted:
                raise
            except UserError as error:  # no client image, no dump tool, production unreachable, a failed restore
                raise CouldNotRun(f"The pre-flight could not copy the schema: {error.message}") from None
            output.verbose(f"Copied the schema of {database.shown} ({copy.count} "
                           f"{'table' if copy.count == 1 else 'tables'}) into a throwaway {copy.shown_image} "
                           f"({copy.source}) in {seconds:.1f}s")
            config = replaced(values, url_key, copy.url(values.get(url_key, "")))
            plain, piped, _ = clientenv.split_values(config)
            args = container_args(image, kind, command, copy.network, sorted(plain), copy.labels,
                                  settings.get("memory"), settings.get("cpus"))
            spec = Spec(args, clientenv.client_environment(os.environ, plain), clientenv.env_file(piped))
            result = run_container(docker, spec, stream, settings.timeout, settings.grace, image.stop_signal,
                                   on_created=lambda cid: None, watch=lambda cid: Unwatched())
            interrupts.check()
            if result.interrupted:
                raise Interrupted(result.interrupted)
            seen = captured(copy)
        except Interrupted:
            copy.close(interrupted=True)
            raise
        except BaseException:
            copy.close()
            raise
        copy.close()
    finally:
        stream.finish()
    outcome = judge(result, command, settings.timeout, settings.grace,
                    longer_hint=f"dokku migrations:set {app} timeout {settings.timeout * 2}")
    if outcome.message:
        output.info1(f"Pre-flight failed after {result.seconds:.1f}s")
    else:
        output.info1(f"Pre-flight passed in {result.seconds:.1f}s")
    said = seen.lines() if isinstance(seen, Findings) else [f"Statements not captured: {seen}"]
    output.verbose("\n".join(said + [DATA_CAVEAT]))
    if outcome.message:
        raise Failed(f"Pre-flight of {app} failed on a copy of the production schema, which was removed; production "
                     f"was not touched: {outcome.message}")
    return result


def captured(copy: SchemaCopy) -> "Findings | str":
    """What the migration sent; a log that cannot be read back takes nothing from the outcome."""
    try:
        return copy.findings()
    except Interrupted:
        raise
    except UserError as error:
        return error.message


def networking_of(ctx: Context, app: str, spec_args: List[str], image_id: str,
                  session: Dict[str, str]) -> Dict[str, Any]:
    """How the migration reaches production: the inspect document of a never-started container made
    with its docker options, after Dokku's post-container-create (networks attached there count)."""
    cid = ctx.docker.create(probe_args(spec_args, image_id, session), dict(os.environ))
    try:
        ctx.dokku.post_container_create(app, cid, PHASE)
        return ctx.docker.container(cid) or {}
    finally:
        ctx.docker.remove(cid)


def gate(ctx: Context, app: str, mode: str, image: ImageInfo, kind: str, command: str, spec_args: List[str],
         values: Dict[str, str], database: object, settings: Resolved,
         stream: Optional[output.IndentedStream] = None) -> Optional[str]:
    """A deploy's pre-flight: None when it passed (or `off`); on `warn`, what failed (said, and the
    deploy goes on); on `block`, Failed."""
    if mode == OFF:
        return None
    output.info1(f"Pre-flight for {app}: {command} on a copy of the production schema ({mode})")
    try:
        prove(ctx, app, image, kind, command, spec_args, values, database, settings,
              stream or output.IndentedStream(sys.stdout.buffer))
    except Interrupted as error:
        error.message = (f"Interrupted by {error.signame} during the pre-flight: its throwaway database and "
                         "containers were removed, and production was not touched")
        raise
    except Failed as error:
        if mode == BLOCK and isinstance(error, CouldNotRun):
            raise CouldNotRun(f"{error.message}. Deploys of {app} stop while its pre-flight cannot run (preflight is "
                              f"block): fix that, or let them go on with 'dokku migrations:set {app} preflight warn'") \
                from None
        if mode == BLOCK:
            raise Failed(f"{error.message}. Fix the migration and deploy again, or let deploys go on despite a "
                         f"failed pre-flight with 'dokku migrations:set {app} preflight warn'") from None
        output.warn(f"{error.message}; deploying anyway (preflight is warn)")
        return error.message
    return None


class Unwatched:
    """The copy's migration needs no gate watchdog: it touches nothing of production, and the
    pre-flight's reaper removes it with the rest if the plugin dies."""

    def dismiss(self) -> None:
        pass
