"""A deploy whose migrations succeed and whose new web process then fails: the old code keeps serving
against the new schema. The plugin says so, and `migrations:rollback` undoes it on request."""

import json

import pytest

from .apps import create_table
from .conftest import new_app, service_of
from .host import docker, http_get, psql

WIDGETS = {"1700000000001_widgets.js": create_table("widgets")}
GADGETS = {**WIDGETS, "1700000000002_gadgets.js": create_table("gadgets")}
SCRIPTS = {"start": "node server.js", "migrate": "node-pg-migrate up", "migrate:down": "node-pg-migrate down"}
DECLARED = json.dumps({"migrations": {"rollback": "npm run migrate:down"}})
CRASHING_SERVER = "console.error('cannot start: missing SECRET'); process.exit(1);\n"


def tables(app: str) -> str:
    return psql(service_of(app), "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
                                 "WHERE tablename IN ('widgets', 'gadgets')")


def v1_live_then_v2_migrated_but_crashing(host, images, app):
    v1 = images.node_app("shop", "v1", WIDGETS, scripts=SCRIPTS, extra={"app.json": DECLARED})
    assert host.dokku("git:from-image", app, v1).code == 0
    v2 = images.node_app("shop", "v2", GADGETS, scripts=SCRIPTS,
                         extra={"app.json": DECLARED, "server.js": CRASHING_SERVER})
    with host.checks_wait(3):
        return host.dokku("git:from-image", app, v2)


@pytest.fixture(scope="module")
def schema_ahead(host, images):
    """An app in that state, and the failed deploy's output, for the tests that only look at it
    (xdist group "rollback-schema-ahead": one worker)."""
    app = new_app(host, database=True)
    return app, v1_live_then_v2_migrated_but_crashing(host, images, app)


@pytest.mark.xdist_group("rollback-schema-ahead")
def test_a_deploy_that_fails_after_migrating_leaves_the_schema_ahead_and_says_so(host, schema_ahead):
    app, failed = schema_ahead

    report = host.dokku("migrations:report", app, "--migrations-schema-ahead")
    history = host.dokku("migrations:history", app)

    assert failed.code != 0
    assert failed.output.count("is ahead of the running code") == 1  # said once, at the end of the deploy
    assert tables(app) == "gadgets,widgets"
    assert http_get(host.web_containers(app)[0]) == "v1"
    assert report.stdout == "true\n"
    assert "the schema of" in history.stderr and "is ahead of the running code" in history.stderr
    assert f"dokku migrations:rollback {app}" in history.stderr


def test_rollback_runs_the_projects_down_migration_from_the_image_that_applied_it(host, images, app):
    v1_live_then_v2_migrated_but_crashing(host, images, app)
    serving = host.web_containers(app)[0]["Image"]

    result = host.dokku("migrations:rollback", app)

    assert result.code == 0, result.output
    assert "Rolling back migrations for" in result.stdout and "npm run migrate:down" in result.stdout
    assert tables(app) == "widgets"
    assert host.history(app)[0]["trigger"] == "migrations:rollback"
    assert host.dokku("migrations:report", app, "--migrations-schema-ahead").stdout == "false\n"
    assert docker("image", "inspect", "--format", "{{.Id}}", f"dokku/{app}:latest") == serving
    assert host.dokku("ps:restart", app).code == 0
    assert http_get(host.web_containers(app)[0]) == "v1"


def test_a_rolled_back_image_is_refused_because_it_was_rolled_back(host, images, app):
    v1_live_then_v2_migrated_but_crashing(host, images, app)
    assert host.dokku("migrations:rollback", app).code == 0

    result = host.dokku("deploy", app, "migrations-failed")

    assert result.code != 0
    assert f"Refusing to start dokku/{app}:migrations-failed: its migrations were rolled back" in result.stderr
    assert "migrations:run" not in result.stderr  # that would apply again what was just undone
    assert http_get(host.web_containers(app)[0]) == "v1"


def test_a_re_release_after_the_failed_deploy_leaves_the_schema_ahead(host, images, app):
    v1_live_then_v2_migrated_but_crashing(host, images, app)

    with host.checks_wait(3):  # config:set re-releases latest, the crashing v2, and only warns when it fails
        released = host.dokku("config:set", app, "GREETING=hello")

    assert released.code == 0, released.output
    assert "Migrations for" in released.output and "Database unchanged" in released.output
    assert host.dokku("migrations:report", app, "--migrations-schema-ahead").stdout == "true\n"
    assert tables(app) == "gadgets,widgets"


def test_rollback_uses_the_rollback_command_setting_over_the_projects_declaration(host, images, app):
    v1_live_then_v2_migrated_but_crashing(host, images, app)
    down = "node_modules/.bin/node-pg-migrate down --count 1"
    assert host.dokku("migrations:set", app, "rollback-command", down).code == 0

    result = host.dokku("migrations:rollback", app)

    assert result.code == 0, result.output
    assert "from app setting 'rollback-command'" in result.stdout
    assert tables(app) == "widgets"


@pytest.mark.xdist_group("rollback-schema-ahead")
def test_rollback_dry_run_shows_the_plan_and_changes_nothing(host, schema_ahead):
    app, _ = schema_ahead

    result = host.dokku("migrations:rollback", app, "--dry-run")

    assert result.code == 0, result.output
    assert "Would roll back run" in result.stdout and "Rolling back" not in result.stdout
    assert "Command:  npm run migrate:down" in result.stdout
    assert "Source:   /app/app.json $.migrations.rollback" in result.stdout
    assert tables(app) == "gadgets,widgets"


@pytest.mark.xdist_group("rollback-schema-ahead")
def test_rollback_refuses_the_image_serving_right_now(host, schema_ahead):
    app, _ = schema_ahead
    serving = host.web_containers(app)[0]["Image"]

    result = host.dokku("migrations:rollback", app, "--image", serving)

    assert result.code == 1
    assert result.stderr.startswith(f" !     Refusing to roll back {app} with {serving}: it is the image serving")
    assert result.stderr.rstrip("\n").endswith(f"run the down migration by hand with 'dokku run {app} <command>'")
    assert result.stderr.count("\n") == 1
    assert tables(app) == "gadgets,widgets"


def test_rollback_refuses_when_the_last_migrated_image_went_live(host, images, app):
    image = images.node_app("shop", "v1", WIDGETS, scripts=SCRIPTS, extra={"app.json": DECLARED})
    assert host.dokku("git:from-image", app, image).code == 0

    result = host.dokku("migrations:rollback", app)

    assert result.code == 1
    assert result.stderr.startswith(f" !     Nothing to roll back for {app}")
    assert tables(app) == "widgets"


def test_rollback_without_a_command_says_where_to_declare_one(host, images, app):
    v1 = images.node_app("shop", "v1", WIDGETS, scripts=SCRIPTS)
    assert host.dokku("git:from-image", app, v1).code == 0
    v2 = images.node_app("shop", "v2", GADGETS, scripts=SCRIPTS, extra={"server.js": CRASHING_SERVER})
    with host.checks_wait(3):
        assert host.dokku("git:from-image", app, v2).code != 0

    result = host.dokku("migrations:rollback", app)

    assert result.code == 1
    assert f"No rollback command for {app}" in result.stderr
    assert f"dokku migrations:set {app} rollback-command" in result.stderr
    assert tables(app) == "gadgets,widgets"
