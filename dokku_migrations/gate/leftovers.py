"""Migration runs nobody watches any more — their plugin process was killed — are stopped,
removed, recorded and reported: by the watchdog the moment the plugin dies, and, should the
watchdog have died too, by the next run of the app before it starts anything.

A left-over container keeps running against production with nobody reading its output, holds
every config value in its environment, and would race the next migration: none may outlive this.
Nor may the never-started containers that read manifests out of an image, when the process
reading through them was killed before their removal reached the engine.
"""

import os
import time
from typing import Callable, List, Optional

from dokku_migrations.common import output
from dokku_migrations.context import Context
from dokku_migrations.docker.client import MigrationContainer, ProbeContainer
from dokku_migrations.gate import policy as gates
from dokku_migrations.run.runner import stop

UNLABELLED_PROBE_AGE = 600  # a probe from before probes named their process: orphaned past this age

KILLED = ("the process running it was killed (SIGKILL, the OOM killer, 'dokku builds:cancel', "
          "a lost SSH session…) before it finished")


def recover(ctx: Context, app: str, container: Optional[MigrationContainer], run_id: int, grace: int,
            found_by: str, close_gate: bool = True) -> str:
    """Stops and removes the container (if any); closes the gate unless told not to (a newer run is
    deciding that image's fate) — `latest` back first, so a failure writing records cannot leave it on
    the image — then records the run as interrupted (with the exit code of a container that finished
    unwatched). Every step is safe to repeat: the watchdog and a new run may both get here."""
    stopped, exited = "", None
    if container is not None:
        if container.running:
            stopped, _ = stop(ctx.docker, container.id, grace, "SIGTERM")
        else:
            state = ctx.docker.state(container.id)
            exited = state[1] if state else None
        ctx.docker.remove(container.id)
    how = f"; {found_by} stopped its container with {stopped}" if stopped else (
        f"; it had exited with code {exited} with nobody watching, and {found_by} removed it" if exited is not None
        else f"; {found_by} removed its container" if container is not None else "")
    message = f"Run {run_id} of {app} was interrupted: {KILLED}{how}"
    unfinished = ctx.history.load(app, run_id)
    if unfinished is None or unfinished.finished:
        return message
    note = ""
    if close_gate and unfinished.settles_gate and unfinished.image_id:  # `latest` back first, records after
        note = gates.close(ctx.gate, ctx.docker, app, ctx.dokku.image_repo(app), unfinished.image_id)
    run = ctx.history.abandon(app, run_id, message)
    if run is not None:
        run.stopped_with = stopped
        run.exit_code = exited
        ctx.history.save(run)
        ctx.history.append_note(app, run_id, message)
        if note:
            ctx.history.append_note(app, run_id, note)
    return message


def reap(ctx: Context, app: str, grace: int, image_id: str) -> List[str]:
    """Before a run of `image_id` starts (holding the app's run lock, so no live run is touched): every
    migration container of the app and every unfinished run record is a left-over. A left-over of
    the same image leaves the gate alone: re-pointing `latest` now would deploy the old image in
    place of the one this run migrates. Returns what was done."""
    done = []
    containers, probes = ctx.docker.plugin_containers(app)
    orphans = [probe.id for probe in probes if orphaned(probe, time.time(), alive)]
    for probe_id in orphans:
        ctx.docker.remove(probe_id)
    if orphans:
        done.append(f"Removed {len(orphans)} container(s) left reading files out of an image by a run that was "
                    "killed in its first instants")
    for container in containers:
        if container.running:
            output.warn(f"A migration of {app} (run {container.run_id}) is still running with nobody watching it: "
                        f"stopping it first (grace {grace}s)")
        done.append(recover(ctx, app, container, container.run_id, grace, "the next run",
                            close_gate=_other_image(ctx, app, container.run_id, image_id)))
    for run in ctx.history.unfinished(app):
        if all(container.run_id != run.id for container in containers):
            done.append(recover(ctx, app, None, run.id, grace, "the next run", close_gate=run.image_id != image_id))
    return done


def _other_image(ctx: Context, app: str, run_id: int, image_id: str) -> bool:
    run = ctx.history.load(app, run_id)
    return run is None or run.image_id != image_id


def orphaned(probe: ProbeContainer, now: float, is_alive: Callable[[int], bool]) -> bool:
    """A probe whose process is gone (a live one may still be reading through it, this run's own
    head start included); one without a process id once it is older than any read takes."""
    if probe.pid:
        return not is_alive(probe.pid)
    return now - probe.created > UNLABELLED_PROBE_AGE


def alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except PermissionError:  # another user's process
        return True
    except (OSError, OverflowError):
        return False
    return True
