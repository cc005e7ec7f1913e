"""Non-blocking flocks: one migration run per app at a time, and never during a deploy of that app.

Both refuse at once instead of waiting: a waiting run would apply migrations written for an
image that may no longer be the one being deployed by the time it gets its turn.
"""

import errno
import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import UserError


def _try_lock(path: Path) -> int:
    """Returns the locked fd, or -1 when someone else holds the lock."""
    handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(handle)
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return -1
        raise
    return handle


@contextmanager
def run_lock(path: Path, app: str) -> Iterator[None]:
    """The plugin's own per-app lock (Dokku's deploy lock is not held by ps:rebuild or config:set)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = _try_lock(path)
    except OSError as error:
        raise UserError(f"Could not take the migration lock of {app} ({error.strerror}): check {path.parent}")
    if handle < 0:
        holder = _holder(path)
        raise UserError(f"Migrations for {app} are already running{holder}: wait for them to finish, "
                        f"then try again (see 'dokku migrations:history {app}')")
    try:
        os.ftruncate(handle, 0)
        os.write(handle, str(os.getpid()).encode())
        yield
    finally:
        os.close(handle)


@contextmanager
def deploy_lock(path: Path, app: str) -> Iterator[None]:
    """Holds Dokku's deploy lock for a manual run, so a `git push` cannot deploy underneath it.

    Never used from a trigger: inside a git deploy the parent `dokku` already holds it.
    """
    if not path.parent.is_dir():
        yield
        return
    try:
        handle = _try_lock(path)
    except OSError as error:
        raise UserError(f"Could not check the deploy lock of {app} ({error.strerror}): check {path}")
    if handle < 0:
        raise UserError(f"A deploy of {app} is in progress: its migrations run as part of it; "
                        f"run 'dokku migrations:run {app}' again once it has finished")
    try:
        yield
    finally:
        os.close(handle)


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        return ""
    return f" (process {pid})" if pid.isdigit() else ""
