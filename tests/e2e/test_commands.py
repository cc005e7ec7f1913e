"""`dokku migrations:*` commands as Dokku dispatches them (every plugin's `commands` file)."""

import os
import subprocess
import time

from .apps import create_table
from .conftest import service_of
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


def test_other_plugins_commands_exit_10_without_starting_python(host):
    env = {**host.env(), "PATH": "/nonexistent"}
    started = time.monotonic()
    result = subprocess.run(["/bin/bash", str(host.plugin_dir / "commands"), "postgres:create", "x"],
                            capture_output=True, env=env)

    assert result.returncode == 10
    assert result.stdout == b"" and result.stderr == b""
    assert time.monotonic() - started < 2


def test_an_unknown_migrations_command_fails_with_one_line(host):
    result = host.dokku("migrations:frobnicate")

    assert result.code == 1
    assert result.stderr.startswith(" !     Unknown command migrations:frobnicate")


def test_migrations_run_applies_the_deployed_images_migrations(host, images, app):
    image = images.node_app("shop", "v1", {"1700000000001_widgets.js": create_table("widgets")})
    assert host.dokku("git:from-image", app, image).code == 0
    psql(service_of(app), "DROP TABLE widgets; DELETE FROM pgmigrations")

    result = host.dokku("migrations:run", app)

    assert result.code == 0, result.output
    assert psql(service_of(app), "SELECT count(*) FROM widgets") == "0"
    assert host.history(app)[0]["trigger"] == "migrations:run"


def test_migrations_run_takes_another_image_with_image_flag(host, images, app):
    v1 = images.node_app("shop", "v1", {"1700000000001_widgets.js": create_table("widgets")})
    v2 = images.node_app("shop", "v2", {"1700000000001_widgets.js": create_table("widgets"),
                                        "1700000000002_gadgets.js": create_table("gadgets")})
    assert host.dokku("git:from-image", app, v1).code == 0

    result = host.dokku("migrations:run", app, "--image", host.app_image(app, v2))

    assert result.code == 0, result.output
    assert psql(service_of(app), "SELECT count(*) FROM gadgets") == "0"


def test_migrations_run_refuses_an_unknown_app(host):
    result = host.dokku("migrations:run", "no-such-app")

    assert result.code == 1
    assert result.stderr == " !     App no-such-app does not exist\n"


def test_migrations_run_refuses_an_app_that_was_never_deployed(host, bare_app):
    app = bare_app
    result = host.dokku("migrations:run", app)

    assert result.code == 1
    assert f"App {app} has no deployed image yet" in result.stderr


def test_migrations_run_refuses_an_invalid_app_name(host):
    result = host.dokku("migrations:run", "../etc")

    assert result.code == 1
    assert result.stderr.startswith(" !     Invalid app name")


def test_migrations_run_fails_fast_while_a_deploy_holds_the_lock(host, images, app):
    image = images.node_app("shop", "v1", {"1700000000001_widgets.js": create_table("widgets")})
    assert host.dokku("git:from-image", app, image).code == 0
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
