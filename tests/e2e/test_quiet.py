"""A quiet migration is said to be alive: after `quiet-after` seconds without output, and again while it
stays silent, one line with its elapsed time, its time left before the timeout and what its database
connections are doing — asked through the observer's client, never with a literal of any statement."""

import json
import os
import re
import signal
import subprocess
import threading
from typing import List

from .conftest import service_of
from .host import docker, psql
from .test_faults import migration_containers, wait_for
from .test_schema import SCRIPTS, WIDGETS, observing_an_unreachable_database
from .test_try import MARIADB_MIGRATE

DURATION = r"(?:\d+s|\d+m \d\ds|\d+h \d\dm)"
QUIET = re.compile(rf"^       \(quiet for {DURATION}: {DURATION} elapsed, "
                   rf"(?P<left>{DURATION} left before the timeout|no timeout)(?:; (?P<database>.*))?\)$")


def quiet_lines(output: str) -> List[str]:
    return [line for line in output.splitlines() if QUIET.match(line)]


def sql_migration(sql: str) -> str:
    return f"exports.up = (pgm) => {{ pgm.sql({json.dumps(sql)}); }};\n"


def quiet_after_one_second(host, app: str) -> None:
    assert host.dokku("migrations:set", app, "quiet-after", "1").code == 0


class Reader:
    """A deploy in the background, its output read line by line as the person at `git push` reads it."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.lines: List[str] = []
        self.errors: List[str] = []
        self._threads = [threading.Thread(target=self._read, args=(process.stdout, self.lines), daemon=True),
                         threading.Thread(target=self._read, args=(process.stderr, self.errors), daemon=True)]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _read(stream, into: List[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    def finish(self, timeout: float = 180) -> int:
        code = self.process.wait(timeout=timeout)
        for thread in self._threads:
            thread.join(timeout=10)
        return code

    @property
    def output(self) -> str:
        return "\n".join(self.lines + self.errors)


def test_a_migration_waiting_for_a_lock_says_which_lock_and_which_session_holds_it(host, images, app):
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS, scripts=SCRIPTS)).code == 0
    quiet_after_one_second(host, app)
    # the ALTER waits until the holder lets go: without a lock timeout (test_lock_timeout.py has it give up)
    assert host.dokku("migrations:set", app, "lock-timeout", "0").code == 0
    database = service_of(app).replace("-", "_")
    # a real second session: a transaction that locked the table and sits idle, as a forgotten console does
    holder = subprocess.Popen(["docker", "container", "exec", "-i", f"dokku.postgres.{service_of(app)}", "psql", "-U",
                               "postgres", "-d", database, "-X", "-q"], stdin=subprocess.PIPE, text=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert holder.stdin is not None
        holder.stdin.write("BEGIN; LOCK TABLE widgets IN ACCESS EXCLUSIVE MODE;\n")
        holder.stdin.flush()
        holder_pid = wait_for("the lock", lambda: psql(service_of(app), (
            "SELECT pid FROM pg_locks WHERE relation = 'widgets'::regclass AND mode = 'AccessExclusiveLock' "
            "AND granted")))
        v2 = images.node_app("shop", "v2", {**WIDGETS, "1700000000002_note.js": sql_migration(
            "ALTER TABLE widgets ADD COLUMN note text DEFAULT 'lock-secret-4711'")}, scripts=SCRIPTS)
        deploy = Reader(host.spawn("git:from-image", app, v2))
        try:
            waiting = wait_for("the waiting line", lambda: next(
                (line for line in deploy.lines if QUIET.match(line) and " waiting " in line), None), timeout=120)
        except AssertionError:
            os.killpg(deploy.process.pid, signal.SIGTERM)
            deploy.finish()
            wait_for("the plugin to remove its migration container", lambda: migration_containers(app) == [])
            raise AssertionError(f"no waiting line in:\n{deploy.output}") from None
        holder.stdin.write("ROLLBACK;\n")
        holder.stdin.close()
        code = deploy.finish()
    finally:
        holder.kill()
        holder.wait()

    assert code == 0, deploy.output
    said = QUIET.match(waiting).group("database")  # type: ignore[union-attr]
    assert re.fullmatch(
        rf"PostgreSQL pid \d+ waiting {DURATION} for AccessExclusiveLock on table widgets, held by pid "
        + holder_pid + rf" \(idle in transaction for {DURATION} after LOCK TABLE widgets IN ACCESS EXCLUSIVE MODE\), "
        r"to run ALTER TABLE widgets ADD COLUMN note text DEFAULT \?", said), waiting
    assert not any("lock-secret" in line or "4711" in line for line in quiet_lines(deploy.output))
    assert psql(service_of(app), "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'") == "1"


def test_a_silent_statement_is_said_running_with_elapsed_and_time_left_and_logged(host, images, app):
    quiet_after_one_second(host, app)
    image = images.node_app("shop", "v1", {"1700000000001_sleep.js": sql_migration(
        "SELECT pg_sleep(5), 'sleep-secret-4711'")}, scripts=SCRIPTS)

    result = host.dokku("git:from-image", app, image)

    assert result.code == 0, result.output
    lines = quiet_lines(result.stdout)
    assert len(lines) >= 2, result.stdout
    running = [QUIET.match(line).group("database") for line in lines]  # type: ignore[union-attr]
    assert any(re.fullmatch(rf"PostgreSQL pid \d+ running SELECT pg_sleep\(\?\), \? for {DURATION}", said or "")
               for said in running), result.stdout
    assert all(QUIET.match(line).group("left").endswith("left before the timeout")  # type: ignore[union-attr]
               for line in lines)
    assert not any("sleep-secret" in line or "4711" in line for line in lines)
    log = host.dokku("migrations:logs", app).stdout
    assert lines[0].strip() in log


def test_a_migration_that_prints_regularly_gets_no_quiet_line(host, images, bare_app):
    assert host.dokku("migrations:set", bare_app, "quiet-after", "3").code == 0
    # straight from the shell: npm alone can take seconds to print its first line on a loaded host
    talking = "for i in 1 2 3 4 5 6 7 8; do echo step $i; sleep 0.5; done"
    assert host.dokku("migrations:set", bare_app, "command", talking).code == 0
    image = images.node_app("shop", "v1", {}, scripts={"start": "node server.js"})

    result = host.dokku("git:from-image", bare_app, image)

    assert result.code == 0, result.output
    assert "       step 8" in result.stdout
    assert "(quiet for" not in result.output


def test_a_database_that_cannot_be_observed_still_gets_elapsed_and_time_left(host, images, app):
    observing_an_unreachable_database(host, app)
    assert host.dokku("migrations:set", app, "database-image", "dm-postgres:15").code == 0
    quiet_after_one_second(host, app)
    assert host.dokku("migrations:set", app, "timeout", "600").code == 0
    image = images.node_app("shop", "v1", {}, scripts={"start": "node server.js", "migrate": "sleep 3"})

    result = host.dokku("git:from-image", app, image)

    assert result.code == 0, result.output
    lines = quiet_lines(result.stdout)
    elapsed_and_left_only = rf"       \(quiet for {DURATION}: {DURATION} elapsed, 9m \d\ds left before the timeout\)"
    assert lines and all(re.fullmatch(elapsed_and_left_only, line) for line in lines), result.stdout
    assert result.output.count("Database not observed") == 1


def test_a_quiet_mariadb_migration_says_its_threads_state(host, images, bare_app):
    service = service_of(bare_app)
    assert host.dokku("mariadb:create", service).code == 0
    assert host.dokku("mariadb:link", service, bare_app).code == 0
    quiet_after_one_second(host, bare_app)
    base_id = docker("image", "inspect", "--format", "{{.Id}}", "dm-mariadb:10.11")
    files = {"app.json": json.dumps({"name": "shop", "migrations": {"command": "sh bin/migrate"}}),
             "bin/migrate": MARIADB_MIGRATE,
             "migrations/0001_create_widgets.sql": "CREATE TABLE widgets (id INT PRIMARY KEY);\n",
             "migrations/0002_sleep.sql": "SELECT SLEEP(5), 'maria-secret-4711';\n"}
    dockerfile = (f"# dm-mariadb:10.11 is {base_id}\nFROM dm-mariadb:10.11\nENTRYPOINT []\nWORKDIR /app\n"
                  'COPY . /app/\nCMD ["sleep", "infinity"]\n')

    result = host.dokku("git:from-image", bare_app, images.build_files("mariadb-quiet", files, dockerfile))

    assert result.code == 0, result.output
    said = [QUIET.match(line).group("database") or "" for line in quiet_lines(result.stdout)]  # type: ignore
    assert any(re.fullmatch(rf"MySQL/MariaDB thread \d+ query for {DURATION}, User sleep: SELECT SLEEP\(\?\), \?", line)
               for line in said), result.stdout
    assert not any("maria-secret" in line or "4711" in line for line in said)
