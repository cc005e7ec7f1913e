"""A quiet migration is said to be alive: one line after `quiet-after` seconds of silence, then again
every `quiet-after` seconds while it stays silent, never while it talks, never waiting for the database."""

from typing import List, Optional

from dokku_migrations.run.quiet import ANSWER_SECONDS, Quiet

START = 1000.0  # when the migration started


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class Database:
    """The observer as the line sees it: asked, then answering when told to."""

    def __init__(self, answer: Optional[str] = "PostgreSQL pid 812 running SELECT pg_sleep(?) for 30s") -> None:
        self.answer = answer
        self.asked = 0

    def ask_activity(self) -> None:
        self.asked += 1

    def activity(self) -> Optional[str]:
        return self.answer


def ticks(quiet: Quiet, clock: Clock, until: float, step: float = 0.25, timeout: float = 1800) -> List[str]:
    """What the runner would say between slices of the stream, from now to `until` seconds later."""
    said, end = [], clock.now + until
    while clock.now < end:
        clock.now += step
        line = quiet.tick(clock.now - START, timeout - (clock.now - START))
        if line:
            said.append(line)
    return said


def test_nothing_is_said_before_the_migration_has_been_quiet_that_long():
    clock = Clock()
    assert ticks(Quiet(30, Database(), clock), clock, 29.5) == []


def test_a_quiet_migration_gets_one_line_with_elapsed_time_left_and_what_the_database_says():
    clock = Clock()
    said = ticks(Quiet(30, Database(), clock), clock, 30)
    assert said == ["(quiet for 30s: 30s elapsed, 29m 30s left before the timeout; "
                    "PostgreSQL pid 812 running SELECT pg_sleep(?) for 30s)"]


def test_the_line_comes_again_every_interval_while_it_stays_quiet():
    clock = Clock()
    said = ticks(Quiet(30, Database(), clock), clock, 95)
    assert [line.split(":")[0] for line in said] == ["(quiet for 30s", "(quiet for 1m 00s", "(quiet for 1m 30s"]


def test_output_starts_the_silence_over():
    clock = Clock()
    quiet = Quiet(30, Database(), clock)
    assert ticks(quiet, clock, 25) == []
    quiet.spoke()
    assert ticks(quiet, clock, 29.5) == []
    assert ticks(quiet, clock, 1) == ["(quiet for 30s: 55s elapsed, 29m 05s left before the timeout; "
                                      "PostgreSQL pid 812 running SELECT pg_sleep(?) for 30s)"]


def test_a_migration_that_talks_regularly_gets_no_line():
    clock = Clock()
    quiet, said = Quiet(30, Database(), clock), []
    for _ in range(10):
        said += ticks(quiet, clock, 20)
        quiet.spoke()
    assert said == []


def test_a_database_that_does_not_answer_is_not_waited_for_long():
    clock, database = Clock(), Database(answer=None)
    quiet = Quiet(30, database, clock)
    assert ticks(quiet, clock, 30 + ANSWER_SECONDS - 0.5) == []
    said = ticks(quiet, clock, 0.5)
    assert said == ["(quiet for 35s: 35s elapsed, 29m 25s left before the timeout; the database did not say "
                    "within 5s what the migration is doing)"]
    assert database.asked == 1


def test_output_while_the_answer_is_awaited_cancels_the_line():
    clock, database = Clock(), Database(answer=None)
    quiet = Quiet(30, database, clock)
    ticks(quiet, clock, 31)
    quiet.spoke()
    database.answer = "PostgreSQL pid 812 idle for 1s"
    assert ticks(quiet, clock, 29.5) == []


def test_an_unobserved_database_still_gets_elapsed_and_time_left():
    clock = Clock()
    assert ticks(Quiet(30, None, clock), clock, 30) == ["(quiet for 30s: 30s elapsed, 29m 30s left before the timeout)"]


def test_without_a_timeout_the_line_says_so():
    clock = Clock()
    quiet = Quiet(30, Database(answer=""), clock)
    clock.now += 30
    assert quiet.tick(30, None) == "(quiet for 30s: 30s elapsed, no timeout)"


def test_zero_means_never():
    clock = Clock()
    assert ticks(Quiet(0, Database(), clock), clock, 600) == []
