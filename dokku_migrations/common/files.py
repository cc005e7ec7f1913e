"""The one atomic file write: a reader sees the old content or the new, never half of either."""

import os
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Temp file beside the target, fsync, rename over it; the temp file never outlives a failure.

    The directory is created 0700 if missing: everything the plugin keeps is the dokku user's alone.
    """
    import tempfile  # here: `scheduler-deploy` imports this module on every restart and rarely writes

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
