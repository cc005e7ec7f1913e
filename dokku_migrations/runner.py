"""Runs one migration container: create, let Dokku attach networks, stream, wait, always remove."""

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
    delivered (sh's timed wait returns when the client exits, before its reader threads are joined:
    `process.process.wait()` joins them, so no output arrives after our result line)."""
    try:
        process.wait(timeout=seconds)
    except sh.TimeoutException:
        return False
    except sh.ErrorReturnCode:
        pass
    process.process.wait()
    return True
