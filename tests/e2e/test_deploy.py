"""Deploys through Dokku's release path: migrations run from the incoming image, before the switch."""

import json

import pytest

from .apps import FAILING_MIGRATION, create_table, echo_env
from .conftest import new_app, service_of
from .host import RUN_LABEL, built_from, docker, http_get, psql
from .spy import DockerSpy

WIDGETS = {"1700000000001_widgets.js": create_table("widgets")}
# As Dokku reads app.json since 0.37.0 (plugins/app-json/appjson.go ReadAppJSON: hujson, Standardize).
COMMENTED_APP_JSON = """// The shop's app.json: Dokku's keys and this plugin's
{
  "scripts": {
    "dokku": {
      "predeploy": "echo Dokku read this app.json too", // Dokku runs it before the plugin
    },
  },
  /* run before traffic switches,
     from the incoming image */
  "migrations": {
    "command": "./node_modules/.bin/node-pg-migrate up",
  },
}
"""


@pytest.fixture(scope="module")
def first_deploy(host, images):
    """One app with its database, deployed once with v1 (a widgets migration): the app and the deploy's
    output, for the tests that only look at that deploy (xdist group "deploy-shop-v1": one worker)."""
    app = new_app(host, database=True)
    return app, host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS))


@pytest.mark.xdist_group("deploy-shop-v1")
def test_migration_is_applied_before_the_new_container_starts(host, first_deploy):
    app, result = first_deploy

    assert result.code == 0, result.output
    assert psql(service_of(app), "SELECT count(*) FROM widgets") == "0"
    applied_at = psql(service_of(app), "SELECT extract(epoch FROM run_on) FROM pgmigrations")
    [container] = host.web_containers(app)
    started = docker("container", "inspect", "--format", "{{.State.StartedAt}}", container["Id"])
    started_epoch = float(docker("run", "--rm", "dm-base:bookworm", "date", "-d", started, "+%s.%N"))
    assert float(applied_at) < started_epoch
    assert "Running migrations for" in result.stdout and "npm run migrate" in result.stdout


@pytest.mark.xdist_group("deploy-shop-v1")
def test_migration_output_streams_indented_dokku_style(first_deploy):
    _, result = first_deploy

    assert result.code == 0, result.output
    migrating = [line for line in result.stdout.splitlines() if "Migrating files" in line or "MIGRATION" in line]
    assert migrating and all(line.startswith("       ") for line in migrating)


def test_a_v2_deploy_runs_the_migrations_of_the_incoming_image(host, images, app):
    v1 = images.node_app("shop", "v1", {"1700000000001_widgets.js": create_table("widgets")})
    v2 = images.node_app("shop", "v2", {"1700000000001_widgets.js": create_table("widgets"),
                                        "1700000000002_gadgets.js": create_table("gadgets")})
    assert host.dokku("git:from-image", app, v1).code == 0

    result = host.dokku("git:from-image", app, v2)

    assert result.code == 0, result.output
    assert psql(service_of(app), "SELECT name FROM pgmigrations ORDER BY id") == (
        "1700000000001_widgets\n1700000000002_gadgets")
    [container] = host.web_containers(app)
    assert http_get(container) == "v2"
    latest = host.history(app)[0]
    assert latest["status"] == "succeeded"
    assert built_from(latest["image_id"]) == v2


def test_a_failing_migration_stops_the_deploy_and_the_old_container_keeps_serving(host, images, app):
    v1 = images.node_app("shop", "v1", {"1700000000001_widgets.js": create_table("widgets")})
    v2 = images.node_app("shop", "v2", {"1700000000001_widgets.js": create_table("widgets"),
                                        "1700000000002_broken.js": FAILING_MIGRATION})
    assert host.dokku("git:from-image", app, v1).code == 0
    [before] = host.web_containers(app)

    result = host.dokku("git:from-image", app, v2)

    assert result.code != 0
    assert any(line.startswith(" !     Migration command 'npm run migrate' failed with exit code 1")
               for line in result.failures)
    [after] = host.web_containers(app)
    assert after["Id"] == before["Id"]
    assert http_get(after) == "v1"
    assert psql(service_of(app), "SELECT name FROM pgmigrations") == "1700000000001_widgets"


def test_an_app_without_a_migrate_script_deploys_without_migrations(host, images, bare_app):
    app = bare_app
    image = images.node_app("plain", "v1", {}, scripts={"start": "node server.js"})

    result = host.dokku("git:from-image", app, image)

    assert result.code == 0, result.output
    assert "No migrations to run" in result.stdout
    assert http_get(host.web_containers(app)[0]) == "v1"
    assert host.history(app)[0]["status"] == "skipped"


def test_an_app_without_package_json_deploys_without_migrations(host, images, bare_app):
    app = bare_app
    image = images.plain("nopkg", 'FROM dm-base:bookworm\nCMD ["sleep", "infinity"]\n')

    result = host.dokku("git:from-image", app, image)

    assert result.code == 0, result.output
    assert "No migrations to run" in result.stdout
    assert len(host.web_containers(app)) == 1


def test_a_malformed_package_json_stops_the_deploy_naming_the_file(host, images, bare_app):
    app = bare_app
    image = images.node_app("broken", "v1", {}, package_json='{"scripts": {"migrate": "x",}')

    result = host.dokku("git:from-image", app, image)

    assert result.code != 0
    assert result.failures[-1].startswith(" !     /app/package.json in the image is not valid JSON")
    assert result.failures[-1].endswith(f"fix it, or set the command with 'dokku migrations:set {app} command ...'")
    assert "Traceback" not in result.output
    assert host.web_containers(app) == []


def test_a_commented_app_json_with_trailing_commas_names_the_command_that_runs(host, images, app):
    image = images.node_app("commented", "v1", WIDGETS, extra={"app.json": COMMENTED_APP_JSON})

    result = host.dokku("git:from-image", app, image)

    assert result.code == 0, result.output
    assert f"from /app/app.json $.migrations.command in dokku/{app}:latest" in result.stdout
    assert "       Dokku read this app.json too" in result.stdout.splitlines()
    assert host.history(app)[0]["command"] == "./node_modules/.bin/node-pg-migrate up"
    assert psql(service_of(app), "SELECT name FROM pgmigrations") == "1700000000001_widgets"
    assert http_get(host.web_containers(app)[0]) == "v1"


def test_config_values_arrive_byte_exact(host, images, app):
    values = {
        "QUOTES": "it's \"quoted\" `tick`",
        "SPACES": "  leading and trailing  ",
        "DOLLAR": "$HOME ${PATH} $(id) \\n",
        "EQUALS": "a=b==c",
        "NEWLINES": "line one\nline two\r\n",
        "UNICODE": "héllo wörld ✓ 日本",
        "EMPTY": "",
    }
    image = images.node_app("echo", "v1", {"1700000000001_echo.js": echo_env(values)})
    assert host.dokku("config:set", "--no-restart", app, *[f"{k}={v}" for k, v in values.items()]).code == 0

    result = host.dokku("git:from-image", app, image)

    assert result.code == 0, result.output
    rows = dict(line.split("|") for line in psql(service_of(app), "SELECT key, value_hex FROM config_echo")
                .splitlines())
    assert {key: bytes.fromhex(rows.get(key, "")).decode() for key in values} == values


def test_the_database_host_resolves_only_through_the_apps_link(host, images, app):
    """`dokku postgres:link` adds a deploy option; the docker-options plugin prints it in
    docker-args-deploy, and the migration container is created with it, as app-json's task containers are."""
    image = images.node_app("shop", "v1", {"1700000000001_widgets.js": create_table("widgets")})
    spy = DockerSpy(host.base / "spy-link")
    try:
        result = host.dokku("git:from-image", app, image, env=spy.env(host.env()["PATH"]))
    finally:
        spy.close()
    url = json.loads(host.trigger("config-export", app, "false", "true", "json").stdout)["DATABASE_URL"]

    assert result.code == 0, result.output
    [create] = [argv for argv in spy.invocations() if argv[:2] == [b"container", b"create"]
                and any(arg.startswith(f"--label={RUN_LABEL}=".encode()) for arg in argv)]
    link = f"dokku.postgres.{service_of(app)}:dokku-postgres-{service_of(app)}".encode()
    assert [b"--link", link] in [create[index:index + 2] for index in range(len(create))]
    assert f"@dokku-postgres-{service_of(app)}:5432/" in url
    unlinked = docker("run", "--rm", "dm-base:bookworm", "getent", "hosts", f"dokku-postgres-{service_of(app)}",
                      check=False)
    assert unlinked == ""


def test_ps_start_of_a_stopped_app_runs_the_migrations_again_before_it_serves(host, images, app):
    """ps:start of an app that is not running goes through the whole release (plugins/ps/ps.go Start →
    release-and-deploy), so pre-release-builder runs."""
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS)).code == 0
    assert host.dokku("ps:stop", app).code == 0
    assert host.web_containers(app) == []

    result = host.dokku("ps:start", app)

    assert result.code == 0, result.output
    assert f"Running migrations for {app}" in result.stdout
    assert [run["trigger"] for run in host.history(app)] == ["pre-release-builder"] * 2
    assert http_get(host.web_containers(app)[0]) == "v1"
