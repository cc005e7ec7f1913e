"""Never queue the live app behind a migration's lock: with a real second session holding a lock on the
table (an open transaction that read it), the migration gives up after `lock-timeout`, is tried again
`lock-retries` times, and succeeds once the transaction ends — while the app's own queries on that table
keep answering. node-pg-migrate, Django and Rails, each through its own driver's PGOPTIONS."""

import json
import os
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Tuple

from .apps import create_table
from .conftest import service_of
from .host import docker, http_get, psql, wait_for
from .recipes import recipe_deps, recipes  # noqa: F401 (fixtures)

NOTES = {"1700000000001_notes.js": create_table("notes")}
ADD_TITLE = "exports.up = (pgm) => { pgm.addColumn('notes', { title: { type: 'text' } }); };\n"
NOTES_TITLE = {**NOTES, "1700000000002_notes_title.js": ADD_TITLE}
SEEN_SETTINGS = ("exports.up = (pgm) => { pgm.sql(\"CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS "
                 "lock_timeout, current_setting('work_mem') AS work_mem\"); };\n")

DJANGO_MODELS_WITH_TITLE = """from django.db import models


class Note(models.Model):
    body = models.TextField()
    title = models.TextField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
"""

# what `python manage.py makemigrations notes` writes for the field above
DJANGO_ADD_TITLE = """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("notes", "0001_initial")]
    operations = [migrations.AddField(model_name="note", name="title", field=models.TextField(null=True))]
"""

RAILS_ADD_TITLE = """class AddTitleToWidgets < ActiveRecord::Migration[6.1]
  def change
    add_column :widgets, :title, :string
  end
end
"""


# A connection pooler that refuses startup options, as PgBouncer does (pgbouncer/pgbouncer src/client.c
# set_startup_options: "unsupported startup parameter: options", FATAL 08P01), and passes everything else
# through to the server: a real refusal on the wire, so the plugin sees what it would see behind PgBouncer.
POOLER = r"""
import socket, socketserver, struct, threading

def pipe(source, target):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        target.close()

class Pooler(socketserver.BaseRequestHandler):
    def handle(self):
        length = struct.unpack("!i", self.request.recv(4, socket.MSG_WAITALL))[0]
        startup = self.request.recv(length - 4, socket.MSG_WAITALL)
        if b"\0options\0" in b"\0" + startup:
            fields = b"SFATAL\0VFATAL\0C08P01\0Munsupported startup parameter: options\0\0"
            self.request.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)
            return
        server = socket.create_connection(("db", 5432))
        server.sendall(struct.pack("!i", length) + startup)
        threading.Thread(target=pipe, args=(server, self.request), daemon=True).start()
        pipe(self.request, server)

socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("0.0.0.0", 6432), Pooler).serve_forever()
"""


# --- helpers --------------------------------------------------------------------------------------
def database(service: str) -> str:
    return service.replace("-", "_")


class Blocker:
    """A real second session: psql in the database's own container, in a transaction that read `table` and
    stays open (a long report, a console left in a transaction), so it holds ACCESS SHARE on it until it ends."""

    def __init__(self, service: str, table: str) -> None:
        self.service, self.table = service, table
        self.process = subprocess.Popen(
            ["docker", "exec", "-i", "-e", "PGAPPNAME=dm-blocker", f"dokku.postgres.{service}", "psql", "-U",
             "postgres", "-d", database(service), "-X", "-q", "-v", "ON_ERROR_STOP=1"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)

    def __enter__(self) -> "Blocker":
        assert self.process.stdin is not None
        self.process.stdin.write(f"BEGIN;\nSELECT count(*) FROM {self.table};\n")
        self.process.stdin.flush()
        wait_for("the blocker's lock", lambda: psql(self.service, (
            "SELECT count(*) FROM pg_locks JOIN pg_stat_activity USING (pid) WHERE application_name = 'dm-blocker' "
            f"AND relation = '{self.table}'::regclass AND mode = 'AccessShareLock' AND granted")) == "1")
        return self

    def end(self) -> None:
        """Commits and leaves, as the long transaction finally does."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("COMMIT;\n")
            self.process.stdin.close()
            self.process.wait(timeout=30)

    def __exit__(self, *exc) -> None:
        try:
            self.end()
        finally:
            if self.process.poll() is None:
                self.process.kill()


@contextmanager
def deploying(host, app: str, image: str) -> Iterator[subprocess.Popen]:
    """`git:from-image` in the background; stopped (SIGTERM to its process group) if a test leaves it running."""
    deploy = host.spawn("git:from-image", app, image)
    try:
        yield deploy
    finally:
        if deploy.poll() is None:
            os.killpg(deploy.pid, signal.SIGTERM)
            deploy.communicate(timeout=120)


def migration_waiting(service: str, table: str) -> bool:
    """The migration's ALTER TABLE is queued for the table's lock, behind the blocker."""
    return psql(service, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                         f"AND query ILIKE 'ALTER TABLE%{table}%'") != "0"


def timed_query(service: str, sql: str, limit: float = 30) -> Tuple[Optional[str], float]:
    """A query of the app's, from a session of its own: its answer (None if it did not come within `limit`
    seconds) and how long it took."""
    started = time.monotonic()
    try:
        result = subprocess.run(["docker", "exec", f"dokku.postgres.{service}", "psql", "-U", "postgres", "-d",
                                 database(service), "-AtX", "-c", sql], capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return None, time.monotonic() - started
    return result.stdout.strip(), time.monotonic() - started


def column_exists(app: str, table: str, column: str) -> bool:
    return psql(service_of(app), "SELECT count(*) FROM information_schema.columns "
                                 f"WHERE table_name = '{table}' AND column_name = '{column}'") == "1"


def latest_log(host, app: str) -> str:
    """The log of the app's newest run, read as it is written."""
    runs = host.lib_root / "data" / "migrations" / app / "runs"
    logs = sorted(runs.glob("*.log"), key=lambda path: int(path.stem)) if runs.is_dir() else []
    return Path(logs[-1]).read_text(errors="replace") if logs else ""


def finished_run(host, app: str) -> dict:
    """The newest run once the plugin has finished it: the deploy's own process may end before the plugin
    does (the interrupted stand-in's pipes close first), and the plugin still cleans up and records."""
    return wait_for(f"the last run of {app} to finish",
                    lambda: next((run for run in host.history(app)[:1] if run["status"] != "running"), None))


def settings(host, app: str, **values: str) -> None:
    for key, value in values.items():
        assert host.dokku("migrations:set", app, key.replace("_", "-"), value).code == 0


# --- giving up, and the app answering meanwhile ---------------------------------------------------
def test_node_pg_migrate_gives_up_on_a_locked_table_while_the_apps_queries_on_it_keep_answering(host, images, app):
    service = service_of(app)
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", NOTES)).code == 0
    settings(host, app, lock_timeout="6", lock_retries="1", quiet_after="1")

    with Blocker(service, "notes"), deploying(host, app, images.node_app("shop", "v2", NOTES_TITLE)) as deploy:
        wait_for("the migration to queue behind the blocker", lambda: migration_waiting(service, "notes"))
        answer, seconds = timed_query(service, "SELECT count(*) FROM notes")
        assert answer == "0" and seconds < 6 + 6, f"the app's query answered {answer!r} after {seconds:.1f}s"
        stdout, stderr = deploy.communicate(timeout=300)

    run = host.history(app)[0]
    assert deploy.returncode != 0
    assert "Attempt 1 of 2 gave up waiting for a lock after 6s" in stdout
    assert ("Migration command 'npm run migrate' gave up waiting for a lock after 6s on each of its 2 attempts"
            in stdout + stderr)
    assert run["status"] == "failed"
    assert [(attempt["lock_timeout"], attempt["gave_up_on_lock"]) for attempt in run["attempts"]] == \
        [("-c lock_timeout=6s", True), ("-c lock_timeout=6s", True)]
    second = stdout[stdout.index("Attempt 1 of 2 gave up"):]  # the quiet lines watch the new container too
    assert any(line.startswith("       (quiet for") and " waiting " in line and "on table notes" in line
               for line in second.splitlines()), second
    assert not column_exists(app, "notes", "title")
    assert http_get(host.web_containers(app)[0]) == "v1"


def test_rails_db_migrate_gives_up_on_a_locked_table_and_the_deploy_says_what_to_do(host, recipes, app):
    service = service_of(app)
    assert host.dokku("git:from-image", app, recipes.rails()).code == 0
    settings(host, app, lock_timeout="1", lock_retries="0")
    v2 = recipes.rails({"db/migrate/20240102000000_add_title_to_widgets.rb": RAILS_ADD_TITLE})

    with Blocker(service, "widgets"):
        result = host.dokku("git:from-image", app, v2)

    run = host.history(app)[0]
    assert result.code != 0
    assert "PG::LockNotAvailable" in result.output
    assert any("Migration command 'bin/rails db:migrate' gave up waiting for a lock after 1s (see the output above"
               in line and "pg_stat_activity" in line for line in result.failures)
    assert [attempt["gave_up_on_lock"] for attempt in run["attempts"]] == [True]
    assert not column_exists(app, "widgets", "title")


# --- tried again, and through ---------------------------------------------------------------------
def test_django_is_tried_again_after_a_lock_timeout_and_migrates_once_the_transaction_ends(host, recipes, app):
    service = service_of(app)
    assert host.dokku("git:from-image", app, recipes.django()).code == 0
    settings(host, app, lock_timeout="2", lock_retries="3")
    v2 = recipes.django({"notes/models.py": DJANGO_MODELS_WITH_TITLE,
                         "notes/migrations/0002_note_title.py": DJANGO_ADD_TITLE})

    with Blocker(service, "notes_note") as blocker, deploying(host, app, v2) as deploy:
        wait_for("the first attempt to give up", lambda: "Attempt 1 of 4 gave up" in latest_log(host, app), 180)
        blocker.end()
        stdout, stderr = deploy.communicate(timeout=300)

    run = host.history(app)[0]
    assert deploy.returncode == 0, stdout + stderr
    assert "LockNotAvailable" in stdout + stderr
    assert "       Applying notes.0002_note_title... OK" in stdout
    assert "(attempt 2: the earlier ones gave up waiting for a lock)" in stdout
    assert "       Database changed: +1 column; 1 migration recorded" in stdout  # before the first, after the last
    assert run["status"] == "succeeded"
    assert [(attempt["exit_code"], attempt["gave_up_on_lock"]) for attempt in run["attempts"]] == \
        [(1, True), (0, False)]
    assert column_exists(app, "notes_note", "title")
    assert psql(service, "SELECT count(*) FROM django_migrations WHERE name = '0002_note_title'") == "1"
    assert "Attempt 1 of 4 gave up waiting for a lock after 2s" in host.dokku("migrations:logs", app).stdout


# --- every guarantee of a run holds across its attempts ---------------------------------------------
def test_the_runs_timeout_bounds_all_its_attempts_together(host, images, app):
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", NOTES)).code == 0
    settings(host, app, lock_timeout="2", lock_retries="10", timeout="40")  # 10 retries would wait 2+4+…+60 s

    with Blocker(service_of(app), "notes"):
        result = host.dokku("git:from-image", app, images.node_app("shop", "v2", NOTES_TITLE))

    run = host.history(app)[0]
    assert result.code != 0
    assert run["status"] in ("failed", "timed-out")
    assert 2 <= len(run["attempts"]) < 11
    assert run["duration"] < 40 + 10 + 15  # the timeout, the grace period of a stopped attempt, the run's set-up
    assert http_get(host.web_containers(app)[0]) == "v1"


def test_ctrl_c_between_two_attempts_ends_the_run_interrupted_and_keeps_the_old_version(host, images, app):
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", NOTES)).code == 0
    serving = host.web_containers(app)[0]["Image"]
    settings(host, app, lock_timeout="5", lock_retries="1")

    with Blocker(service_of(app), "notes"), deploying(host, app, images.node_app("shop", "v2", NOTES_TITLE)) as deploy:
        wait_for("the wait before attempt 2", lambda: "Attempt 2 in 5s" in latest_log(host, app), 180)
        os.killpg(deploy.pid, signal.SIGINT)  # Ctrl-C at the terminal of `git push`
        deploy.communicate(timeout=120)

    run = finished_run(host, app)
    assert deploy.returncode != 0
    assert run["status"] == "interrupted" and "SIGINT" in run["message"]
    assert len(run["attempts"]) == 1
    assert "Interrupted by SIGINT before attempt 2" in latest_log(host, app)
    assert docker("image", "inspect", "--format", "{{.Id}}", f"dokku/{app}:latest") == serving
    assert not column_exists(app, "notes", "title")
    assert host.dokku("ps:restart", app).code == 0
    assert http_get(host.web_containers(app)[0]) == "v1"


def test_behind_a_pooler_that_refuses_the_option_the_migration_runs_again_without_it(host, images, app):
    service = service_of(app)
    pooler = f"dm-pooler-{app}"
    docker("run", "--detach", f"--name={pooler}", f"--label=dm-e2e={host.base.name}",
           f"--link=dokku.postgres.{service}:db", "dm-python:3.11", "python3", "-c", POOLER)
    password = (host.lib_root / "services" / "postgres" / service / "PASSWORD").read_text()
    assert host.dokku("docker-options:add", app, "deploy", f"--link {pooler}:pooler").code == 0
    assert host.dokku("config:set", "--no-restart", app,
                      f"DATABASE_URL=postgres://postgres:{password}@pooler:6432/{database(service)}").code == 0

    result = host.dokku("git:from-image", app, images.node_app("shop", "v1", NOTES))

    run = host.history(app)[0]
    assert result.code == 0, result.output
    assert "unsupported startup parameter: options" in result.stdout
    assert "The database's connection pooler refused the lock timeout (unsupported startup parameter): running " \
           "again without it" in result.stdout
    assert [(attempt["lock_timeout"], attempt["exit_code"]) for attempt in run["attempts"]] == \
        [("-c lock_timeout=5s", 1), ("", 0)]
    assert psql(service, "SELECT count(*) FROM notes") == "0"


# --- what the migration container gets, and nothing else --------------------------------------------
def test_the_lock_timeout_reaches_the_migration_after_the_apps_own_pgoptions_and_never_the_apps_config(host, images,
                                                                                                      app):
    assert host.dokku("config:set", "--no-restart", app, "PGOPTIONS=-c work_mem=7MB -c lock_timeout=1min").code == 0

    result = host.dokku("git:from-image", app, images.node_app("seen", "v1", {"1700000000001_seen.js": SEEN_SETTINGS}))

    assert result.code == 0, result.output
    assert psql(service_of(app), "SELECT lock_timeout || ' ' || work_mem FROM seen") == "5s 7MB"  # the default
    assert json.loads((host.lib_root / "config" / app / "ENV.json").read_text())["PGOPTIONS"] == \
        "-c work_mem=7MB -c lock_timeout=1min"  # the app's config, as the stand-in's config plugin keeps it
    web_env = host.web_containers(app)[0]["Config"]["Env"]
    assert "PGOPTIONS=-c work_mem=7MB -c lock_timeout=1min" in web_env


def test_a_lock_timeout_of_zero_lets_the_migration_wait_as_the_app_configured_it(host, images, app):
    settings(host, app, lock_timeout="0")

    result = host.dokku("git:from-image", app, images.node_app("seen", "v1", {"1700000000001_seen.js": SEEN_SETTINGS}))

    assert result.code == 0, result.output
    assert psql(service_of(app), "SELECT lock_timeout FROM seen") == "0"
    assert host.history(app)[0]["attempts"][0]["lock_timeout"] == ""


def test_dry_run_says_what_the_migration_gets_for_its_locks(host, images, bare_app):
    image = host.app_image(bare_app, images.node_app("shop", "v1", NOTES))
    settings(host, bare_app, lock_timeout="0.5", lock_retries="2")

    result = host.dokku("migrations:run", bare_app, "--image", image, "--dry-run")

    assert result.code == 0, result.output
    assert "Locks:    PGOPTIONS gets -c lock_timeout=500ms, and a run that gives up waiting for a lock is tried " \
           "2 more time(s)" in result.stdout
    assert " --env=PGOPTIONS " in result.stdout
