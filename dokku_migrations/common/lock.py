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

from dokku_migrations.common.errors import UserError


class Busy(UserError):
    """Another run of the app holds its run lock."""


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
        raise Busy(f"Migrations for {app} are already running{holder}: wait for them to finish, "
                   f"then try again (see 'dokku migrations:history {app}')")
    try:
        os.ftruncate(handle, 0)
        os.write(handle, str(os.getpid()).encode())
        yield
    finally:
        os.close(handle)


@contextmanager
def held_if_free(path: Path) -> Iterator[bool]:
    """The run lock if nobody holds it (True), else nothing (False): for the watchdog, which must
    never wait behind a run, nor act as if it held the lock when it does not."""
    try:
        handle = _try_lock(path)
    except OSError:
        handle = -1
    try:
        yield handle >= 0
    finally:
        if handle >= 0:
            os.close(handle)


@contextmanager
def deploy_lock(path: Path, app: str, holder: str) -> Iterator[None]:
    """Takes Dokku's deploy lock for a manual run as Dokku's own deploys do (plugins/common/functions
    acquire_advisory_lock / release_advisory_lock): flock the file, write who holds it (`builds:cancel`
    reads it as a build id), and on release unlock and remove it, since `apps:locked` and
    `apps:report` treat the file's existence as "locked".

    A file that already exists is refused even when nobody holds its flock: it is either a deploy
    in progress or `dokku apps:lock`, and in both cases Dokku reports the app as locked, so a manual
    migration would run behind the back of whoever locked it. Never used from a trigger: inside a
    git deploy the parent `dokku` already holds it.

    The file can vanish while the run holds it (`apps:unlock`, `builds:cancel`), and a deploy may then
    create a new one: only the file this run created is removed. A missing directory is refused, never
    run unlocked: Dokku's own deploys cannot lock the app either (`exec 200>FILE` fails).
    """
    try:
        handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        raise UserError(_locked_message(path, app))
    except FileNotFoundError:
        raise UserError(f"Could not take the deploy lock of {app}: Dokku's directory {path.parent} is missing; "
                        f"run 'sudo dokku plugin:install' (Dokku's apps plugin makes it), then run it again")
    except OSError as error:
        raise UserError(f"Could not take the deploy lock of {app} ({error.strerror}): check {path}")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UserError(f"A deploy of {app} is in progress: its migrations run as part of it; "
                            f"run 'dokku migrations:run {app}' again once it has finished")
        os.write(handle, holder.encode())
        try:
            yield
        finally:
            _remove_if_ours(path, handle)
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        os.close(handle)


def _remove_if_ours(path: Path, handle: int) -> None:
    try:
        current, ours = os.stat(path), os.fstat(handle)
        if (current.st_dev, current.st_ino) == (ours.st_dev, ours.st_ino):
            os.unlink(path)
    except FileNotFoundError:
        pass


def _locked_message(path: Path, app: str) -> str:
    """A held flock is a deploy; a bare file is `apps:lock` (or a killed deploy's leftover)."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        handle = -1
    try:
        if handle >= 0:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return (f"A deploy of {app} is in progress: its migrations run as part of it; "
                f"run 'dokku migrations:run {app}' again once it has finished")
    finally:
        if handle >= 0:
            os.close(handle)
    return (f"{app} is locked ('dokku apps:lock', or a deploy that was killed left its lock): "
            f"once no deploy is running, 'dokku apps:unlock {app}' and run it again")


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        return ""
    return f" (process {pid})" if pid.isdigit() else ""


INHERITED_DEPLOY_LOCK = 200  # the fd Dokku's `acquire_advisory_lock` holds the deploy lock on


def held_by_another(path: Path) -> bool:
    """Whether a deploy other than the one this process runs in holds Dokku's deploy lock. A git deploy's
    children inherit its lock on fd 200, and a new flock of the file fails for them too: that fd,
    naming the same file, says the lock is their own deploy's. Only asks (LOCK_NB), never waits."""
    try:
        held = os.stat(path)
    except OSError:
        return False
    try:
        inherited = os.fstat(INHERITED_DEPLOY_LOCK)
        if (inherited.st_dev, inherited.st_ino) == (held.st_dev, held.st_ino):
            return False
    except OSError:
        pass
    try:
        handle = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(handle)
