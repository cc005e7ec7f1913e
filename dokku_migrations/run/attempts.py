"""One run, one or more containers: the migration is started again when it gave up waiting for a lock
(database/locktimeout.py decides when), and everything a run guarantees holds across its attempts — the
app's locks (held by the caller throughout), one deadline (`timeout`) for the whole run, each attempt
stopped with the grace period and watched by its own watchdog, every attempt in the run's record
(`attempts`) and log (a line of the plugin's between two), a signal between attempts ending the run as
one during an attempt does (the gate is the caller's, decided once, on the last attempt)."""

import os
import time
from pathlib import Path
from typing import BinaryIO, Callable, NamedTuple, Optional, Tuple

from dokku_migrations.common import interrupts, output
from dokku_migrations.common.errors import Interrupted
from dokku_migrations.context import Context
from dokku_migrations.database import locktimeout
from dokku_migrations.docker.image import ImageInfo
from dokku_migrations.gate import watchdog
from dokku_migrations.gate.history import Run
from dokku_migrations.run.runner import Listener, Result, Spec, run_container
from dokku_migrations.run.settings import Resolved


class Attempts(NamedTuple):
    gave_up: int  # attempts that gave up waiting for a lock
    last_gave_up: bool
    out_of_time: bool  # the run's timeout left no room for another attempt


def run_attempts(ctx: Context, app: str, run: Run, spec: Spec, stream: output.IndentedStream, log: BinaryIO,
                 settings: Resolved, image: ImageInfo, on_created: Callable[[str], None],
                 quiet: Optional[Listener] = None) -> Tuple[Result, Attempts]:
    """Runs the migration until an attempt ends other than by giving up on a lock, or no retry is left;
    returns the last attempt's result. `on_created` is called with each attempt's container (Dokku's
    post-container-create; `run.attempts` is still empty for the first); `quiet` hears every attempt."""
    seconds = settings.lock_timeout
    passed = seconds  # the lock timeout this attempt gets: none once a connection pooler refused it
    deadline = time.monotonic() + settings.timeout if settings.timeout else None
    gave_up = 0
    while True:
        timeout = 0 if deadline is None else max(int(deadline - time.monotonic() + 0.999), 1)
        start = _position(log)

        def watch(cid: str, limit: int = timeout) -> watchdog.Watchdog:
            return watchdog.spawn(app, run.id, cid, limit, settings.grace, os.environ)

        result = run_container(ctx.docker, spec, stream, timeout, settings.grace, image.stop_signal,
                               on_created=on_created, watch=watch, quiet=quiet)
        stopped = result.timed_out or result.interrupted or result.start_error
        failed = result.exit_code not in (0, None) and not stopped
        tail = _output_since(ctx.history.log_path(app, run.id), start) if failed and start is not None else b""
        on_lock = locktimeout.gave_up_on_lock(tail)
        run.attempts.append({"exit_code": result.exit_code, "seconds": round(result.seconds, 3),
                             "lock_timeout": locktimeout.option(passed) if passed > 0 else "",
                             "gave_up_on_lock": on_lock})
        ctx.history.save(run)
        if passed > 0 and not on_lock and locktimeout.refused_by_pooler(tail):
            _note(stream, locktimeout.pooler_note(app))
            spec = Spec(*locktimeout.without_lock_timeout(spec.args, spec.env, passed), env_file=spec.env_file)
            passed = 0
            continue
        if not on_lock:
            return result, Attempts(gave_up, False, False)
        gave_up += 1
        left = None if deadline is None else deadline - time.monotonic()
        delay = locktimeout.retry_delay(gave_up, settings.lock_retries, seconds, left)
        if delay is None:
            return result, Attempts(gave_up, True, gave_up <= settings.lock_retries)
        most = settings.lock_retries + 1 + (len(run.attempts) - gave_up)  # with a pooler's refusal
        _note(stream, locktimeout.retry_note(len(run.attempts), most, seconds, delay))
        try:
            _pause(delay)
        except Interrupted as signal:
            _note(stream, f"[dokku-migrations] Interrupted by {signal.signame} before attempt {len(run.attempts) + 1}")
            raise


def _note(stream: output.IndentedStream, text: str) -> None:
    """A line of the plugin's between attempts, on the terminal and in the log at once (the wait follows)."""
    stream.note(text)
    stream.flush()


def _position(log: BinaryIO) -> Optional[int]:
    try:
        return log.tell()
    except (OSError, ValueError):
        return None


def _output_since(path: Path, start: int) -> bytes:
    """The end of what an attempt printed, read back from the run's log (bounded: only its tail matters)."""
    try:
        with open(path, "rb") as handle:
            end = handle.seek(0, os.SEEK_END)
            handle.seek(max(start, end - locktimeout.SCAN_BYTES))
            return handle.read()
    except OSError:
        return b""


def _pause(seconds: float) -> None:
    """A wait that a signal cuts short (as Interrupted)."""
    end = time.monotonic() + seconds
    while True:
        interrupts.check()
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.25))
