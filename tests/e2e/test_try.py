"""`python3 -m dokku_migrations try IMAGE`: an image's migrations against a throwaway PostgreSQL,
without Dokku, leaving nothing behind whatever happens."""

import os
import signal
import time

from .apps import FAILING_MIGRATION, create_table
from .host import docker
from .recipes import example_image, left_by, run_try, session_of, spawn_try

PG = ("--postgres-image", "dm-postgres:15")


def test_try_runs_the_detected_migrations_and_reports_success_in_one_line(images):
    result = run_try(example_image(images), *PG)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "-----> Running migrations: npm run migrate" in result.stdout
    assert "       ### MIGRATION 1700000000000_create-notes (UP) ###" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("-----> Migrations succeeded in ")
    assert result.stderr == ""


def test_try_removes_its_database_and_network_after_success(images):
    result = run_try(example_image(images), *PG)

    assert result.returncode == 0, result.stdout + result.stderr
    assert left_by(session_of(result.stdout)) == []


def test_try_with_a_failing_migration_exits_non_zero_with_one_line_and_leaves_nothing(images):
    image = images.node_app("shop", "v2", {"1700000000001_widgets.js": create_table("widgets"),
                                           "1700000000002_broken.js": FAILING_MIGRATION})

    result = run_try(image, *PG)

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (" !     Migration command 'npm run migrate' failed with exit code 1: "
                                              "see the output above")
    assert "Traceback" not in result.stderr
    assert left_by(session_of(result.stdout)) == []


def test_try_with_an_image_without_a_migration_command_fails_naming_the_rule(images):
    image = images.node_app("plain", "v1", {}, scripts={"start": "node server.js"})

    result = run_try(image, *PG)

    assert result.returncode == 1
    assert result.stderr == (f" !     No migration command to try in {image}: no migration command found (looked for "
                             "$.migrations.command in app.json, $.scripts.migrate in package.json, "
                             "$.scripts.migrate in composer.json); pass one with --command 'CMD'\n")
    assert "Starting a throwaway PostgreSQL" not in result.stdout


def test_try_with_a_missing_image_fails_before_starting_anything(docker_available):
    result = run_try("dm-test/does-not-exist:1", *PG)

    assert result.returncode == 1
    assert result.stderr == (" !     Image dm-test/does-not-exist:1 does not exist on this host: build it first "
                             "(docker build -t dm-test/does-not-exist:1 .)\n")
    assert result.stdout == ""


def test_try_refuses_an_env_option_without_equals(docker_available):
    result = run_try("dm-node:20", "--env", "SECRET_TOKEN", *PG)

    assert result.returncode == 1
    assert result.stderr == " !     Invalid --env 'SECRET_TOKEN': write it as KEY=VALUE\n"


def test_try_passes_env_values_and_database_url_byte_exact_through_the_client_environment(images):
    value = "it's \"quoted\" $HOME `id` \\n =x\nsecond line ✓"
    script = ("for (const k of ['ODD', 'DATABASE_URL']) "
              "console.log(k, Buffer.from(process.env[k] || '', 'utf8').toString('hex'))")

    result = run_try(example_image(images), *PG, "--env", f"ODD={value}", "--command", f'node -e "{script}"')

    assert result.returncode == 0, result.stdout + result.stderr
    lines = dict(line.split() for line in result.stdout.splitlines() if line.startswith("       ODD ")
                 or line.startswith("       DATABASE_URL "))
    assert bytes.fromhex(lines.get("ODD", "")).decode() == value, result.stdout
    assert bytes.fromhex(lines["DATABASE_URL"]).decode().startswith("postgres://postgres:")
    assert bytes.fromhex(lines["DATABASE_URL"]).decode().endswith("@postgres:5432/postgres")


def test_try_stops_migrations_at_the_timeout_and_leaves_nothing(images):
    result = run_try(example_image(images), *PG, "--command", "sleep 60", "--timeout", "1")

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (" !     Migrations timed out after 1s and were stopped with SIGTERM "
                                              "(it exited with 143); give them longer with '--timeout 2'")
    assert left_by(session_of(result.stdout)) == []


def test_try_reports_a_database_that_is_never_ready_within_the_wait(images):
    never_ready = images.plain("never-ready", 'FROM dm-postgres:15\nCMD ["sleep", "infinity"]\n')

    started = time.monotonic()
    result = run_try(example_image(images), "--postgres-image", never_ready, env={"DM_TRY_POSTGRES_WAIT": "2"})

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith(
        f" !     PostgreSQL ({never_ready}) was not ready after 2s")
    assert time.monotonic() - started < 15
    assert left_by(session_of(result.stdout)) == []


def test_ctrl_c_during_the_migration_removes_everything_and_exits_130(images):
    process = spawn_try(example_image(images), *PG, "--command", "echo migrating; sleep 60")
    seen = ""
    deadline = time.monotonic() + 30
    while "migrating" not in seen and time.monotonic() < deadline:
        seen += process.stdout.readline()

    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
    stdout, stderr = process.communicate(timeout=30)

    assert process.returncode == 130
    assert stderr.splitlines()[-1] == (" !     Interrupted by SIGINT: the throwaway PostgreSQL, network and migration "
                                       "container were removed")
    assert left_by(session_of(seen)) == []
    assert docker("container", "ls", "-aq", "--filter", f"name=dm-try-{session_of(seen)}") == ""
