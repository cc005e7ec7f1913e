"""Operating it: settings, report, history and logs of every run, timeouts, dry-run, lifecycle."""

import json
import os
import stat
import subprocess
import time

import pytest

from dokku_migrations.run.settings import KEYS

from .apps import FAILING_MIGRATION, create_table
from .conftest import built, make_host, new_app, service_of
from .host import RUN_LABEL, built_from, docker, http_get, image_exists, psql

WIDGETS = {"1700000000001_widgets.js": create_table("widgets")}


def test_a_migration_that_outlives_its_timeout_is_killed_and_stops_the_deploy(host, images, bare_app):
    app = bare_app
    image = images.node_app("sleepy", "v1", {}, scripts={"start": "node server.js", "migrate": "sleep 120"})
    assert host.dokku("migrations:set", app, "timeout", "3").code == 0
    started = time.monotonic()

    result = host.dokku("git:from-image", app, image)

    assert result.code != 0
    assert time.monotonic() - started < 30
    assert "timed out after 3s" in result.failures[-1]
    assert f"dokku migrations:set {app} timeout 6" in result.failures[-1]
    assert host.web_containers(app) == []
    assert host.history(app)[0]["status"] == "timed-out"
    assert not (host.lib_root / "data" / "migrations" / app / ".lock").exists() or \
        subprocess.run(["flock", "-n", str(host.lib_root / "data" / "migrations" / app / ".lock"),
                        "true"]).returncode == 0


def test_history_records_success_failure_timeout_and_skip(host, images, app):
    good = images.node_app("shop", "v1", WIDGETS)
    bad = images.node_app("shop", "v2", {**WIDGETS, "1700000000002_broken.js": FAILING_MIGRATION})
    sleepy = images.node_app("sleepy", "v1", {}, scripts={"start": "node server.js", "migrate": "sleep 120"})
    assert host.dokku("git:from-image", app, good).code == 0
    assert host.dokku("migrations:run", app, "--image", host.app_image(app, bad)).code == 1
    assert host.dokku("migrations:set", app, "timeout", "2").code == 0
    assert host.dokku("migrations:run", app, "--image", host.app_image(app, sleepy)).code == 1
    assert host.dokku("migrations:set", app, "enabled", "false").code == 0
    assert host.dokku("migrations:run", app).code == 0

    runs = host.history(app)

    assert [r["status"] for r in runs] == ["skipped", "timed-out", "failed", "succeeded"]
    assert [r["trigger"] for r in runs] == ["migrations:run"] * 3 + ["pre-release-builder"]
    assert runs[2]["exit_code"] == 1 and runs[3]["exit_code"] == 0
    assert built_from(runs[3]["image_id"]) == good
    assert all(r["duration"] is not None and r["command"] in ("npm run migrate", "sleep 120", "")
               for r in runs)


def test_history_lists_runs_newest_first_in_a_table(host, images, app):
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS)).code == 0
    assert host.dokku("migrations:run", app).code == 0

    result = host.dokku("migrations:history", app)

    assert result.code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"=====> {app} migration runs, newest first"
    assert lines[1].split() == ["ID", "STARTED", "(UTC)", "TRIGGER", "STATUS", "EXIT", "TIME", "DATABASE",
                                "COMMAND"]
    assert lines[2].split()[0] == "2" and "migrations:run" in lines[2] and "succeeded" in lines[2]
    assert lines[3].split()[0] == "1" and "pre-release-builder" in lines[3]


def test_logs_show_the_output_of_the_latest_run_or_a_given_one(host, images, app):
    bad = images.node_app("shop", "v2", {**WIDGETS, "1700000000002_broken.js": FAILING_MIGRATION})
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS)).code == 0
    assert host.dokku("migrations:run", app, "--image", host.app_image(app, bad)).code == 1

    latest = host.dokku("migrations:logs", app)
    first = host.dokku("migrations:logs", app, "1")

    assert latest.code == 0 and first.code == 0
    assert latest.stdout.startswith(f"=====> {app} run 2 (failed, exit 1)")
    assert "division by zero" in latest.stdout
    assert first.stdout.startswith(f"=====> {app} run 1 (succeeded, exit 0)")
    assert "1700000000001_widgets" in first.stdout


def test_logs_of_a_run_that_does_not_exist_say_where_to_look(host, bare_app):
    app = bare_app
    result = host.dokku("migrations:logs", app, "42")

    assert result.code == 1
    assert result.stderr == f" !     Run 42 of {app} is not in the history: see 'dokku migrations:history {app}'\n"


def test_dry_run_prints_the_plan_with_config_keys_only_and_runs_nothing(host, images, app):
    image = host.app_image(app, images.node_app("shop", "v1", WIDGETS))
    assert host.dokku("config:set", "--no-restart", app, "API_TOKEN=sekrit-value-123").code == 0
    since = docker("system", "info", "--format", "{{.SystemTime}}")

    result = host.dokku("migrations:run", app, "--image", image, "--dry-run")

    until = docker("system", "info", "--format", "{{.SystemTime}}")
    assert result.code == 0, result.output
    assert f"Image:    {image}" in result.stdout
    assert "Command:  npm run migrate" in result.stdout
    assert "Source:   /app/package.json $.scripts.migrate" in result.stdout
    assert "API_TOKEN" in result.stdout and "DATABASE_URL" in result.stdout
    assert "sekrit-value-123" not in result.output
    assert f"--link dokku.postgres.{service_of(app)}:dokku-postgres-{service_of(app)}" in result.stdout
    created = docker("events", "--since", since, "--until", until, "--filter", "event=create",
                     "--filter", f"label={RUN_LABEL}", "--format", '{{index .Actor.Attributes "com.dokku.app-name"}}')
    assert app not in created.split()
    assert psql(service_of(app), "SELECT to_regclass('widgets') IS NULL") == "t"
    assert host.history(app) == []


def test_a_disabled_app_deploys_with_one_line_saying_so(host, images, app):
    assert host.dokku("migrations:set", app, "enabled", "false").code == 0

    result = host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS))

    assert result.code == 0, result.output
    assert f"-----> Migrations are disabled for {app}: deploying without running them" in result.stdout
    assert psql(service_of(app), "SELECT to_regclass('widgets') IS NULL") == "t"
    assert http_get(host.web_containers(app)[0]) == "v1"


# A refused value for every setting: the cases follow settings.KEYS, so a new key without one fails.
BAD_VALUES = {
    "enabled": ("false", "maybe"),
    "command": ("npm run db:up", "true\ntouch /tmp/pwned"),
    "rollback-command": ("npm run migrate:down", "true\ntouch /tmp/pwned"),
    "timeout": ("60", "soon"),
    "grace": ("5", "3601"),
    "detect": ("composer.json:$.scripts.migrate=>composer migrate", "package.json=>npm run migrate"),
    "keep": ("7", "0"),
    "memory": ("512m", "lots"),
    "cpus": ("1.5", "1;2"),
    "database-url-key": ("REPORTING_URL", "NOT A KEY"),
    "database-image": ("postgres:16", "postgres:16; rm -rf /"),
    "preflight": ("block", "sometimes"),
    "quiet-after": ("0", "soon"),
    "lock-timeout": ("0.5", "5s"),
    "lock-retries": ("2", "21"),
}


@pytest.mark.parametrize("key", list(KEYS))
def test_a_bad_value_is_refused_and_changes_nothing(host, bare_app, key):
    assert key in BAD_VALUES, f"setting {key!r} has no refused value here: add one to BAD_VALUES"
    good, bad = BAD_VALUES[key]
    assert host.dokku("migrations:set", bare_app, key, good).code == 0

    result = host.dokku("migrations:set", bare_app, key, bad)

    assert result.code == 1
    assert result.stderr.startswith(" !     ") and result.stderr.count("\n") == 1
    assert host.dokku("migrations:report", bare_app, f"--migrations-{key}").stdout == good + "\n"


def test_an_unknown_setting_is_refused_and_changes_nothing(host, bare_app):
    before = host.dokku("migrations:report", bare_app, "--format", "json").stdout

    result = host.dokku("migrations:set", bare_app, "colour", "blue")

    assert result.code == 1 and result.stderr.startswith(" !     Unknown setting 'colour'")
    assert host.dokku("migrations:report", bare_app, "--format", "json").stdout == before


def test_report_shows_every_setting_and_a_flag_prints_the_bare_value(host, bare_app):
    app = bare_app
    assert host.dokku("migrations:set", "--global", "timeout", "900").code == 0
    try:
        assert host.dokku("migrations:set", app, "memory", "512m").code == 0

        report = host.dokku("migrations:report", app)
        flag = host.dokku("migrations:report", app, "--migrations-computed-timeout")
        as_json = json.loads(host.dokku("migrations:report", app, "--format", "json").stdout)
    finally:
        host.dokku("migrations:set", "--global", "timeout")

    assert report.stdout.startswith(f"=====> {app} migrations information\n")
    lines = report.stdout.splitlines()[1:]
    assert all(line.startswith("       Migrations ") for line in lines)
    assert any(line.split() == ["Migrations", "computed", "timeout:", "900"] for line in lines)
    assert any(line.split() == ["Migrations", "memory:", "512m"] for line in lines)
    value_columns = {len(line) - len(line.split(":", 1)[1].lstrip()) for line in lines if line.split(":", 1)[1].strip()}
    assert len(value_columns) == 1
    assert flag.stdout == "900\n"
    assert as_json["computed-timeout"] == "900" and as_json["memory"] == "512m" and as_json["timeout"] == ""


def test_a_custom_detect_rule_makes_another_manifest_zero_config(host, images, app):
    rule = "composer.json:$.scripts.migrate=>npm run db:up"
    assert host.dokku("migrations:set", app, "detect", rule).code == 0
    image = images.node_app("php-ish", "v1", WIDGETS,
                            scripts={"start": "node server.js", "db:up": "node-pg-migrate up"},
                            extra={"composer.json": json.dumps({"scripts": {"migrate": "php artisan migrate"}})})

    result = host.dokku("git:from-image", app, image)

    assert result.code == 0, result.output
    assert "npm run db:up" in result.stdout
    assert psql(service_of(app), "SELECT count(*) FROM widgets") == "0"


def test_settings_and_history_follow_a_rename_and_vanish_with_the_old_name(host, images, app):
    assert host.dokku("migrations:set", app, "timeout", "77").code == 0
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS)).code == 0
    new = app + "-renamed"

    result = host.dokku("apps:rename", app, new)

    assert result.code == 0, result.output
    assert host.dokku("migrations:report", new, "--migrations-timeout").stdout == "77\n"
    runs = host.history(new)
    assert runs[-1]["app"] == new and runs[-1]["status"] == "succeeded"
    assert not (host.lib_root / "config" / "migrations" / app).exists()
    assert not (host.lib_root / "data" / "migrations" / app).exists()
    host.dokku("apps:destroy", "--force", new)


def test_settings_and_history_are_copied_to_a_clone(host, images, app):
    assert host.dokku("migrations:set", app, "timeout", "55").code == 0
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS)).code == 0
    clone = app + "-clone"

    result = host.dokku("apps:clone", app, clone)

    assert result.code == 0, result.output
    assert host.dokku("migrations:report", clone, "--migrations-timeout").stdout == "55\n"
    assert host.dokku("migrations:report", app, "--migrations-timeout").stdout == "55\n"
    assert [r["status"] for r in host.history(clone)] == ["succeeded", "succeeded"]
    host.dokku("apps:destroy", "--force", clone)


def test_destroying_an_app_removes_its_settings_and_history(host, images, app):
    assert host.dokku("migrations:set", app, "timeout", "60").code == 0
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS)).code == 0

    assert host.dokku("apps:destroy", "--force", app).code == 0

    assert not (host.lib_root / "config" / "migrations" / app).exists()
    assert not (host.lib_root / "data" / "migrations" / app).exists()


def test_history_files_are_readable_by_the_dokku_user_only(host, images, bare_app):
    app = bare_app
    assert host.dokku("migrations:set", app, "command", "true").code == 0
    built(host, app, images.node_app("shop", "v1", WIDGETS))
    assert host.dokku("migrations:run", app).code == 0
    runs = host.lib_root / "data" / "migrations" / app / "runs"

    modes = {path.name: stat.S_IMODE(os.stat(path).st_mode) for path in [runs, *runs.iterdir()]}

    assert modes == {"runs": 0o700, "1.json": 0o600, "1.log": 0o600}
    assert {os.stat(p).st_uid for p in runs.iterdir()} == {int(subprocess.check_output(["id", "-u", "dokku"]))}


def test_history_keeps_only_the_newest_runs(host, images, bare_app):
    app = bare_app
    assert host.dokku("migrations:set", app, "keep", "2").code == 0
    assert host.dokku("migrations:set", app, "command", "true").code == 0
    built(host, app, images.node_app("shop", "v1", WIDGETS))
    for _ in range(3):
        assert host.dokku("migrations:run", app).code == 0

    assert [r["id"] for r in host.history(app)] == [3, 2]


def test_an_app_with_a_legacy_name_deploys_and_is_destroyed(host, images):
    """Apps created before Dokku 0.38.2 may have `_` in their names, and plugins/common/common.go
    VerifyAppName accepts them still (only apps:create applies the current rule)."""
    app = f"legacy_{os.urandom(3).hex()}"
    (host.root / app).mkdir()
    subprocess.run(["chown", "dokku:dokku", str(host.root / app)], check=True)
    assert host.trigger("post-create", app).code == 0
    assert host.dokku("migrations:set", app, "command", "true").code == 0

    deployed = host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS))
    destroyed = host.dokku("apps:destroy", "--force", app)

    assert deployed.code == 0, deployed.output
    assert f"Migrations for {app} succeeded" in deployed.stdout
    assert destroyed.code == 0, destroyed.output
    assert not (host.root / app).exists()
    assert not (host.lib_root / "config" / "migrations" / app).exists()


def test_uninstalling_another_plugin_leaves_this_ones_state_alone(host, bare_app):
    app = bare_app
    """Dokku fires `uninstall NAME` in every plugin (plugins/plugin/functions uninstall_plugin)."""
    other = host.available / f"other-{os.urandom(3).hex()}"
    other.mkdir()
    (other / "plugin.toml").write_text('[plugin]\ndescription = "x"\nversion = "0.0.1"\n[plugin.config]\n')
    (host.enabled / other.name).symlink_to(other)
    assert host.dokku("migrations:set", app, "timeout", "42").code == 0

    result = host.dokku_as_root("plugin:uninstall", other.name)

    assert result.code == 0, result.output
    assert not other.exists()
    assert host.dokku("migrations:report", app, "--migrations-timeout").stdout == "42\n"


@pytest.fixture
def own_host(docker_available):
    host = make_host("0.38.27")
    yield host
    host.cleanup()


def test_plugin_uninstall_removes_settings_history_and_failed_image_tags(own_host, images):
    app = new_app(own_host, database=True)
    assert own_host.dokku("migrations:set", app, "timeout", "42").code == 0
    assert own_host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS)).code == 0
    assert own_host.dokku("git:from-image", app, images.node_app("shop", "v2", {
        **WIDGETS, "1700000000002_broken.js": FAILING_MIGRATION})).code != 0
    assert image_exists(f"dokku/{app}:migrations-failed")

    result = own_host.dokku_as_root("plugin:uninstall", "migrations")

    assert result.code == 0, result.output
    assert not (own_host.lib_root / "data" / "migrations").exists()
    assert not (own_host.lib_root / "config" / "migrations").exists()
    assert not image_exists(f"dokku/{app}:migrations-failed")
    assert not own_host.plugin_dir.exists() and not (own_host.enabled / "migrations").exists()
    assert own_host.dokku("ps:restart", app).code == 0


def test_plugin_uninstall_with_docker_down_still_removes_the_plugins_files(own_host, images):
    app = new_app(own_host, database=False)
    assert own_host.dokku("migrations:set", app, "timeout", "42").code == 0

    result = own_host.dokku_as_root("plugin:uninstall", "migrations",
                                    env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})

    assert result.code == 0, result.output
    assert "the dokku/<app>:migrations-failed tags are left" in result.output
    assert not (own_host.lib_root / "config" / "migrations").exists()
    assert not own_host.plugin_dir.exists()


def test_a_plugin_installed_under_another_name_works_and_uninstalls_by_that_name(docker_available, images):
    """Dokku names a plugin by `plugin:install URL --name NAME`, else from its URL (plugins/plugin/functions
    download_and_enable_plugin, plugin_name: `dokku-db-migrations.git` → `db-migrations`)."""
    renamed = make_host("0.38.27", name="db-migrations")
    try:
        app = new_app(renamed, database=True)
        deployed = renamed.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS))
        uninstalled = renamed.dokku_as_root("plugin:uninstall", "db-migrations")

        assert deployed.code == 0, deployed.output
        assert f"Migrations for {app} succeeded" in deployed.stdout
        assert uninstalled.code == 0, uninstalled.output
        assert "Removed dokku-migrations' settings, run history and image tags (1 apps)" in uninstalled.stdout
        assert not (renamed.lib_root / "data" / "migrations").exists()
        assert not renamed.plugin_dir.exists()
    finally:
        renamed.cleanup()



def test_dokkus_restart_policy_and_the_apps_limits_never_reach_the_migration_container(host, images, app):
    """Dokku's ps plugin adds `--restart=on-failure:10`, the logs plugin `--log-opt=max-size=10m` and the
    resource plugin the app's `resource:limit`/`resource:reserve` values to every process deploy
    (docker-args-process-deploy); app-json drops the restart policy, limits, reservations and published
    ports from its task containers (plugins/app-json/functions.go executeScript), and so does the plugin."""
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS)).code == 0
    assert host.dokku("docker-options:add", app, "deploy", "--memory=64m --publish 8080:5000").code == 0
    assert host.dokku("resource:limit", "--memory", "100", "--cpu", "0.5", "--memory-swap", "200m", app).code == 0
    assert host.dokku("resource:reserve", "--memory", "50", app).code == 0
    process_args = host.trigger("docker-args-process-deploy", app, "dockerfile", "latest").stdout

    result = host.dokku("migrations:run", app, "--dry-run")

    assert result.code == 0, result.output
    assert "--memory=100m" in process_args and "--memory-reservation=50m" in process_args
    [docker_line] = [line for line in result.stdout.splitlines() if "Docker:" in line]
    assert "--log-opt=max-size=10m" in docker_line
    for dropped in ("--restart", "--memory", "--cpus", "--memory-swap", "--memory-reservation", "8080"):
        assert dropped not in docker_line
