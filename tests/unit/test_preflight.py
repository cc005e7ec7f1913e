"""Pre-flight's pure parts: what the copy's migration gets, how production is reached, the report."""

from dokku_migrations.database.lint import Finding, parse
from dokku_migrations.database.locks import Tables
from dokku_migrations.database.preflight import findings, throwaway_url
from dokku_migrations.database.url import MYSQL, POSTGRES
from dokku_migrations.database.url import parse as parse_url
from dokku_migrations.docker.image import ImageInfo
from dokku_migrations.run.preflight import container_args, probe_args, replaced

from .loading import loaded

IMAGE = ImageInfo(ref="dokku/shop:latest", id="sha256:abc", workdir="/app", entrypoint=[], labels={}, env=[],
                  repo_tags=[], stop_signal="")
URL = "postgres://postgres:secret@dokku-postgres-db:5432/db?sslmode=require&application_name=shop"


def test_the_copys_migration_joins_only_the_copys_network_with_the_same_image_and_command():
    args = container_args(IMAGE, "dockerfile", "npm run migrate", "dm-preflight-1234", ["DATABASE_URL", "SECRET"],
                          {"com.dokku.migrations.preflight": "shop"}, "512m", "")

    assert args[0] == "--network=dm-preflight-1234"
    assert not any(arg.startswith(("--link", "-v", "--volume", "--mount")) for arg in args)
    assert "--env=DATABASE_URL" in args and "--env=SECRET" in args and "--memory=512m" in args
    assert args[-4:] == ["sha256:abc", "/bin/sh", "-c", "trap 'exit 143' TERM; npm run migrate"]


def test_the_networking_probe_keeps_links_and_networks_but_no_value_and_no_run_label():
    spec = ["--link", "dokku.postgres.db:dokku-postgres-db", "--env=SECRET", "-e", "TOKEN", "--network=backend",
            "--label=com.dokku.migrations.run=12", "--init", "sha256:abc", "/bin/sh", "-c", "npm run migrate"]

    args = probe_args(spec, "sha256:abc", {"com.dokku.migrations.preflight": "shop"})

    assert args == ["--link", "dokku.postgres.db:dokku-postgres-db", "--network=backend", "--init",
                    "--label=com.dokku.migrations.preflight=shop", "sha256:abc", "/bin/sh", "-c", "npm run migrate"]


def test_every_config_value_equal_to_the_database_url_points_at_the_copy():
    values = {"DATABASE_URL": URL, "DOKKU_POSTGRES_AQUA_URL": URL, "REDIS_URL": "redis://cache:6379"}

    assert replaced(values, "DATABASE_URL", "postgres://copy") == {
        "DATABASE_URL": "postgres://copy", "DOKKU_POSTGRES_AQUA_URL": "postgres://copy", "REDIS_URL": "redis://cache:6379"}


def test_the_copys_url_keeps_the_apps_scheme_user_database_and_parameters_but_not_tls():
    target = parse_url(URL)

    assert throwaway_url(target, URL, "pw", "dokku-postgres-db", 5432) == \
        "postgres://postgres:pw@dokku-postgres-db:5432/db?application_name=shop"


def test_squawks_lines_are_mapped_to_the_statements_they_are_about():
    found = parse([{"line": 0, "rule_name": "a", "message": "m"}, {"line": 3, "rule_name": "b", "message": "n"}],
                  [0, 2, 4])

    assert found == [Finding(0, "a", "m"), Finding(1, "b", "n")]


def test_the_report_redacts_literals_and_names_each_lock():
    tables = Tables(columns={"public.users": {"id": "integer", "email": "text"}})
    statements = ["UPDATE users SET email = 'someone@example.com' WHERE id = 7",
                  "ALTER TABLE users ADD COLUMN age integer DEFAULT 0"]

    lines = findings(POSTGRES, statements, tables, linted=lambda statements, version: ([], "")).lines()

    assert lines == ["2 statements sent", "Locks on production tables:",
                     "  UPDATE users SET email = ? WHERE id = ?",
                     "    public.users: ROW EXCLUSIVE (blocks only SHARE and stronger locks), rewrites: no; "
                     "writes rows",
                     "  ALTER TABLE users ADD COLUMN age integer DEFAULT ?",
                     "    public.users: ACCESS EXCLUSIVE (blocks reads and writes), rewrites: no",
                     "squawk: no warnings"]
    assert "someone@example.com" not in "\n".join(lines)


def test_a_mysql_report_counts_the_statements_only():
    assert findings(MYSQL, ["CREATE TABLE t (id int)"], Tables()).lines() == [
        "1 statement sent", "(the lock report and the lint are for PostgreSQL)"]


def test_a_release_with_the_pre_flight_off_loads_none_of_it():
    """The pre-flight's modules (a throwaway server, squawk, the lock rules) cost a release ~10 ms of
    imports: loaded only when the app asks for a pre-flight."""
    assert loaded("import dokku_migrations.entry.triggers, dokku_migrations.run.migrate",
                  ("dokku_migrations.run.preflight", "dokku_migrations.database.preflight",
                   "dokku_migrations.database.lint", "dokku_migrations.database.locks")) == []
