"""Says what a quiet migration is doing. An index build on a big table prints nothing for minutes,
and the person at `git push` cannot tell a working migration from a stuck one: after `quiet-after`
seconds without output, and again every `quiet-after` seconds while it stays silent, one line —
how long it has run, how long it has before the timeout, and what its database connections are
doing (database/activity.py), asked through the observer's client, never the run's own connection.

The question is sent without waiting and its answer looked for between slices of the output
stream, so a slow or dead database never holds up the migration's output, its timeout or its stop;
an answer later than ANSWER_SECONDS is not waited for, and the line goes without it.
"""

import time
from typing import Callable, Optional, Protocol

from dokku_migrations.common.output import duration

ANSWER_SECONDS = 5.0  # pg_stat_activity answers in milliseconds; a database this slow is said to be so


class Probe(Protocol):
    """What the line needs of the database's observer (database/observe.py Observer)."""

    def ask_activity(self) -> None: ...

    def activity(self) -> Optional[str]: ...


class Quiet:
    """Told when the migration speaks (`spoke`) and asked at every slice of the stream (`tick`)."""

    def __init__(self, every: float, probe: Optional[Probe] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.probe = probe
        self.clock = clock
        self._last = clock()
        self._due = self._last + every
        self._asked_at: Optional[float] = None

    def spoke(self) -> None:
        """Output, or the start: silence counts from here; a line being prepared is not said."""
        self._last = self.clock()
        self._due = self._last + self.every
        self._asked_at = None

    def tick(self, elapsed: float, left: Optional[float]) -> Optional[str]:
        """The line to say now, if any; `left` is None without a timeout. Never waits."""
        if self.every <= 0:
            return None
        now = self.clock()
        if self._asked_at is None:
            if now < self._due:
                return None
            self._asked_at = now
            if self.probe is not None:
                self.probe.ask_activity()
        said = self.probe.activity() if self.probe is not None else ""
        if said is None:
            waited = min(ANSWER_SECONDS, self.every)
            if now - self._asked_at < waited:
                return None
            said = f"the database did not say within {duration(waited)} what the migration is doing"
        self._asked_at = None
        while self._due <= now:
            self._due += self.every
        return line(now - self._last, elapsed, left, said)


def line(silent: float, elapsed: float, left: Optional[float], said: str) -> str:
    """`(quiet for 30s: 1m 02s elapsed, 28m 58s left before the timeout; PostgreSQL pid 812 running …)`"""
    budget = "no timeout" if left is None else f"{duration(left)} left before the timeout"
    return f"(quiet for {duration(silent)}: {duration(elapsed)} elapsed, {budget}{'; ' + said if said else ''})"
