"""Which images may go live: the whole policy that keeps an unmigrated image from ever starting.

Dokku leaves `dokku/<app>:latest` on the new image when a release fails, and `ps:restart`,
`ps:scale` and `dokku deploy` start that tag without any release trigger; only our
`scheduler-deploy` trigger stands in their way. So the plugin remembers, per app and image id:

- a status, written *before* anything can go wrong: `pending` as soon as a deploy trigger has the
  image, then `migrated`, `nothing-to-run`, `disabled` or `failed`. A deploy killed in any way
  (SIGKILL, builds:cancel's SIGQUIT, the OOM killer, an import error) leaves `pending`: fail closed;
- whether the image went live (post-deploy, or seen serving): an image that already served can
  never become unstartable because a later re-run on it failed (config:set, ps:start, ps:restore).

An image with no record is refused (deny by default): it never reached the plugin. Builders tag
`dokku/<app>:latest` before any release trigger fires (a herokuish build even minutes before), and a
failed app.json `predeploy`, a `builds:cancel`, or any plugin failing before this one leaves it there.
It may start only if it demonstrably served before: Dokku deployed containers of it (running or
stopped), or it was on the host when the plugin was first installed (`predating.py`). Every build
records its image `pending` at `post-build`; a release whose trigger died before its image had a
record is caught by the name `bin/run` writes before Python even starts.
This module is standard-library only: `scheduler-deploy` must keep working with a broken venv.
"""

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterable, Iterator, NamedTuple, Optional, Sequence, Set

from dokku_migrations.common.files import write_atomic
from dokku_migrations.common.state import RELEASE_STARTED  # written by bin/run, removed once recorded
from dokku_migrations.docker.image import ImageInfo, layered_on

if TYPE_CHECKING:
    from dokku_migrations.docker.client import Docker
    from dokku_migrations.gate.history import Run

PENDING = "pending"
MIGRATED = "migrated"
NOTHING_TO_RUN = "nothing-to-run"
DISABLED = "disabled"
FAILED = "failed"
ROLLED_BACK = "rolled-back"  # its migrations were undone: its code would run against an older schema
UNKNOWN = "unknown"  # went live without the plugin ever running for it
UNSEEN = "unseen"  # no record, never served, not on the host at install: what `refusal` says of it
STARTABLE = (MIGRATED, NOTHING_TO_RUN, DISABLED)
REMEMBERED = 100
FAILED_TAG = "migrations-failed"
PREDATING = "predating.json"  # the app's images on the host when the plugin was first installed


class Record(NamedTuple):
    """A NamedTuple (as everything `scheduler-deploy` defines): no `dataclasses` import on restarts."""

    status: str
    live: bool = False


def may_start(record: Optional[Record]) -> bool:
    """The rule for a recorded image: live, or migrated (or nothing to migrate). An image without a
    record is judged by `refusal`."""
    return record is not None and (record.live or record.status in STARTABLE)


def migrated_value(record: Optional[Record]) -> str:
    """What `migrations:report` shows for the image tagged latest."""
    if record is None or record.status == UNKNOWN:
        return "unknown"
    if record.status in STARTABLE:
        return "true"
    return "pending" if record.status == PENDING else "false"


class Gate:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, app: str) -> Path:
        return self.root / app / "images.json"

    def _read(self, app: str) -> Dict[str, Record]:
        try:
            data = json.loads(self._path(app).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        records = {}
        for image_id, value in data.items():
            if isinstance(value, str):  # the first version stored the status alone
                records[image_id] = Record(value)
            elif isinstance(value, dict) and isinstance(value.get("status"), str):
                records[image_id] = Record(value["status"], bool(value.get("live")))
        return records

    def record(self, app: str, image_id: str) -> Optional[Record]:
        return self._read(app).get(image_id)

    @contextmanager
    def _locked(self, app: str) -> Iterator[Dict[str, Record]]:
        """Read-modify-write under a short blocking flock: post-deploy and a run may write at once."""
        path = self._path(app)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = os.open(path.parent / ".images.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            records = self._read(app)
            yield records
            kept = dict(list(records.items())[-REMEMBERED:])
            data = {key: {"status": value.status, "live": value.live} for key, value in kept.items()}
            write_atomic(path, json.dumps(data).encode())
        finally:
            os.close(handle)

    def mark(self, app: str, image_id: str, status: str) -> None:
        """Newest last; only the last REMEMBERED images are kept. Whether it went live is kept too."""
        if not image_id:
            return
        with self._locked(app) as records:
            old = records.pop(image_id, None)
            records[image_id] = Record(status, bool(old and old.live))

    def release_started(self, app: str) -> Optional[str]:
        """The image a release trigger named before it could record anything ("" if unreadable)."""
        try:
            return (self.root / app / RELEASE_STARTED).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return ""

    def release_recorded(self, app: str) -> None:
        try:
            os.unlink(self.root / app / RELEASE_STARTED)
        except FileNotFoundError:
            pass

    def predates(self, app: str, image_id: str) -> bool:
        """On the host when the plugin was first installed (predating.py). An unreadable list admits
        nothing: fail closed."""
        try:
            ids = json.loads((self.root / app / PREDATING).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(ids, list) and image_id in ids

    def mark_live(self, app: str, image_id: str) -> None:
        if not image_id:
            return
        with self._locked(app) as records:
            old = records.pop(image_id, None)
            records[image_id] = Record(old.status if old else UNKNOWN, True)



def refusal(gate: Gate, docker: "Docker", app: str, image_id: str) -> str:
    """Why `scheduler-deploy` and `scheduler-run` must not start this image ("" when they may): its
    record's status, PENDING for a release that died before recording it, UNSEEN for an image that
    never reached the plugin. The common case — a recorded image — costs one small file read."""
    record = gate.record(app, image_id)
    if record is not None:
        return "" if may_start(record) else record.status
    if stopped_before_recorded(gate, docker, app, image_id):
        return PENDING
    if gate.predates(app, image_id):
        return ""
    if image_id in docker.deployed_image_ids(app, stopped=True):
        gate.mark_live(app, image_id)
        return ""
    return UNSEEN


def derives_from(docker: "Docker", image: ImageInfo, base: ImageInfo, depth: int = 32) -> bool:
    """`image` was built on `base` (Dokku's release rebuilds `FROM dokku/<app>:latest`, by name). The
    parent chain decides where the builder kept one (the classic builder, `docker commit` of app.json's
    predeploy); where it stops (BuildKit, docker-image-labeler, pulled images keep none), the layers do.
    Two images whose every layer is the same (only their config differs) pass for each other: their
    files, the migrations among them, are the same."""
    current = image
    for _ in range(depth):
        if current.id == base.id:
            return True
        parent = docker.inspect_image(current.parent) if current.parent else None
        if parent is None:
            return layered_on(current, base)
        current = parent
    return False


def stopped_before_recorded(gate: Gate, docker: "Docker", app: str, image_id: str) -> bool:
    """A release of this image (which has no record) began and died before recording it."""
    started = gate.release_started(app)
    if started is None:
        return False
    if not started:
        return True  # a half-written name: fail closed
    info = docker.inspect_image(started)
    return info is not None and info.id == image_id


def is_live(gate: Gate, docker: "Docker", app: str, image_id: str) -> bool:
    """Went live before (post-deploy), or serving right now. An image the plugin never recorded
    that Dokku's scheduler deployed (its containers stopped by ps:stop or a reboot) went live before
    the plugin was installed: every release since passes the plugin, which records it first."""
    record = gate.record(app, image_id)
    if record is not None and record.live:
        return True
    if image_id in docker.deployed_image_ids(app, stopped=record is None):
        gate.mark_live(app, image_id)
        return True
    return False


def ahead_of_code(gate: Gate, app: str, runs: Iterable["Run"], serving: Sequence[str]) -> Optional["Run"]:
    """The run whose migrations the schema holds although its image never went live (its deploy
    failed after migrating: checks, a crashing process): the newest such run that succeeded, unless
    a rollback undid it or a newer image went live since. Re-releasing an image that served before
    it (config:set, ps:start) changes nothing: that old code still runs on the newer schema.
    A run seen to change nothing in the database (a code-only deploy) is never ahead: undoing "its"
    migrations would undo those of the code that is serving.
    Runs are given newest first; older runs are read only when a newer image went live."""
    from dokku_migrations.gate.history import ROLLBACK, SUCCEEDED  # not on scheduler-deploy's path

    def went_live(image: str) -> bool:
        return image in serving or getattr(gate.record(app, image), "live", False)

    runs = iter(runs)
    newer_live: Set[str] = set()
    for run in runs:
        if run.status == SUCCEEDED and run.trigger == ROLLBACK:
            return None
        live = {image for image in run.image_ids if went_live(image)}
        if run.status != SUCCEEDED or live or run.schema_changed is False:
            newer_live |= live
            continue
        newer_live -= set(run.image_ids)
        for older in runs:
            newer_live -= set(older.image_ids)
            if not newer_live:
                break
        return None if newer_live else run
    return None


def close(gate: Gate, docker: "Docker", app: str, repo: str, image_id: str, status: str = FAILED) -> str:
    """After a deploy's run failed or died: the image is marked failed, and `latest` points back at
    the image that is serving, so restarts keep serving it. Returns what to tell the user.

    An image that already went live stays startable (its record keeps `live`), and `latest` is left
    alone when it no longer names the failed image (a newer deploy has moved it since).
    """
    gate.mark(app, image_id, status)
    record = gate.record(app, image_id)
    if record is not None and record.live:
        return ""
    latest = docker.inspect_image(f"{repo}:latest")
    if latest is None or latest.id != image_id:
        return ""
    docker.tag(image_id, f"{repo}:{FAILED_TAG}")
    previous = [image for image in docker.deployed_image_ids(app) if image != image_id]
    if previous:
        docker.tag(previous[0], f"{repo}:latest")
        return (f"{repo}:latest points to the running image again, so restarts keep serving it; "
                f"the new image is kept as {repo}:{FAILED_TAG}")
    until = "a fixed image is deployed" if status == ROLLED_BACK else "its migrations succeed"
    return (f"{app} has never run: 'dokku deploy {app}' will refuse {repo}:latest until {until} "
            f"(the image is also tagged {repo}:{FAILED_TAG})")
