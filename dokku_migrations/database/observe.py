"""What a run did to the database: a fingerprint before the migration starts and after it ends, and,
while it runs, what its connections are doing (asked without waiting, through the same client).

Observation never decides a deploy: no URL, an unknown scheme, no client image, a database that
does not answer — the run goes on exactly as without it, and the person at `git push` reads once
what could not be seen. Only an interrupt passes through (the run must stop at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Union

from dokku_migrations.common.errors import Interrupted, UserError
from dokku_migrations.database.client import Session, Unobservable, client_image, networking, open_session, reap
from dokku_migrations.database.url import MYSQL, Target, Unsupported
from dokku_migrations.docker.client import Docker

if TYPE_CHECKING:
    from dokku_migrations.database import schema as schemas

# `activity` and `schema` (with OpenSSL's hashlib) are imported by the methods that read a database:
# every release makes an Observer, and an app without a database never needs them.

ASK_SECONDS = 20.0  # a catalog read answers in milliseconds; a database that takes this long is not seen
POLL_SECONDS = 0.01  # how long a look for the answer about activity may take: the migration's output waits meanwhile


@dataclass
class Observation:
    """What goes on the run record: whether the database changed (None: not seen), how, and why not."""

    changed: Optional[bool] = None
    summary: str = ""
    note: str = ""
    before: str = ""
    after: str = ""


class Observer:
    """Opened when the migration container exists (its networking is known), closed after the run."""

    def __init__(self, docker: Docker, app: str, target: Union[Target, Unsupported], image_setting: str,
                 check: Callable[[], None]) -> None:
        self.docker = docker
        self.app = app
        self.target = target
        self.image_setting = image_setting
        self.check = check
        self.session: Optional[Session] = None
        self.source = ""
        self._before: Optional[schemas.Schema] = None
        self.result = Observation(note=target.reason if isinstance(target, Unsupported) else "")
        self._migration = ""
        self._addresses: List[str] = []  # the migration container's, then the client's own
        self._own: List[str] = []
        self._wanted = 0  # questions about activity asked for, and the one the answer in flight is for
        self._asked = 0
        self._unwatched: Optional[str] = None  # why activity cannot be asked: said once, then ""

    def before(self, migration_cid: str) -> None:
        """The fingerprint before anything ran; on any failure, the note says why and nothing else happens."""
        if not isinstance(self.target, Target):
            return
        target = self.target
        self._migration = migration_cid
        try:
            reap(self.docker, self.app)
            migration: Dict[str, Any] = self.docker.container(migration_cid) or {}
            _, others, links = networking(migration)
            image, self.source = client_image(self.docker, self.app, target, self.image_setting, links, others)
            self.session = open_session(self.docker, self.app, target, image, migration)
            self._before = self._fingerprint()
            self.result.before = self._before.digest
        except (Unobservable, UserError) as error:
            self._give_up(str(error.message if isinstance(error, UserError) else error))
        except Interrupted:
            self.close()
            raise

    def follow(self, migration_cid: str) -> None:
        """The container of a later attempt (the run tried again after a lock timeout): its connections are
        the ones to watch, by its addresses, read once it runs. The fingerprint stays the first one's."""
        self._migration, self._addresses = migration_cid, []

    def after(self) -> Observation:
        """The fingerprint after the run, compared; the session is closed either way."""
        try:
            if self.session is not None and self._before is not None:
                from dokku_migrations.database import schema as schemas
                after = self._fingerprint()
                change = schemas.compare(self._before, after)
                self.result.after = after.digest
                self.result.changed = change.changed
                self.result.summary = schemas.describe(change)
        except (Unobservable, UserError) as error:
            self._give_up(str(error.message if isinstance(error, UserError) else error))
        finally:
            self.close()
        return self.result

    def _fingerprint(self) -> schemas.Schema:
        from dokku_migrations.database import schema as schemas
        assert self.session is not None and isinstance(self.target, Target)
        kind = self.target.kind
        found = schemas.parse(self._ask(schemas.first_request(kind)), kind)
        if kind == MYSQL and found.ledger_tables():
            ledgers = schemas.parse(self._ask(schemas.ledger_request(found.ledger_tables())), kind)
            found.ledgers = ledgers.ledgers
        return found

    def _ask(self, sql: str) -> str:
        assert self.session is not None
        code, text = self.session.ask(sql, ASK_SECONDS, self.check)
        if code != 0:
            raise Unobservable(f"its client said: {last_line(text)}" if text.strip() else
                               f"its client exited with {code}")
        return text

    def ask_activity(self) -> None:
        """Asks what the migration's connections are doing, and returns at once (see `activity`)."""
        self._wanted += 1
        if self._unwatched is not None:
            return
        if self.session is None or self.session.closed or not isinstance(self.target, Target):
            self._unwatched = ""  # the database is not observed: the run's end says why, once
            return
        if self.session.busy:
            return  # the answer to an earlier question comes first; this one is sent once it is in
        from dokku_migrations.database import activity
        try:
            if not self._addresses:
                self._addresses = activity.addresses(self.docker.container(self._migration) or {})
                self._own = activity.addresses(self.docker.container(self.session.cid) or {})
            if not self._addresses:
                self._stop_watching("the migration container has no address of its own (it uses the host's or "
                                    "another container's networking), so its connections are not told apart")
                return
            self.session.send(activity.request(self.target.kind, self._addresses))
            self._asked = self._wanted
        except (Unobservable, UserError) as error:
            self._stop_watching(f"could not ask the database what the migration is doing: {_why(error)}")

    def activity(self) -> Optional[str]:
        """The answer to the latest question: what the migration's connections are doing, or why that
        cannot be told ("" once said); None while it is not in. Looks for no longer than POLL_SECONDS."""
        if self._unwatched is not None:
            said, self._unwatched = self._unwatched, ""
            return said
        assert self.session is not None and isinstance(self.target, Target)
        from dokku_migrations.database import activity
        kind = self.target.kind
        try:
            answer = self.session.poll(POLL_SECONDS, lambda: None)
            if answer is None or self._asked < self._wanted:  # none yet, or the answer to an older question
                if not self.session.busy and self._addresses:
                    self.session.send(activity.request(kind, self._addresses))
                    self._asked = self._wanted
                return None
        except Unobservable as error:
            self._stop_watching(f"could not ask the database what the migration is doing: {error}")
            return self.activity()
        code, text = answer
        found = activity.parse(text, kind)
        if code != 0:
            self._stop_watching("the database did not say what the migration is doing"
                                + (f": {last_line(text)}" if text.strip() else ""))
        elif not activity.sees_own_address(found, self._own, kind):
            self._stop_watching("the migration's connections are not told apart from others': the database does "
                                "not see containers at their own addresses (NAT or a proxy between them)")
        else:
            return activity.describe(found, kind)
        return self.activity()

    def _stop_watching(self, why: str) -> None:
        """No more questions about activity; `why` is said once, by the next `activity()`."""
        self._unwatched = why

    def _give_up(self, why: str) -> None:
        self.close()
        self._before = None
        shown = self.target.shown if isinstance(self.target, Target) else "the database"
        self.result.note = f"could not read {shown}: {why}"

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def _why(error: Exception) -> str:
    return str(error.message if isinstance(error, UserError) else error)


def last_line(text: str) -> str:
    """A client's last words, shortened: enough to say why, never a page of output."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else "")[:200]
