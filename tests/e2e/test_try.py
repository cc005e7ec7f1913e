"""`python3 -m dokku_migrations try IMAGE`: an image's migrations against a throwaway database of the type
the project declares (PostgreSQL unless it says otherwise), without Dokku, leaving nothing behind whatever
happens. PostgreSQL is dm-postgres:15 and MariaDB dm-mariadb:10.11, both from Debian's packages
(tests/images/build); MySQL's variables and URL are proven against MariaDB, which speaks its protocol."""

import json
import os
import signal
import time

import pytest

from .apps import FAILING_MIGRATION, create_table
from .host import docker
from .recipes import example_image, left_by, run_try, session_of, spawn_try

PG = ("--postgres-image", "dm-postgres:15")
MARIADB = ("--database-image", "dm-mariadb:10.11")

# A project's own migration script for MariaDB/MySQL: it applies migrations/*.sql once each with the
# mariadb client, then checks what it did with queries of its own. The password reaches the client in
# MYSQL_PWD, never on its command line.
MARIADB_MIGRATE = """#!/bin/sh
set -eu
url="${DATABASE_URL:?DATABASE_URL is not set: link a database}"
case "$url" in
	mysql://*) rest="${url#mysql://}" ;;
	*) echo "DATABASE_URL is not a mysql:// URL" >&2; exit 1 ;;
esac
credentials="${rest%%@*}" location="${rest#*@}"
user="${credentials%%:*}"
MYSQL_PWD="${credentials#*:}"
export MYSQL_PWD
address="${location%%/*}" database="${location#*/}"
sql() {
	mariadb --protocol=tcp -h "${address%:*}" -P "${address##*:}" -u "$user" -D "$database" \\
		--batch --skip-column-names "$@"
}
sql -e "CREATE TABLE IF NOT EXISTS applied_migrations (version VARCHAR(191) PRIMARY KEY,
	applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"
for file in migrations/*.sql; do
	version="$(basename "$file" .sql)"
	[ -z "$(sql -e "SELECT 1 FROM applied_migrations WHERE version = '$version'")" ] || continue
	sql <"$file"
	sql -e "INSERT INTO applied_migrations (version) VALUES ('$version')"
	echo "Applied $version"
done
echo "Connected as: $(sql -e 'SELECT CURRENT_USER()') to $(sql -e 'SELECT DATABASE()') at $address"
echo "Server: $(sql -e 'SELECT VERSION()')"
echo "Tables: $(sql -e 'SHOW TABLES' | tr '\\n' ' ')"
echo "Widgets: $(sql -e 'SELECT name FROM widgets')"
"""

MARIADB_MIGRATION = """CREATE TABLE widgets (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL)
ENGINE=InnoDB;
INSERT INTO widgets (name) VALUES ('sprocket');
"""


def app_declaring(images, database: str, command: str = "sh bin/migrate") -> str:
    """An app whose app.json declares its command and its database, with the mariadb client to migrate
    (the test image's own: FROM dm-mariadb:10.11, its server entrypoint cleared, rebuilt when that image is)."""
    base_id = docker("image", "inspect", "--format", "{{.Id}}", "dm-mariadb:10.11")
    files = {"app.json": json.dumps({"name": "shop", "migrations": {"command": command, "database": database}}),
             "bin/migrate": MARIADB_MIGRATE, "migrations/0001_create_widgets.sql": MARIADB_MIGRATION}
    dockerfile = (f"# dm-mariadb:10.11 is {base_id}\nFROM dm-mariadb:10.11\nENTRYPOINT []\nWORKDIR /app\n"
                  'COPY . /app/\nCMD ["sleep", "infinity"]\n')
    return images.build_files("mariadb-app", files, dockerfile)


@pytest.fixture(scope="module")
def tried_example(images):
    """`try` of the example app against PostgreSQL, once for the tests that look at how it went (xdist
    group "try-example": one worker)."""
    return run_try(example_image(images), *PG)


@pytest.mark.xdist_group("try-example")
def test_try_runs_the_detected_migrations_and_reports_success_in_one_line(tried_example):
    result = tried_example

    assert result.returncode == 0, result.stdout + result.stderr
    assert "-----> Running migrations: npm run migrate" in result.stdout
    assert "       ### MIGRATION 1700000000000_create-notes (UP) ###" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("-----> Migrations succeeded in ")
    assert result.stderr == ""


@pytest.mark.xdist_group("try-example")
def test_try_removes_its_database_and_network_after_success(tried_example):
    result = tried_example

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


def test_try_refuses_an_env_key_that_is_not_in_its_environment(docker_available):
    result = run_try("dm-node:20", "--env", "SECRET_TOKEN", *PG)

    assert result.returncode == 1
    assert result.stderr == (" !     Invalid --env 'SECRET_TOKEN': SECRET_TOKEN is not set in this environment: "
                             "export it first, or give it as --env SECRET_TOKEN=VALUE\n")


HEX_OF = ("for (const k of ['SECRET_TOKEN', 'FROM_FILE']) "
          "console.log(k, Buffer.from(process.env[k] || '', 'utf8').toString('hex'))")


def hex_values(stdout: str) -> dict:
    """The variables the migration saw, unset ones left out."""
    found = (line.strip().partition(" ") for line in stdout.splitlines()
             if line.startswith(("       SECRET_TOKEN ", "       FROM_FILE ")))
    return {name: bytes.fromhex(value).decode() for name, _, value in found if value}


def test_try_takes_a_secret_from_its_environment_so_it_is_never_on_its_command_line(images):
    value = "s3cr3t 'quoted' $HOME ✓"

    result = run_try(example_image(images), *PG, "--env", "SECRET_TOKEN", "--command", f'node -e "{HEX_OF}"',
                     env={"SECRET_TOKEN": value})

    assert result.returncode == 0, result.stdout + result.stderr
    assert hex_values(result.stdout) == {"SECRET_TOKEN": value}


def test_try_reads_variables_from_an_env_file_as_docker_run_does(images, tmp_path):
    env_file = tmp_path / "shop.env"
    env_file.write_text("# the shop's secrets\nFROM_FILE=a=b 'c' \"d\" # kept\nSECRET_TOKEN\n")

    result = run_try(example_image(images), *PG, "--env-file", str(env_file), "--command", f'node -e "{HEX_OF}"',
                     env={"SECRET_TOKEN": "from-the-environment"})

    assert result.returncode == 0, result.stdout + result.stderr
    assert hex_values(result.stdout) == {"FROM_FILE": "a=b 'c' \"d\" # kept", "SECRET_TOKEN": "from-the-environment"}


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
    assert bytes.fromhex(lines["DATABASE_URL"]).decode().endswith("@db:5432/postgres")


def test_try_stops_migrations_at_the_timeout_and_leaves_nothing(images):
    result = run_try(example_image(images), *PG, "--command", "sleep 60", "--timeout", "1")

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (" !     Migrations timed out after 1s and were stopped with SIGTERM "
                                              "(it exited with 143); give them longer with '--timeout 2'")
    assert left_by(session_of(result.stdout)) == []


def test_try_reports_a_database_that_is_never_ready_within_the_wait(images):
    # an entrypoint that ignores its arguments: try starts the server as `postgres -c …`, which a CMD
    # would not outlast, and a server that is merely quick could be ready within the wait
    never_ready = images.plain("never-ready",
                               'FROM dm-postgres:15\nENTRYPOINT ["/bin/sh", "-c", "exec sleep infinity"]\n')

    started = time.monotonic()
    result = run_try(example_image(images), "--postgres-image", never_ready, env={"DM_TRY_DATABASE_WAIT": "2"})

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


# --- the database the project uses -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tried_mariadb(images):
    """`try` of an app declaring MariaDB, once for the tests that look at how it went (xdist group
    "try-mariadb": one worker)."""
    return run_try(app_declaring(images, "mariadb:10.11"), *MARIADB)


@pytest.mark.xdist_group("try-mariadb")
def test_try_starts_the_mariadb_app_json_declares_and_the_migration_creates_its_table_there(tried_mariadb):
    result = tried_mariadb

    assert result.returncode == 0, result.stdout + result.stderr
    assert "-----> Starting a throwaway MariaDB (dm-mariadb:10.11)" in result.stdout
    assert "       MariaDB as /app/app.json $.migrations.database declares (mariadb:10.11)" in result.stdout
    assert "DATABASE_URL=mysql://mariadb:***@db:3306/app" in result.stdout
    assert "       Applied 0001_create_widgets" in result.stdout
    assert "       Connected as: mariadb@% to app at db:3306" in result.stdout
    assert "       Server: 10.11." in result.stdout
    assert "       Tables: applied_migrations widgets" in result.stdout
    assert "       Widgets: sprocket" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("-----> Migrations succeeded in ")
    assert result.stderr == ""


@pytest.mark.xdist_group("try-mariadb")
def test_try_removes_the_mariadb_and_its_network_afterwards(tried_mariadb):
    result = tried_mariadb

    assert result.returncode == 0, result.stdout + result.stderr
    assert left_by(session_of(result.stdout)) == []


def test_the_mysql_type_initialises_the_server_from_mysql_variables_and_hands_a_mysql_url(images):
    result = run_try(app_declaring(images, "mariadb:10.11"), "--database", "mysql:8.4", *MARIADB)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "-----> Starting a throwaway MySQL (dm-mariadb:10.11)" in result.stdout
    assert "DATABASE_URL=mysql://mysql:***@db:3306/app" in result.stdout
    assert "       Connected as: mysql@% to app at db:3306" in result.stdout
    assert "       Tables: applied_migrations widgets" in result.stdout
    assert left_by(session_of(result.stdout)) == []


def test_the_database_flag_overrides_the_declaration_in_app_json(images):
    show = 'echo "${DATABASE_URL%%:*} at ${DATABASE_URL#*@}"'

    result = run_try(app_declaring(images, "mariadb:10.11"), "--database", "postgres", "--database-image",
                     "dm-postgres:15", "--command", show)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "-----> Starting a throwaway PostgreSQL (dm-postgres:15)" in result.stdout
    assert "       PostgreSQL as --database postgres asks" in result.stdout
    assert "       postgres at db:5432/postgres" in result.stdout
    assert left_by(session_of(result.stdout)) == []


def test_a_project_that_declares_no_database_gets_postgres(images):
    result = run_try(example_image(images), "--database-image", "dm-postgres:15")

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"-----> Trying the migrations of {example_image(images)} against a throwaway PostgreSQL" in result.stdout
    assert "       PostgreSQL by default: the project declares no $.migrations.database in app.json" in result.stdout


def test_an_unsupported_type_declared_in_app_json_is_one_line_and_nothing_starts(images):
    image = app_declaring(images, "mongodb:7")

    result = run_try(image, *MARIADB)

    assert result.returncode == 1
    assert result.stderr == (" !     Unsupported database type 'mongodb' in /app/app.json $.migrations.database: try "
                             "supports postgres (or postgresql), mysql and mariadb; declare one of them "
                             "(\"mariadb:10.11\"), or override it with --database TYPE[:VERSION]\n")
    assert result.stdout == ""


def test_a_commented_app_json_with_trailing_commas_is_read_as_dokku_reads_it(images):
    app_json = ('{\n  // the database this project runs on\n'
                '  "migrations": {"command": "true", "database": "mongodb:7",},\n'
                '  /* the keys Dokku reads would follow */\n}\n')
    image = images.build_files("commented-app-json", {"app.json": app_json},
                               'FROM dm-base:bookworm\nWORKDIR /app\nCOPY . /app/\n')

    result = run_try(image, *MARIADB)

    assert result.returncode == 1
    assert result.stderr.startswith(" !     Unsupported database type 'mongodb' in /app/app.json $.migrations.database")
    assert result.stdout == ""


def test_an_unsupported_type_in_the_flag_is_one_line_and_nothing_starts(images):
    result = run_try(example_image(images), "--database", "sqlite")

    assert result.returncode == 1
    assert result.stderr == (" !     Unsupported database type 'sqlite' in --database: try supports postgres "
                             "(or postgresql), mysql and mariadb; pass one of them to --database, as TYPE or "
                             "TYPE:VERSION (mariadb:10.11)\n")
    assert result.stdout == ""


def test_the_url_scheme_follows_the_apps_database_scheme_variable_as_on_dokku(images):
    result = run_try(example_image(images), *PG, "--env", "POSTGRES_DATABASE_SCHEME=postgresql",
                     "--command", 'echo "scheme ${DATABASE_URL%%:*}"')

    assert result.returncode == 0, result.stdout + result.stderr
    assert "DATABASE_URL=postgresql://postgres:***@db:5432/postgres" in result.stdout
    assert "       scheme postgresql" in result.stdout


def test_try_shows_every_statement_its_migrations_sent_with_locks_and_lint(images):
    migrations = {"1700000000001_widgets.js": create_table("widgets"), "1700000000002_price.js": (
        "exports.up = (pgm) => { pgm.addColumn('widgets', { price: { type: 'integer', default: 0 } });\n"
        "  pgm.createIndex('widgets', 'name'); };\n")}

    result = run_try(images.node_app("shop", "v2", migrations), *PG)

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "-----> What the migrations sent" in out
    assert ('         ALTER TABLE "widgets" ADD "price" integer DEFAULT ?\n'
            "           public.widgets: ACCESS EXCLUSIVE (blocks reads and writes), rewrites: no\n") in out, out
    assert "           public.widgets: SHARE (blocks writes), rewrites: no; builds an index" in out
    assert "       Locks on tables:\n" in out
    assert "           require-lock-timeout: " in out  # squawk, on the ALTER TABLE
    assert out.index("What the migrations sent") < out.index("-----> Migrations succeeded in ")


def test_try_counts_the_statements_a_mariadb_migration_sent(images):
    result = run_try(app_declaring(images, "mariadb:10.11"), *MARIADB)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "statements sent\n       (the lock report and the lint are for PostgreSQL)" in result.stdout
