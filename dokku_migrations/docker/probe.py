"""Reading small files out of an image without running it: never-started containers, one per file.

The engine holds a container's lock while it packs a file out of it (Docker 20.10 re-executes
itself for that, ~35 ms), so the files of one container would come one after the other; those of
several containers come together. Each container's create, archive and remove go out at once on
a connection of their own and are answered in order: the engine does all of it while the plugin
goes on, and removes the container even if its answers are never read. Symlinks are followed
inside the image's own filesystem (the engine resolves a link within the container's root),
never the host's.

Like engine.py, this loads nothing heavy: headstart.py starts a probe before the plugin is loaded.
"""

from __future__ import annotations

import os

from dokku_migrations.common.errors import UserError
from dokku_migrations.docker import labels
from dokku_migrations.docker.engine import EngineError, TooLarge, decode_stat, failed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dokku_migrations.docker.engine import Engine, Pending

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
SYMLINK_MODE = 1 << 27  # Go's os.ModeSymlink, as the engine reports a path's mode


class Probe:
    """`paths` of `image`, asked for when made. The containers are labelled with who reads (`owner`:
    the app, or `try`), the app's own label when it is an app's (the next run of the app finds them in
    the one listing it makes anyway), and this process's id: a process killed in its first instants
    (SIGKILL, `builds:cancel`) may leave a container whose removal never reached the engine, and its
    id says the container is orphaned (leftovers.reap)."""

    def __init__(self, engine: Engine, image: str, paths: list[str], owner: str, for_app: bool = True) -> None:
        self.engine = engine
        self.image = image
        self.owner = owner
        self.labels = {labels.PROBE: owner, labels.PROBE_PID: str(os.getpid())}
        if for_app:
            self.labels[labels.APP] = owner
        self.doing = f"reading files from {image}"
        self.paths = list(paths)
        self.sent = {path: self._send(path) for path in paths}  # the path wanted -> what reads it now

    def _send(self, target: str) -> tuple[str, str, Pending]:
        name = f"dokku-migrations-probe-{os.urandom(8).hex()}"
        body = {"Image": self.image, "Cmd": ["/nonexistent"], "Labels": self.labels,
                "NetworkDisabled": True, "HostConfig": {"NetworkMode": "none"}}
        return target, name, self.engine.send([
            ("POST", "/containers/create", {"name": name}, body),
            ("GET", f"/containers/{name}/archive", {"path": target}, None),
            ("DELETE", f"/containers/{name}", {"force": "1", "v": "1"}, None),
        ], self.doing, limit=MAX_MANIFEST_BYTES + 64 * 1024)

    def collect(self) -> dict[str, bytes | None]:
        """Each file's bytes, None when it is not a regular file in the image. A symlink's target is
        read in a second round, by a container of its own; a link to a link is not followed."""
        found: dict[str, bytes | None] = {}
        for _ in range(2):
            following: dict[str, tuple[str, str, Pending]] = {}
            for path, (target, answers) in self._finish().items():
                created, archive = (answers + [None, None])[:2]
                if isinstance(created, EngineError):
                    raise failed(created, self.doing)
                if isinstance(archive, TooLarge):
                    raise too_large(target)
                if isinstance(archive, EngineError):
                    if archive.status in (404, 400) or "not a directory" in archive.message:
                        found[path] = None
                        continue
                    raise failed(archive, f"reading {target} from the image")
                if archive is None:
                    raise failed(EngineError(0, "no answer"), f"reading {target} from the image")
                _, headers, data = archive
                stat = decode_stat(headers.get("x-docker-container-path-stat", ""))
                link = stat.get("linkTarget") or ""
                if int(stat.get("mode") or 0) & SYMLINK_MODE and link and link != target:
                    following[path] = self._send(link)
                    continue
                found[path] = _single_file(data, target)
            self.sent = following
        self.discard()
        return {path: found.get(path) for path in self.paths}

    def discard(self) -> None:
        """Waits for what was sent, so that every container is gone before the process ends."""
        self._finish()

    def _finish(self) -> dict[str, tuple[str, list[Any]]]:
        """Every answer of every container sent; a container whose removal went unanswered (the
        engine failed, a body over the limit was left unread) is removed by name."""
        sent, self.sent = self.sent, {}
        results: dict[str, tuple[str, list[Any]]] = {}
        problem: BaseException | None = None
        for path, (target, name, pending) in sent.items():
            answers: list[Any] = []
            try:
                answers = list(pending.answers())
            except (UserError, OSError) as error:
                problem = problem or error
            removed = answers[2:3]
            if not removed or (isinstance(removed[0], EngineError) and removed[0].status != 404):
                try:
                    self.engine.remove(name)
                except UserError as error:
                    problem = problem or error
            results[path] = (target, answers)
        if problem is not None:
            raise problem
        return results


def _single_file(data: bytes, path: str) -> bytes | None:
    """The one regular file in an archive the engine sent; None for a directory or anything else."""
    import io
    import tarfile  # only when a file was found: a deploy without one never pays for it
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        member = next(iter(archive.getmembers()), None)
        if member is None or not member.isfile():
            return None
        if member.size > MAX_MANIFEST_BYTES:
            raise too_large(path)
        handle = archive.extractfile(member)
        return handle.read() if handle else None


def too_large(path: str) -> UserError:
    return UserError(f"{path} in the image is larger than the {MAX_MANIFEST_BYTES // (1024 * 1024)} MB "
                     "a manifest may be")
