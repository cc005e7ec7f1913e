"""Migration runs nobody watches any more — their plugin process was killed — are stopped,
removed, recorded and reported: by the watchdog the moment the plugin dies, and, should the
watchdog have died too, by the next run of the app before it starts anything.

A left-over container keeps running against production with nobody reading its output, holds
every config value in its environment, and would race the next migration: none may outlive this.
"""

from typing import List, Optional

from . import gate as gates
from . import output
from .context import Context
from .docker import MigrationContainer
from .runner import stop

KILLED = ("the process running it was killed (SIGKILL, the OOM killer, 'dokku builds:cancel', "
          "a lost SSH session…) before it finished")


def recover(ctx: Context, app: str, container: Optional[MigrationContainer], run_id: int, grace: int,
            found_by: str) -> str:
    """Stops and removes the container (if any), records the run as interrupted, closes the gate.
    Every step is safe to repeat: the watchdog and a new run may both get here."""
    stopped = ""
    if container is not None:
        if container.running:
            stopped, _ = stop(ctx.docker, container.id, grace, "SIGTERM")
        ctx.docker.remove(container.id)
    how = f"; {found_by} stopped its container with {stopped}" if stopped else (
        f"; {found_by} removed its container" if container is not None else "")
    message = f"Run {run_id} of {app} was interrupted: {KILLED}{how}"
    run = ctx.history.abandon(app, run_id, message)
    if run is not None:
        if stopped:
            run.stopped_with = stopped
            ctx.history.save(run)
        ctx.history.append_note(app, run_id, message)
        if run.deploy and run.image_id:
            note = gates.close(ctx.gate, ctx.docker, app, ctx.dokku.image_repo(app), run.image_id)
            if note:
                ctx.history.append_note(app, run_id, note)
    return message


def reap(ctx: Context, app: str, grace: int) -> List[str]:
    """Before a run starts (holding the app's run lock, so no live run is touched): every migration
    container of the app and every unfinished run record is a left-over. Returns what was done."""
    done = []
    containers = ctx.docker.migration_containers(app)
    for container in containers:
        if container.running:
            output.warn(f"A migration of {app} (run {container.run_id}) is still running with nobody watching it: "
                        f"stopping it first (grace {grace}s)")
        done.append(recover(ctx, app, container, container.run_id, grace, "the next run"))
    for run in ctx.history.unfinished(app):
        if all(container.run_id != run.id for container in containers):
            done.append(recover(ctx, app, None, run.id, grace, "the next run"))
    return done
