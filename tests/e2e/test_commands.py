"""`dokku migrations:*` commands as Dokku dispatches them (every plugin's `commands` file)."""

import json
import os
import shutil
import subprocess
import time

import pytest

from .apps import create_table
from .conftest import built, make_host, new_app, service_of
from .host import psql


def test_dokku_help_lists_one_summary_line(host):
    result = host.dokku("help")
    line = subprocess.run([str(host.plugin_dir / "commands"), "help"], capture_output=True, text=True,
                          env=host.env()).stdout

    assert result.code == 0
    assert line == "    migrations, Run database migrations from the incoming image before each deploy\n"
    assert [row.split() for row in result.stdout.splitlines() if "migrations" in row] == \
        [["migrations", "Run", "database", "migrations", "from", "the", "incoming", "image", "before", "each",
          "deploy"]]


def test_migrations_help_lists_every_command(host):
    result = host.dokku("migrations:help")

    assert result.code == 0
    for command in ("migrations:run", "migrations:set", "migrations:report", "migrations:history",
                    "migrations:logs"):
        assert f"    {command}" in result.stdout


def test_other_plugins_commands_exit_10_without_starting_python(host, tmp_path):
    """The `commands` shim beside a `bin/run` that only notes it was run (bin/run is what starts Python):
    another plugin's command never gets there; one of ours does."""
    for name in ("commands", "help.txt"):
        shutil.copy(host.plugin_dir / name, tmp_path / name)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "run").write_text('#!/bin/sh\necho "$@" >>"$0.ran"\n')
    os.chmod(tmp_path / "bin" / "run", 0o755)

    other = subprocess.run(["/bin/bash", str(tmp_path / "commands"), "postgres:create", "x"], capture_output=True,
                           env=host.env())
    ours = subprocess.run(["/bin/bash", str(tmp_path / "commands"), "migrations:report", "x"], capture_output=True,
                          env=host.env())

    assert (other.returncode, other.stdout, other.stderr) == (10, b"", b"")
    assert ours.returncode == 0
    assert (tmp_path / "bin" / "run.ran").read_text() == "command migrations:report x\n"


def test_an_unknown_migrations_command_fails_with_one_line(host):
    result = host.dokku("migrations:frobnicate")

    assert result.code == 1
    assert result.stderr.startswith(" !     Unknown command migrations:frobnicate")


def test_migrations_run_applies_the_deployed_images_migrations(host, images, app):
    built(host, app, images.node_app("shop", "v1", {"1700000000001_widgets.js": create_table("widgets")}))

    result = host.dokku("migrations:run", app)

    assert result.code == 0, result.output
    assert psql(service_of(app), "SELECT count(*) FROM widgets") == "0"
    assert host.history(app)[0]["trigger"] == "migrations:run"


def test_migrations_run_takes_another_image_with_image_flag(host, images, app):
    v1 = images.node_app("shop", "v1", {"1700000000001_widgets.js": create_table("widgets")})
    v2 = images.node_app("shop", "v2", {"1700000000001_widgets.js": create_table("widgets"),
                                        "1700000000002_gadgets.js": create_table("gadgets")})
    built(host, app, v1)

    result = host.dokku("migrations:run", app, "--image", host.app_image(app, v2))

    assert result.code == 0, result.output
    assert psql(service_of(app), "SELECT count(*) FROM gadgets") == "0"


def test_an_unknown_app_is_refused_with_dokkus_message_and_exit_code_20(host):
    """plugins/common/common.go AppDoesNotExist (exit 20), as every Dokku command refuses it."""
    result = host.dokku("migrations:run", "no-such-app")

    assert result.code == 20
    assert result.stderr == " !     App no-such-app does not exist\n"
    assert host.dokku("config:set", "no-such-app", "A=b").code == 20


def test_migrations_run_refuses_an_app_that_was_never_deployed(host, bare_app):
    app = bare_app
    result = host.dokku("migrations:run", app)

    assert result.code == 1
    assert f"App {app} has no deployed image yet" in result.stderr


def test_migrations_run_refuses_an_invalid_app_name(host):
    result = host.dokku("migrations:run", "../etc")

    assert result.code == 1
    assert result.stderr.startswith(" !     Invalid app name")


def test_migrations_run_fails_fast_while_a_deploy_holds_the_lock(host, images, bare_app):
    app = bare_app
    built(host, app, images.node_app("shop", "v1", {"1700000000001_widgets.js": create_table("widgets")}))
    lock = host.lib_root / "data" / "apps" / app / ".deploy.lock"
    holder = subprocess.Popen(["flock", str(lock), "sleep", "30"])
    try:
        time.sleep(0.3)
        started = time.monotonic()
        result = host.dokku("migrations:run", app)
    finally:
        holder.kill()
        holder.wait()

    assert result.code == 1
    assert f"A deploy of {app} is in progress" in result.stderr
    assert time.monotonic() - started < 10


def test_install_refuses_clearly_without_a_suitable_python(host):
    result = host.install(env={"DOKKU_MIGRATIONS_PYTHON": "/nonexistent/python3"})

    assert result.code == 1
    assert result.stderr == (" !     dokku-migrations needs Python 3.9 or newer at /nonexistent/python3: "
                             "install it (sudo apt-get install -y python3)\n")


def test_install_is_idempotent(host):
    first = host.install()
    second = host.install()

    assert first.code == 0 and second.code == 0
    assert "Installing" not in second.stdout
    assert os.access(host.plugin_dir / ".venv" / "bin" / "python", os.X_OK)


# --- Dokku's deploy lock, as migrations:run holds it ---------------------------------------------
def spawn_long_run(host, images, app, seconds=60, lock=None):
    """`migrations:run` holding Dokku's deploy lock (at `lock`, Dokku 0.34.0+'s place by default)."""
    built(host, app, images.node_app("shop", "v1", {}))
    assert host.dokku("migrations:set", app, "command", f"sleep {seconds}").code == 0
    process = host.spawn("migrations:run", app)
    held_by_builds = lock is None
    lock = lock or host.lib_root / "data" / "apps" / app / ".deploy.lock"
    deadline = time.monotonic() + 30
    while not (lock.exists() and (lock.read_text().strip() or not held_by_builds)) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1)
    return process


def test_migrations_run_leaves_no_deploy_lock_behind(host, bare_app, images):
    assert host.dokku("migrations:set", bare_app, "command", "true").code == 0
    built(host, bare_app, images.node_app("shop", "v1", {}))

    assert host.dokku("migrations:run", bare_app).code == 0

    assert host.dokku("apps:locked", bare_app).stderr == " !     Deploy lock does not exist\n"


def test_migrations_run_refuses_an_app_locked_with_apps_lock(host, bare_app, images):
    assert host.dokku("migrations:set", bare_app, "command", "true").code == 0
    built(host, bare_app, images.node_app("shop", "v1", {}))
    assert host.dokku("apps:lock", bare_app).code == 0

    result = host.dokku("migrations:run", bare_app)

    assert result.code == 1
    assert result.stderr.rstrip("\n").endswith(f"'dokku apps:unlock {bare_app}' and run it again")
    assert host.dokku("apps:locked", bare_app).code == 0


def test_a_git_deploy_while_migrations_run_by_hand_is_refused_by_dokkus_lock(host, bare_app, images):
    process = spawn_long_run(host, images, bare_app, seconds=8)
    try:
        result = host.dokku("git:from-image", bare_app, images.node_app("shop", "v2", {}))
    finally:
        process.communicate(timeout=60)  # the refused deploy emptied the lock file: builds:cancel cannot find it

    assert result.code == 1
    assert f" !     {bare_app} currently has a deploy lock in place. Exiting..." in result.failures


def test_builds_cancel_stops_migrations_run_by_hand(host, bare_app, images):
    process = spawn_long_run(host, images, bare_app)
    build_id = (host.lib_root / "data" / "apps" / bare_app / ".deploy.lock").read_text().strip()

    cancel = host.dokku("builds:cancel", bare_app)
    stdout, stderr = process.communicate(timeout=30)

    assert cancel.stdout == "-----> Killing app deploy\n"
    assert process.returncode != 0
    assert "Interrupted by SIGQUIT" in stderr and "Traceback" not in stdout + stderr
    assert host.history(bare_app)[0]["status"] == "interrupted"
    record = json.loads((host.lib_root / "data" / "builds" / bare_app / f"{build_id}.json").read_text())
    assert record["status"] == "canceled"
    assert not (host.lib_root / "data" / "apps" / bare_app / ".deploy.lock").exists()


def test_apps_unlock_while_migrations_run_by_hand_leaves_the_run_unharmed(host, bare_app, images):
    built(host, bare_app, images.node_app("shop", "v1", {}))
    assert host.dokku("migrations:set", bare_app, "command", "sleep 3").code == 0
    process = host.spawn("migrations:run", bare_app)
    lock = host.lib_root / "data" / "apps" / bare_app / ".deploy.lock"
    deadline = time.monotonic() + 30
    while not lock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)

    unlock = host.dokku("apps:unlock", bare_app)
    stdout, stderr = process.communicate(timeout=60)

    assert unlock.code == 0
    assert process.returncode == 0, stdout + stderr
    assert "unexpected error" not in stderr


# --- Dokku's deploy lock up to 0.33.x: $DOKKU_ROOT/<app>/.deploy.lock --------------------------------
@pytest.fixture(scope="module")
def host_0_33(docker_available):
    """Dokku 0.33.9, the last whose deploys lock `$DOKKU_ROOT/<app>/.deploy.lock` (plugins/common/functions
    acquire_app_deploy_lock; plugins/apps appIsLocked, apps:lock): 0.34.0 moved it to data/apps/<app>,
    a directory 0.33.9 never makes. Its tests share the xdist group "dokku-0.33": one worker builds it."""
    host = make_host("0.33.9")
    yield host
    host.cleanup()


@pytest.mark.xdist_group("dokku-0.33")
def test_on_dokku_0_33_migrations_run_fails_fast_while_a_deploy_holds_the_lock(host_0_33, images):
    app = new_app(host_0_33, database=False)
    assert host_0_33.dokku("migrations:set", app, "command", "true").code == 0
    built(host_0_33, app, images.node_app("shop", "v1", {}))
    holder = subprocess.Popen(["flock", str(host_0_33.root / app / ".deploy.lock"), "sleep", "30"])
    try:
        time.sleep(0.3)
        result = host_0_33.dokku("migrations:run", app)
    finally:
        holder.kill()
        holder.wait()

    assert result.code == 1
    assert result.stderr.startswith(f" !     A deploy of {app} is in progress")
    assert host_0_33.history(app) == []


@pytest.mark.xdist_group("dokku-0.33")
def test_on_dokku_0_33_a_git_deploy_while_migrations_run_by_hand_is_refused(host_0_33, images):
    app = new_app(host_0_33, database=False)
    lock = host_0_33.root / app / ".deploy.lock"
    process = spawn_long_run(host_0_33, images, app, seconds=8, lock=lock)
    try:
        held = lock.read_text()
        result = host_0_33.dokku("git:from-image", app, images.node_app("shop", "v2", {}))
    finally:
        stdout, stderr = process.communicate(timeout=60)

    assert held == ""  # 0.33.x deploys write nothing into it
    assert result.code == 1
    assert f" !     {app} currently has a deploy lock in place. Exiting..." in result.failures
    assert process.returncode == 0, stdout + stderr
    assert not lock.exists()
    assert host_0_33.dokku("apps:locked", app).code == 1


@pytest.mark.xdist_group("dokku-0.33")
def test_on_dokku_0_33_migrations_run_refuses_an_app_locked_with_apps_lock(host_0_33, images):
    app = new_app(host_0_33, database=False)
    assert host_0_33.dokku("migrations:set", app, "command", "true").code == 0
    built(host_0_33, app, images.node_app("shop", "v1", {}))
    assert host_0_33.dokku("apps:lock", app).code == 0

    result = host_0_33.dokku("migrations:run", app)

    assert result.code == 1
    assert result.stderr.rstrip("\n").endswith(f"'dokku apps:unlock {app}' and run it again")
    assert (host_0_33.root / app / ".deploy.lock").exists()


# --- Dokku's --app --------------------------------------------------------------------------------
def test_dokku_app_flag_names_the_app_of_a_migrations_command(host, bare_app):
    result = host.dokku("--app", bare_app, "migrations:set", "timeout", "61")

    assert result.code == 0, result.output
    assert host.dokku("migrations:report", bare_app, "--migrations-timeout").stdout == "61\n"
    assert host.dokku("--app", bare_app, "migrations:report", "--migrations-timeout").stdout == "61\n"
