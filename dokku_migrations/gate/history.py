"""One record per run (deploy or manual; success, failure, timeout, skip) and its output.

Layout: $DOKKU_LIB_ROOT/data/migrations/<app>/runs/<id>.json and <id>.log, mode 0600 in 0700
directories: output may hold anything a migration printed, so only the dokku user reads it.
The log is written as the output streams; the record is rewritten atomically when the run ends.
"""

import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Dict, Iterator, List, Optional

from dokku_migrations.common.errors import UserError
from dokku_migrations.common.files import write_atomic

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
TIMED_OUT = "timed-out"
INTERRUPTED = "interrupted"
SKIPPED = "skipped"
ERROR = "error"
DEPLOY_TRIGGERS = ("pre-release-builder", "pre-deploy")
ROLLBACK = "migrations:rollback"


@dataclass
class Run:
    id: int
    app: str
    trigger: str
    started_at: float
    status: str = RUNNING
    image: str = ""
    image_id: str = ""
    command: str = ""
    source: str = ""
    exit_code: Optional[int] = None
    duration: Optional[float] = None
    message: str = ""
    stopped_with: str = ""  # the signal that ended it when it was stopped (timeout, interrupt): SIGTERM or SIGKILL
    released_image_id: str = ""  # the image id after Dokku's release step relabelled it (what goes live)
    ahead_reported: bool = False  # the end of its failed deploy said the schema is ahead of the code
    dokku_tasks: str = ""  # Dokku's own release tasks of this deploy that run the same migrations (releasetasks.py)
    schema_changed: Optional[bool] = None  # did the database change (schema or migration ledgers)? None: not seen
    schema_change: str = ""  # how: "+1 table, +2 columns; 1 migration recorded" (database/schema.py)
    schema_note: str = ""  # why the database could not be seen, when it could not
    schema_before: str = ""  # digests of the fingerprints (database/observe.py)
    schema_after: str = ""
    # every container the run started, in order (more than one after a lock timeout, migrate.run_attempts):
    # {"exit_code", "seconds", "lock_timeout" (the option passed, "" for none), "gave_up_on_lock"}
    attempts: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status != RUNNING

    @property
    def image_ids(self) -> List[str]:
        """The image as the run saw it and, after Dokku's release relabelled it, as it went live."""
        return [image for image in (self.released_image_id, self.image_id) if image]

    @property
    def deploy(self) -> bool:
        """Run by a deploy, not by `migrations:run` or `migrations:rollback`."""
        return self.trigger in DEPLOY_TRIGGERS

    @property
    def settles_gate(self) -> bool:
        """Its image may start only if it ends well: a deploy's, or a rollback's (a down migration
        stopped halfway leaves a schema the image's code does not expect)."""
        return self.deploy or self.trigger == ROLLBACK

    def as_json(self) -> dict:
        return asdict(self)


def iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


@contextmanager
def guard(action: str) -> Iterator[None]:
    """Maps a file-system failure (disk full, permissions) to one line naming what failed."""
    try:
        yield
    except OSError as error:
        raise UserError(f"Could not {action} ({error.strerror or error}): check free space and "
                        "permissions under $DOKKU_LIB_ROOT/data/migrations") from None


class History:
    def __init__(self, root: Path) -> None:
        self.root = root

    def runs_dir(self, app: str) -> Path:
        return self.root / app / "runs"

    def start(self, app: str, trigger: str) -> Run:
        """Allocates the next id with O_EXCL, so two processes can never take the same one."""
        with guard("start the run record"):
            directory = self.runs_dir(app)
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.root / app, 0o700)
            run_id = self.latest_id(app) + 1
            while True:
                try:
                    handle = os.open(directory / f"{run_id}.json", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                    os.close(handle)
                    break
                except FileExistsError:
                    run_id += 1
            run = Run(id=run_id, app=app, trigger=trigger, started_at=time.time())
            self.save(run)
            return run

    def open_log(self, run: Run) -> BinaryIO:
        with guard("open the run's log"):
            handle = os.open(self.log_path(run.app, run.id), os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
            return os.fdopen(handle, "wb")

    def log_path(self, app: str, run_id: int) -> Path:
        return self.runs_dir(app) / f"{run_id}.log"

    def save(self, run: Run) -> None:
        with guard("save the run record"):
            write_atomic(self.runs_dir(run.app) / f"{run.id}.json", json.dumps(run.as_json()).encode())

    def finish(self, run: Run, status: str, keep: int, exit_code: Optional[int] = None, message: str = "") -> None:
        run.status = status
        run.exit_code = exit_code
        run.message = message
        run.duration = round(time.time() - run.started_at, 3)
        self.save(run)
        self.prune(run.app, keep)

    def lock_path(self, app: str) -> Path:
        """The app's run lock (lock.run_lock): one run of an app at a time."""
        return self.root / app / ".lock"

    def abandon(self, app: str, run_id: int, message: str) -> Optional[Run]:
        """Finishes a run its process never finished (killed), if nobody has since; returns it then."""
        run = self.load(app, run_id)
        if run is None or run.finished:
            return None
        run.status = INTERRUPTED
        run.message = message
        run.duration = round(time.time() - run.started_at, 3)
        self.save(run)
        return run

    def unfinished(self, app: str) -> List[Run]:
        return [run for run in self.runs(app) if not run.finished]

    def append_note(self, app: str, run_id: int, note: str) -> None:
        """A line of the plugin's own at the end of a run's log (what happened after its output)."""
        try:
            with open(self.log_path(app, run_id), "ab") as log:
                log.write(f"[dokku-migrations] {note}\n".encode())
        except OSError:
            pass

    def ids(self, app: str) -> List[int]:
        directory = self.runs_dir(app)
        if not directory.is_dir():
            return []
        return sorted(int(p.stem) for p in directory.glob("*.json") if p.stem.isdigit())

    def latest_id(self, app: str) -> int:
        ids = self.ids(app)
        return ids[-1] if ids else 0

    def load(self, app: str, run_id: int) -> Optional[Run]:
        path = self.runs_dir(app) / f"{run_id}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8") or "null")
        except (FileNotFoundError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        known = {name for name in Run.__dataclass_fields__}
        return Run(**{k: v for k, v in data.items() if k in known})

    def runs(self, app: str, limit: Optional[int] = None) -> Iterator[Run]:
        """Newest first."""
        ids = list(reversed(self.ids(app)))
        for run_id in ids[:limit] if limit else ids:
            run = self.load(app, run_id)
            if run is not None:
                yield run

    def prune(self, app: str, keep: int) -> None:
        for run_id in self.ids(app)[:-keep] if keep > 0 else []:
            _unlink(self.runs_dir(app) / f"{run_id}.json")
            _unlink(self.log_path(app, run_id))

    def copy(self, old: str, new: str) -> None:
        if (self.root / old).is_dir():
            shutil.copytree(self.root / old, self.root / new, dirs_exist_ok=True)
            for path in self.runs_dir(new).glob("*.json"):
                run = self.load(new, int(path.stem)) if path.stem.isdigit() else None
                if run is not None:
                    run.app = new
                    self.save(run)

    def delete(self, app: str) -> None:
        shutil.rmtree(self.root / app, ignore_errors=True)


def _unlink(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
