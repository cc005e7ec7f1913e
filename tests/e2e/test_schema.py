"""Every run is observed: the database's schema and migration records before and after it, read by a
client container of the database's own image on the migration's network. What a run changed is on
its record and in the deploy's output, and a run that changed nothing is never undone."""

import json
import os
import signal

from .conftest import service_of
from .host import DATABASE_LABEL, docker, http_get, psql
from .test_faults import migration_containers, plugin_pid, wait_for
from .test_rollback import CRASHING_SERVER, DECLARED, GADGETS, SCRIPTS, WIDGETS, tables
from .test_try import app_declaring


def database_clients(app: str) -> str:
    return docker("container", "ls", "-aq", "--filter", f"label={DATABASE_LABEL}={app}")


def test_a_deploy_says_what_its_migrations_changed_in_the_database(host, images, app):
    image = images.node_app("shop", "v1", GADGETS, scripts=SCRIPTS)

    result = host.dokku("git:from-image", app, image)

    assert result.code == 0, result.output
    # node-pg-migrate's own ledger, pgmigrations, is the third table: the first run creates it
    assert "       Database changed: +3 tables, +7 columns, +3 indexes, +3 constraints; 2 migrations recorded" \
        in result.stdout, result.stdout
    run = host.history(app)[0]
    assert (run["schema_changed"], run["schema_change"]) == (
        True, "+3 tables, +7 columns, +3 indexes, +3 constraints; 2 migrations recorded")
    assert run["schema_before"] != run["schema_after"]
    assert database_clients(app) == ""


def test_a_deploy_with_no_new_migration_says_the_database_is_unchanged(host, images, app):
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS, scripts=SCRIPTS)).code == 0

    result = host.dokku("git:from-image", app, images.node_app("shop", "v1.1", WIDGETS, scripts=SCRIPTS))

    assert result.code == 0, result.output
    assert "       Database unchanged: this run applied nothing" in result.stdout
    run = host.history(app)[0]
    assert (run["schema_changed"], run["schema_change"]) == (False, "unchanged")
    assert run["schema_before"] == run["schema_after"]


def test_migrations_history_shows_what_each_run_changed(host, images, app):
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS, scripts=SCRIPTS)).code == 0
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1.1", WIDGETS, scripts=SCRIPTS)).code == 0

    result = host.dokku("migrations:history", app)

    lines = result.stdout.splitlines()
    assert "DATABASE" in lines[1]
    assert "unchanged" in lines[2] and "npm run migrate" in lines[2]
    assert "+2 tables, +5 columns, +2 indexes, +2 constraints; 1 migration recorded" in lines[3]


def code_only_deploy_that_fails_its_checks(host, images, app):
    """v1 is live with both tables; v2 brings no migration, and its web process crashes."""
    v1 = images.node_app("shop", "v1", GADGETS, scripts=SCRIPTS, extra={"app.json": DECLARED})
    assert host.dokku("git:from-image", app, v1).code == 0
    v2 = images.node_app("shop", "v2", GADGETS, scripts=SCRIPTS,
                         extra={"app.json": DECLARED, "server.js": CRASHING_SERVER})
    with host.checks_wait(3):
        return host.dokku("git:from-image", app, v2)


def test_a_code_only_deploy_that_fails_its_checks_leaves_the_schema_not_ahead(host, images, app):
    failed = code_only_deploy_that_fails_its_checks(host, images, app)

    report = host.dokku("migrations:report", app, "--migrations-schema-ahead")

    assert failed.code != 0
    assert "is ahead of the running code" not in failed.output
    assert "migrations:rollback" not in failed.output
    assert report.stdout == "false\n"
    assert http_get(host.web_containers(app)[0]) == "v1"


def test_rollback_refuses_to_undo_a_run_that_changed_nothing(host, images, app):
    code_only_deploy_that_fails_its_checks(host, images, app)

    result = host.dokku("migrations:rollback", app)

    assert result.code != 0
    assert result.failures == [f" !     Nothing to roll back for {app}: the last migrations that ran belong to an "
                               "image that went live (see 'dokku migrations:history " + app + "'); to undo another "
                               "image's, name it with --image"]
    assert tables(app) == "gadgets,widgets"
    assert http_get(host.web_containers(app)[0]) == "v1"


def test_rollback_of_a_named_image_that_changed_nothing_is_refused_and_the_live_tables_stay(host, images, app):
    code_only_deploy_that_fails_its_checks(host, images, app)

    # the failed deploy leaves latest on v2, whose migration run succeeded (Dokku's checks failed after it)
    result = host.dokku("migrations:rollback", app, "--image", f"dokku/{app}:latest")

    assert result.code != 0
    assert len(result.failures) == 1, result.output
    assert f"Refusing to roll back {app} with dokku/{app}:latest" in result.failures[0]
    assert "changed nothing in the database" in result.failures[0]
    assert result.failures[0].endswith("deploy a fixed image")
    assert "Rolling back migrations" not in result.stdout
    assert tables(app) == "gadgets,widgets"
    assert psql(service_of(app), "SELECT count(*) FROM pgmigrations") == "2"


def test_rollback_of_a_run_that_changed_the_schema_says_what_it_undid(host, images, app):
    v1 = images.node_app("shop", "v1", WIDGETS, scripts=SCRIPTS, extra={"app.json": DECLARED})
    assert host.dokku("git:from-image", app, v1).code == 0
    v2 = images.node_app("shop", "v2", GADGETS, scripts=SCRIPTS,
                         extra={"app.json": DECLARED, "server.js": CRASHING_SERVER})
    with host.checks_wait(3):
        assert host.dokku("git:from-image", app, v2).code != 0

    result = host.dokku("migrations:rollback", app)

    assert result.code == 0, result.output
    assert "+1 table, +2 columns, +1 index, +1 constraint; 1 migration recorded, from the image" in result.stdout
    assert "       Database changed: -1 table, -2 columns, -1 index, -1 constraint; 1 migration unrecorded" \
        in result.stdout
    assert tables(app) == "widgets"


def test_a_mariadb_deploy_says_what_its_migrations_changed(host, images, bare_app):
    service = service_of(bare_app)
    assert host.dokku("mariadb:create", service).code == 0
    assert host.dokku("mariadb:link", service, bare_app).code == 0

    result = host.dokku("git:from-image", bare_app, app_declaring(images, "mariadb:10.11"))

    assert result.code == 0, result.output
    assert "       Applied 0001_create_widgets" in result.stdout
    # applied_migrations (the project's ledger) and widgets, each with a primary key
    assert "       Database changed: +2 tables, +4 columns, +2 indexes, +2 constraints; 1 migration recorded" \
        in result.stdout, result.stdout
    assert host.history(bare_app)[0]["schema_changed"] is True


def observing_an_unreachable_database(host, app):
    """The migration uses DATABASE_URL; the plugin is told to observe another URL, which nothing serves."""
    assert host.dokku("config:set", "--no-restart", app,
                      "REPORTING_URL=postgres://reader:secret-pw@reporting.invalid:5432/stats").code == 0
    assert host.dokku("migrations:set", app, "database-url-key", "REPORTING_URL").code == 0


def test_no_image_with_a_database_client_is_said_once_and_the_deploy_goes_on(host, images, app):
    observing_an_unreachable_database(host, app)  # no container serves it, and no postgres:* image is here

    result = host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS, scripts=SCRIPTS))

    assert result.code == 0, result.output
    assert result.output.count("Database not observed") == 1
    assert ("       Database not observed: could not read postgres database stats on reporting.invalid:5432: no "
            "image with a postgres client was found for reporting.invalid: pull one ('docker pull postgres:16') or "
            f"name one ('dokku migrations:set {app} database-image postgres:16')") in result.stdout, result.stdout
    assert tables(app) == "widgets"


def test_an_unreachable_database_is_said_once_and_the_deploy_goes_on(host, images, app):
    observing_an_unreachable_database(host, app)
    assert host.dokku("migrations:set", app, "database-image", "dm-postgres:15").code == 0

    result = host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS, scripts=SCRIPTS))

    assert result.code == 0, result.output
    assert result.output.count("Database not observed") == 1
    assert "       Database not observed: could not read postgres database stats on reporting.invalid:5432: " \
           "its client said: " in result.stdout, result.stdout
    assert "secret-pw" not in result.output
    assert tables(app) == "widgets"
    run = host.history(app)[0]
    assert run["status"] == "succeeded" and run["schema_changed"] is None
    assert "reporting.invalid" in run["schema_note"] and "secret-pw" not in json.dumps(run)
    assert database_clients(app) == ""


def test_an_image_without_a_database_client_is_said_once_and_the_deploy_goes_on(host, images, app):
    image = images.node_app("shop", "v1", WIDGETS, scripts=SCRIPTS)
    assert host.dokku("migrations:set", app, "database-image", image).code == 0  # node, no psql

    result = host.dokku("git:from-image", app, image)

    assert result.code == 0, result.output
    assert "       Database not observed: could not read postgres database " in result.stdout
    assert "its client said: no database client in this image" in result.stdout
    assert tables(app) == "widgets"
    assert database_clients(app) == ""


def test_an_app_whose_url_is_not_a_database_url_deploys_and_says_what_it_could_not_see(host, images, bare_app):
    assert host.dokku("config:set", "--no-restart", bare_app, "DATABASE_URL=redis://cache:6379/0").code == 0
    image = images.node_app("shop", "v1", {}, scripts={"start": "node server.js", "migrate": "true"})

    result = host.dokku("git:from-image", bare_app, image)

    assert result.code == 0, result.output
    assert ("       Database not observed: DATABASE_URL has the scheme 'redis', and only PostgreSQL and "
            "MySQL/MariaDB URLs are observed") in result.stdout


def test_an_app_with_nothing_to_run_starts_no_database_client(host, images, app):
    image = images.node_app("shop", "v1", {}, scripts={"start": "node server.js"})

    result = host.dokku("git:from-image", app, image)

    assert result.code == 0, result.output
    assert "Database" not in result.stdout
    assert host.history(app)[0]["schema_note"] == ""


def test_a_sigkilled_plugin_leaves_no_database_client_behind(host, images, app):
    hanging = images.node_app("hang", "v2", {}, scripts={"start": "node server.js", "migrate": "sleep 60"})
    deploy = host.spawn("git:from-image", app, hanging)
    wait_for("the database client", lambda: database_clients(app))
    wait_for("the migration container", lambda: migration_containers(app, running_only=True))

    os.kill(plugin_pid(app), signal.SIGKILL)
    deploy.communicate(timeout=60)

    # nobody removes it: its stdin closes with the plugin's connection, it exits, Docker removes it
    assert wait_for("the database client to go", lambda: database_clients(app) == "", timeout=30)
    assert wait_for("the migration container to go", lambda: migration_containers(app) == [])
