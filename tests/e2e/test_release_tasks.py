"""Dokku's own release tasks — app.json `scripts.dokku.predeploy` and the Procfile's `release`
(plugins/app-json/triggers.go) — run in every release beside the plugin: when one runs the same
migrations, the deploy says so, with the way out, and so does the report."""

import json

import pytest

from .apps import create_table
from .conftest import new_app, service_of
from .host import psql

WIDGETS = {"1700000000001_widgets.js": create_table("widgets")}
RELEASE_MIGRATES = {"Procfile": "web: node server.js\nrelease: npm run migrate\n"}


def deploy(host, images, app, files):
    image = images.node_app("tasks", "v1", WIDGETS, extra=files)
    return host.dokku("git:from-image", app, image)


@pytest.fixture(scope="module")
def released_twice(host, images):
    """An app deployed once with a Procfile `release` task running its migrations too, and the deploy's
    output, for the tests that only look at it (xdist group "release-task-migrates": one worker)."""
    app = new_app(host, database=True)
    return app, deploy(host, images, app, RELEASE_MIGRATES)


@pytest.mark.xdist_group("release-task-migrates")
def test_a_procfile_release_task_running_the_same_migrations_is_named_with_the_way_out(released_twice):
    app, result = released_twice

    assert result.code == 0, result.output
    [line] = [line for line in result.failures if "Dokku runs these migrations itself too" in line]
    assert "(Procfile release: npm run migrate), so they run twice per deploy" in line
    assert "remove that task from the Procfile" in line and f"dokku migrations:set {app} enabled false" in line
    assert "Executing release task from Procfile in ephemeral container: npm run migrate" in result.stdout
    assert psql(service_of(app), "SELECT count(*) FROM pgmigrations") == "1"


def test_an_app_json_predeploy_running_the_migration_script_itself_is_named(host, images, app):
    app_json = {"scripts": {"dokku": {"predeploy": "./node_modules/.bin/node-pg-migrate up"}}}

    result = deploy(host, images, app, {"app.json": json.dumps(app_json)})

    assert result.code == 0, result.output
    assert any("(app.json scripts.dokku.predeploy: ./node_modules/.bin/node-pg-migrate up), so they run twice"
               in line and "remove that task from app.json" in line for line in result.failures)


@pytest.mark.xdist_group("release-task-migrates")
def test_the_report_names_the_dokku_task_that_ran_them_again(host, released_twice):
    app, deployed = released_twice
    assert deployed.code == 0, deployed.output

    result = host.dokku("migrations:report", app, "--migrations-also-run-by-dokku")

    assert result.stdout == "Procfile release: npm run migrate\n"


def test_a_release_task_doing_something_else_is_not_flagged(host, images, app):
    result = deploy(host, images, app, {"Procfile": "web: node server.js\nrelease: echo warming caches\n"})

    assert result.code == 0, result.output
    assert not any("Dokku runs these migrations itself too" in line for line in result.failures)
    assert host.dokku("migrations:report", app, "--migrations-also-run-by-dokku").stdout == "\n"


def test_tasks_of_the_previous_deploy_are_not_counted_once_its_app_json_and_procfile_are_gone(host, images, app):
    """A source without app.json or Procfile leaves `.missing` markers (plugins/common/common.go
    CorePostExtract), and Dokku then runs neither task: the previous deploy's copies no longer count
    (app-json hasAppJSON, ps hasProcfile)."""
    app_json = {"scripts": {"dokku": {"predeploy": "./node_modules/.bin/node-pg-migrate up"}}}
    assert deploy(host, images, app, {"app.json": json.dumps(app_json),
                                      "Procfile": "web: node server.js\nrelease: npm run migrate\n"}).code == 0

    result = host.dokku("git:from-image", app, images.node_app("tasks", "v2", WIDGETS))

    assert result.code == 0, result.output
    assert "No predeploy task found, skipping" in result.stdout and "No release task found, skipping" in result.stdout
    assert not any("Dokku runs these migrations itself too" in line for line in result.failures)
    assert host.dokku("migrations:report", app, "--migrations-also-run-by-dokku").stdout == "\n"
