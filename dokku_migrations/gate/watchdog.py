"""The watchdog: a process of its own beside every migration container, so the container never
outlives the plugin that watches it.

The plugin keeps the write end of a pipe; the watchdog blocks reading the other end. A normal end
of the run writes one byte (dismissed: the watchdog exits). If the plugin dies in any way — SIGKILL,
the OOM killer, `builds:cancel`'s SIGQUIT to the deploy's process group — the kernel closes its end
and the read returns nothing: the watchdog stops the container gracefully, removes it, records the
run as interrupted and closes the gate (leftovers.recover).

It runs in a session of its own (a signal to the deploy's process group cannot reach it), with no
terminal and no inherited output pipe (the deploy's output ends when the deploy does), and with
`python -S`: it imports the standard library and the plugin's own modules only, and until it has to
act only what waiting needs (it starts beside every migration, on the deploy's CPUs: loading
subprocess, pathlib and typing as well cost ~40M instructions more).
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

from dokku_migrations.common.dismissal import Dismissal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping

BACKSTOP_MARGIN = 30


class Watchdog(Dismissal):
    """The migration's watchdog, dismissed when the run ends under the plugin's eyes."""


def spawn(app: str, run_id: int, cid: str, timeout: int, grace: int, env: Mapping[str, str]) -> Watchdog:
    import subprocess

    from dokku_migrations.common.paths import PLUGIN_DIR
    read_end, write_end = os.pipe()
    try:
        subprocess.Popen(
            [sys.executable, "-S", "-m", "dokku_migrations.gate.watchdog", str(read_end), app, str(run_id), cid,
             str(timeout), str(grace)],
            pass_fds=(read_end,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, cwd=PLUGIN_DIR, env=dict(env))
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    return Watchdog(write_end)


def main(argv: list[str]) -> int:
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    fd, app, run_id, cid = int(argv[0]), argv[1], int(argv[2]), argv[3]
    timeout, grace = int(argv[4]), int(argv[5])
    # A plugin that is alive but stuck (e.g. blocked writing to a stalled SSH session) would never
    # enforce the timeout: past it, with room for the plugin's own stop, the watchdog stops the container.
    backstop = time.monotonic() + timeout + grace + BACKSTOP_MARGIN if timeout else None
    while True:
        wait = None if backstop is None else max(backstop - time.monotonic(), 0)
        if select.select([fd], [], [], wait)[0]:
            if os.read(fd, 1):
                return 0
            break
        from dokku_migrations.context import Context
        from dokku_migrations.run.runner import stop
        stop(Context.from_environ(os.environ).docker, cid, grace, "SIGTERM")
        backstop = None
    from dokku_migrations.common.lock import held_if_free
    from dokku_migrations.context import Context
    from dokku_migrations.docker.client import MigrationContainer
    from dokku_migrations.gate.leftovers import recover
    ctx = Context.from_environ(os.environ)
    state = ctx.docker.state(cid)
    container = MigrationContainer(cid, run_id, running=state[0]) if state else None
    # A new run that took the app's lock since (a quick redeploy, maybe of the same image) decides
    # the gate itself: closing it now could re-point `latest` under that deploy.
    with held_if_free(ctx.history.lock_path(app)) as free:
        recover(ctx, app, container, run_id, grace, "its watchdog", close_gate=free)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Exception:  # nobody is left to read an error: the next run's reaper finishes the job
        sys.exit(1)
