"""Runs one migration container: create, watchdog, networks, attach, start, stream, wait for the
real exit, stop gracefully on timeout or interrupt, always remove; while it runs silent, say what
it is doing (run/quiet.py) between slices of the stream.

The exit code comes only from the engine's `wait`, never from a client's view: an output stream
that ends early (a dropped connection) is re-attached, and the run goes on until the container has
really exited. Stopping is Docker's own `stop` done in the open: the stop signal, a grace period
in which the migration can release its locks (and its output is still shown), then SIGKILL.
"""

import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Protocol, Tuple

from dokku_migrations.common import interrupts, output
from dokku_migrations.common.errors import Interrupted
from dokku_migrations.docker.client import Docker
from dokku_migrations.docker.engine import Hijacked

WAIT_SLICE = 0.25
EXIT_SETTLE = 2.0  # how long an ended stream may precede the engine's exit status
KILL_WAIT = 30


@dataclass(frozen=True)
class Spec:
    """What `docker container create` gets: argv without values, the client's environment holding
    the `--env=KEY` values, and the env file piped to it (see clientenv.py)."""

    args: List[str]
    env: Dict[str, str]
    env_file: bytes = b""
    owned_by: Tuple[str, ...] = ()  # labels only this container carries, together: found by them if need be


@dataclass(frozen=True)
class Result:
    exit_code: Optional[int]
    seconds: float
    timed_out: bool = False
    interrupted: str = ""      # the signal that interrupted the plugin
    stopped_with: str = ""     # how the container was stopped: its stop signal, or SIGKILL after the grace
    start_error: str = ""
    stream_lost: bool = False  # the output stream dropped once; the run was followed to its real end


class Watcher(Protocol):
    """What the runner needs of a watchdog: to be told that the run ended under our eyes."""

    def dismiss(self) -> None: ...


class Listener(Protocol):
    """What the runner needs of run/quiet.py's Quiet: told of output, asked between slices."""

    def spoke(self) -> None: ...

    def tick(self, elapsed: float, left: Optional[float]) -> Optional[str]: ...


class _Deadline(Exception):
    pass


def run_container(docker: Docker, spec: Spec, stream: output.IndentedStream, timeout: int, grace: int,
                  stop_signal: str, on_created: Callable[[str], None],
                  watch: Callable[[str], Watcher], quiet: Optional[Listener] = None) -> Result:
    """Whatever happens (failure, timeout, a signal), the container is stopped and removed."""
    started = time.monotonic()
    deadline = started + timeout if timeout > 0 else None
    try:
        cid = docker.create(spec.args, spec.env, spec.env_file)
    except BaseException:
        if spec.owned_by:  # the client may have died after the engine made the container (OOM, SIGKILL)
            try:
                docker.remove_labelled(list(spec.owned_by))
            except Exception:  # the create's failure is the one to report; the next run reaps by label
                pass
        raise
    watcher: Optional[Watcher] = None
    attach: Optional[Hijacked] = None
    try:
        watcher = watch(cid)
        on_created(cid)
        attach = docker.attach(cid)
        start_error = docker.start(cid)
        if start_error:
            return Result(None, time.monotonic() - started, start_error=start_error)
        if quiet is not None:
            quiet.spoke()

        def check() -> None:
            interrupts.check()
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise _Deadline()
            said = quiet.tick(now - started, None if deadline is None else deadline - now) if quiet else None
            if said:
                stream.note(said)

        lost: List[bool] = []
        try:
            exit_code = _follow(docker, cid, attach, stream, check, lost, quiet.spoke if quiet else lambda: None)
            return Result(exit_code, time.monotonic() - started, stream_lost=bool(lost))
        except Interrupted as signal:
            reason = signal.signame
        except _Deadline:
            reason = ""
        stopped_with, stopped_code = stop(docker, cid, grace, stop_signal or "SIGTERM", attach, stream)
        return Result(stopped_code, time.monotonic() - started, timed_out=not reason, interrupted=reason,
                      stopped_with=stopped_with, stream_lost=bool(lost))
    finally:
        try:
            if attach is not None:
                attach.close()
            docker.remove(cid)
            if watcher is not None:  # only once the container is gone: else the watchdog finishes the job
                watcher.dismiss()
        finally:
            stream.finish()


def _follow(docker: Docker, cid: str, attach: Hijacked, stream: output.IndentedStream,
            check: Callable[[], None], lost: List[bool], spoke: Callable[[], None]) -> int:
    """Streams output until the container has really exited; re-attaches when the stream drops."""
    while True:
        for _, payload in attach.frames(WAIT_SLICE, check):
            stream.write(payload)
            spoke()
        exit_code = docker.wait(cid, EXIT_SETTLE)
        if exit_code is not None:
            return exit_code
        if not lost:
            lost.append(True)
            stream.note("(the output stream dropped; following the migration until it really exits)")
        check()
        attach.close()
        attach = docker.attach(cid)


def stop(docker: Docker, cid: str, grace: int, stop_signal: str, attach: Optional[Hijacked] = None,
         stream: Optional[output.IndentedStream] = None) -> Tuple[str, Optional[int]]:
    """Docker's `stop`, step by step: the stop signal, up to `grace` seconds (output still shown),
    then SIGKILL. Returns the signal that ended it, and its exit code. A second interrupt during the
    grace period kills at once."""
    docker.signal(cid, stop_signal)
    end = time.monotonic() + grace

    def in_grace() -> None:
        if time.monotonic() >= end:
            raise _Deadline()

    try:
        with interrupts.heard_again():
            if attach is not None and stream is not None and not attach.closed:
                for _, payload in attach.frames(WAIT_SLICE, in_grace):
                    stream.write(payload)
            exit_code = docker.wait(cid, max(end - time.monotonic(), 0.001))
        if exit_code is not None:
            return stop_signal, exit_code
    except (_Deadline, Interrupted):
        pass
    docker.signal(cid, "SIGKILL")
    return "SIGKILL", docker.wait(cid, KILL_WAIT)
