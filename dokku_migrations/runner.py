"""Runs one migration container: create, let Dokku attach networks, stream, wait, always remove."""

import os
import select
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import sh

from . import interrupts
from .docker import Docker
from .output import IndentedStream


WAIT_SLICE = 0.25


@dataclass(frozen=True)
class Result:
    exit_code: Optional[int]
    timed_out: bool
    seconds: float
    start_error: str = ""


def run_container(docker: Docker, args: List[str], env: Dict[str, str], stream: IndentedStream,
                  timeout: int, on_created: Callable[[str], None]) -> Result:
    """Whatever happens (failure, timeout, SIGTERM raised as Interrupted), the container is removed."""
    started = time.monotonic()
    cid = docker.create(args, env)
    process = None
    try:
        on_created(cid)
        process = docker.start_attached(cid, out=stream, err=stream)
        deadline = started + timeout if timeout > 0 else None
        while not _finished(process, WAIT_SLICE):
            interrupts.check()
            if deadline is not None and time.monotonic() >= deadline:
                docker.kill(cid)
                _finished(process, 10)
                return Result(None, True, time.monotonic() - started)
        if process.exit_code == 0:
            return Result(0, False, time.monotonic() - started)
        exit_code, start_error = docker.outcome(cid)
        return Result(exit_code, False, time.monotonic() - started, start_error)
    finally:
        try:
            docker.remove(cid)
        finally:
            if process is not None and process.is_alive():
                process.kill()
            stream.finish()


def _finished(process: "sh.RunningCommand", seconds: float) -> bool:
    """Waits up to `seconds` for `docker start --attach`; True once it ended *and* all its output was
    delivered. A pidfd wakes us the moment the client exits (sh's own timed wait polls every 0.1 s);
    `process.process.wait()` then joins sh's reader threads, so no output arrives after our result."""
    if not _exited(process.pid, seconds):
        return False
    try:
        process.wait()
    except sh.ErrorReturnCode:
        pass
    process.process.wait()
    return True


def _exited(pid: int, seconds: float) -> bool:
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except (AttributeError, OSError):
        time.sleep(min(seconds, 0.05))
        return not _alive(pid)
    try:
        return bool(select.select([handle], [], [], seconds)[0])
    finally:
        os.close(handle)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
