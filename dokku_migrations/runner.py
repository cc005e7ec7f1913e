"""Runs one migration container: create, let Dokku attach networks, stream, wait, always remove."""

import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import sh

from .docker import Docker
from .output import IndentedStream


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
        try:
            process.wait(timeout=timeout if timeout > 0 else None)
        except sh.TimeoutException:
            docker.kill(cid)
            _settle(process)
            return Result(None, True, time.monotonic() - started)
        except sh.ErrorReturnCode:
            pass
        exit_code, start_error = docker.outcome(cid)
        return Result(exit_code, False, time.monotonic() - started, start_error)
    finally:
        try:
            docker.remove(cid)
        finally:
            if process is not None and process.is_alive():
                process.kill()
            stream.finish()


def _settle(process: "sh.RunningCommand") -> None:
    """Lets `docker start --attach` notice the kill and flush the last output it had."""
    try:
        process.wait(timeout=10)
    except (sh.TimeoutException, sh.ErrorReturnCode):
        pass
