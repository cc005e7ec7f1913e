"""A copy of the production schema in a throwaway server, and what a migration did to it.

`SchemaCopy` starts a throwaway server of the database's own image (the image the observing client
would use: the `database-image` setting, the serving container's, else the newest local one) on an
internal network of its own — nothing on it can reach production —, copies the production schema
into it (copy.py), and switches the statement capture on. The migration then runs against it (run/
preflight.py, with the app's image, command and config, the URL replaced); afterwards `Findings`
holds every statement it sent, squawk's warnings and the lock each statement takes on a production
table (PostgreSQL). Everything it started carries one label and goes on every way out: `close`, the
reaper process if the plugin is killed, `remove_leftovers` before the app's next pre-flight.

What a copy without rows cannot show — a NOT NULL or a unique index the data breaks, a cast a value
fails, how long a rewrite of a big table takes — is said under every report (DATA_CAVEAT).
"""

import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import parse_qsl, urlencode, urlsplit

from dokku_migrations.common import output
from dokku_migrations.common.errors import Interrupted, UserError
from dokku_migrations.database import copy, lint, locks, reaper
from dokku_migrations.database.capture import Capture
from dokku_migrations.database.client import Unobservable, client_image, networking
from dokku_migrations.database.server import Throwaway, kind_of, remove_labelled
from dokku_migrations.database.shape import shape
from dokku_migrations.database.url import POSTGRES, Target
from dokku_migrations.docker import labels
from dokku_migrations.docker.client import Docker

COPY_SECONDS = 300
DATA_CAVEAT = ("A schema-only copy holds no rows: failures that depend on the data (a NOT NULL or unique "
               "constraint the rows break, a cast a value fails) and the time a rewrite of a big table takes "
               "show only in production")
WIDTH = 100
HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


class CannotCopy(UserError):
    """The pre-flight could not be set up (no client image, no dump tool, production unreachable…):
    nothing was proven either way."""


@dataclass
class Findings:
    """What the migration sent to the copy, and what that means for production's tables."""

    family: str
    statements: List[str] = field(default_factory=list)
    rows: List[Tuple[int, locks.Lock]] = field(default_factory=list)  # (statement index, lock)
    scope: str = "production tables"
    warnings: List[lint.Finding] = field(default_factory=list)
    lint_note: str = ""

    def lines(self) -> List[str]:
        """The report under the outcome, statements by their shape (never a value, never a row)."""
        count = len(self.statements)
        said = [f"{count} {'statement' if count == 1 else 'statements'} sent"]
        if self.family != POSTGRES:
            return said + ["(the lock report and the lint are for PostgreSQL)"]
        if self.rows:
            said.append(f"Locks on {self.scope}:")
            for index, lock in self.rows:
                rewrite = "rewrites: yes" if lock.rewrites else "rewrites: maybe" if lock.rewrites is None \
                    else "rewrites: no"
                effect = f"; {lock.effect}" if lock.effect and lock.rewrites is not None else ""
                said.append(f"  {shape(self.statements[index], self.family, WIDTH)}")
                said.append(f"    {lock.table}: {lock.mode} ({locks.BLOCKS[lock.mode]}), {rewrite}{effect}")
        else:
            said.append(f"Locks on {self.scope}: none (no statement touched one)")
        if self.lint_note:
            said.append(self.lint_note)
        elif self.warnings:
            said.append(f"squawk: {len(self.warnings)} {'warning' if len(self.warnings) == 1 else 'warnings'}")
            for index in dict.fromkeys(warning.statement for warning in self.warnings):
                said.append(f"  {shape(self.statements[index], self.family, WIDTH)}")
                for warning in self.warnings:
                    if warning.statement == index:
                        said.append(f"    {warning.rule}: {warning.message}")
        else:
            said.append("squawk: no warnings")
        return said


def findings(family: str, statements: List[str], tables: locks.Tables, server_version: str = "",
             linted: Optional[Callable[..., Tuple[List[lint.Finding], str]]] = None) -> Findings:
    found = Findings(family, statements)
    if family != POSTGRES:
        return found
    for index, statement in enumerate(statements):
        for lock in locks.locks(statement, tables):
            found.rows.append((index, lock))
    found.warnings, found.lint_note = (linted or lint.lint)(statements, server_version)
    return found


def remove_leftovers(docker: Docker, app: str) -> int:
    """What an earlier pre-flight of the app left (its plugin and reaper both killed). Called holding
    the app's run lock, so no live pre-flight is touched. Returns how many things went."""
    label = f"{labels.PREFLIGHT}={app}"
    found = len(docker.labelled_containers(label)) + len(docker.labelled_networks(label))
    if found:
        remove_labelled(docker, label)
    return found


def throwaway_url(target: Target, original: str, password: str, host: str, port: int) -> str:
    """The app's own URL with the throwaway in it: its scheme, user, database name and parameters,
    the throwaway's host, port and password (TLS parameters dropped: the throwaway has no TLS)."""
    from urllib.parse import quote
    parts = urlsplit(original)
    query = urlencode([(name, value) for name, value in parse_qsl(parts.query) if not name.lower().startswith("ssl")])
    path = quote(target.database, safe="") if target.database else ""
    return f"{parts.scheme}://{quote(target.user, safe='')}:{password}@{host}:{port}/{path}" + \
        (f"?{query}" if query else "")


class SchemaCopy:
    """One pre-flight's throwaway server with the production schema in it."""

    def __init__(self, docker: Docker, app: str, target: Target, image_setting: str, migration: Dict[str, Any],
                 env: Mapping[str, str], check: Callable[[], None]) -> None:
        self.docker = docker
        self.app = app
        self.target = target
        self.image_setting = image_setting
        self.migration = migration
        self.env = env
        self.check = check
        self.id = secrets.token_hex(4)
        self.label = f"{labels.PREFLIGHT_SESSION}={self.id}"
        self.labels = {labels.PREFLIGHT: app, labels.PREFLIGHT_SESSION: self.id}
        self.server: Optional[Throwaway] = None
        self.capture: Optional[Capture] = None
        self.tables = locks.Tables()
        self.reaper: Optional[reaper.Reaper] = None
        self.image = ""
        self.shown_image = ""
        self.source = ""
        self.count = 0
        self.version = ""

    @property
    def host(self) -> str:
        """The name the migration reaches the copy by: production's own host name where it is one
        (so a second config key naming it reaches the copy too), else `db`."""
        return self.target.host if HOSTNAME.fullmatch(self.target.host) and not self.target.host.replace(
            ".", "").isdigit() else "db"

    def watch(self) -> None:
        """The reaper, before anything is started: it removes what carries this copy's label if the plugin dies."""
        if self.reaper is None:
            self.reaper = reaper.spawn(self.label, dict(self.env))

    def open(self, ready_wait: float) -> float:
        """Starts the server, copies the schema, switches the capture on: the seconds it took.
        CannotCopy when there is nothing to copy with or from; Interrupted passes through."""
        started = time.monotonic()
        _, others, links = networking(self.migration)
        try:
            self.image, self.source = client_image(self.docker, self.app, self.target, self.image_setting, links,
                                                   others)
        except Unobservable as error:
            raise CannotCopy(str(error)) from None
        if self.image.startswith("sha256:"):  # a serving container's image, by id: shown by a tag of it
            info = self.docker.inspect_image(self.image)
            self.shown_image = info.repo_tags[0] if info and info.repo_tags else self.image[7:19]
        else:
            self.shown_image = self.image
        kind = kind_of(self.target.kind, self.shown_image)
        database = self.target.database or (self.target.user if kind.family == POSTGRES else "")
        self.server = Throwaway(self.docker, kind, self.image, f"dm-preflight-{self.id}", self.label,
                                more_labels=self.labels, user=self.target.user, database=database, internal=True,
                                aliases=[self.host])
        self.watch()
        self.server.launch(logged=True)
        try:
            schema = copy.dump(self.docker, self.app, self.target, self.image, self.migration, self.labels,
                               COPY_SECONDS, self.check)
        except copy.NoDumpTool as error:
            raise CannotCopy(error.message) from None
        except UserError as error:
            if isinstance(error, Interrupted):
                raise
            raise CannotCopy(error.message) from None
        self.server.ready(ready_wait)
        copy.restore(self.server, schema, COPY_SECONDS)
        self.capture = Capture(self.server)
        self.tables = self.capture.tables()
        self.version = self.capture.version()
        self.capture.start()
        self.count = copy.counted_tables(schema)
        return time.monotonic() - started

    def url(self, original: str) -> str:
        assert self.server is not None
        return throwaway_url(self.target, original, self.server.password, self.host, self.server.kind.port)

    @property
    def network(self) -> str:
        assert self.server is not None
        return self.server.network

    def findings(self) -> Findings:
        assert self.capture is not None
        return findings(self.target.kind, self.capture.statements(), self.tables, self.version)

    def close(self, interrupted: bool = False) -> None:
        """Removes everything it started; says so if anything stayed (with the command that removes it)."""
        left = remove_labelled(self.docker, self.label) if self.server is None else self.server.remove(interrupted)
        if self.reaper is not None:
            self.reaper.dismiss()
        if left:
            output.warn(f"Could not remove {', '.join(left)} of the pre-flight: remove them with 'docker rm -f' / "
                        "'docker network rm'")
