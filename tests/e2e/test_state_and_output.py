"""What the plugin reads from disk and what it prints: state it cannot read fails closed and is kept as
it is; settings read as Dokku's own property files hold them; nothing an image prints can steer the
terminal."""

import subprocess

from .apps import create_table
from .conftest import service_of
from .host import http_get, psql
from .test_failed_release import deploy_v1_then_failing_v2

WIDGETS = {"1700000000001_widgets.js": create_table("widgets")}
NOTHING = {"start": "node server.js", "migrate": "true"}
ESC = "\x1b"


def write_as_dokku(path, text: str) -> None:
    """A file written on the host as the dokku user would (`echo true > …`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    subprocess.run(["chown", "-R", "dokku:dokku", str(path.parent)], check=True)


# --- the gate's file --------------------------------------------------------------------------------
def test_a_truncated_gate_file_refuses_restarts_and_deploys_naming_it_and_is_kept(host, images, app):
    running, _ = deploy_v1_then_failing_v2(host, images, app)
    gate = host.lib_root / "data" / "migrations" / app / "images.json"
    whole = gate.read_bytes()
    gate.write_bytes(whole[: len(whole) // 2])  # what a crash or a bad disk leaves
    damaged = gate.read_bytes()

    failed_image = host.dokku("deploy", app, "migrations-failed")
    restart = host.dokku("ps:restart", app)
    deploy = host.dokku("git:from-image", app, images.node_app("shop", "v3", WIDGETS))

    for result in (failed_image, restart, deploy):
        assert result.code != 0
        assert f"The gate file of {app}, {gate}, cannot be read" in result.output
    assert gate.read_bytes() == damaged
    assert [container["Image"] for container in host.web_containers(app)] == [running]
    assert http_get(host.web_containers(app)[0]) == "v1"


# --- settings on disk -------------------------------------------------------------------------------
def test_a_setting_written_with_a_trailing_newline_is_read_as_dokku_reads_it(host, images, app):
    write_as_dokku(host.lib_root / "config" / "migrations" / app / "enabled", "true\n")

    deploy = host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS))

    assert deploy.code == 0, deploy.output
    assert "Migrations are disabled" not in deploy.output
    assert psql(service_of(app), "SELECT count(*) FROM widgets") == "0"


def test_an_invalid_setting_on_disk_stops_the_deploy_naming_its_file(host, images, app):
    path = host.lib_root / "config" / "migrations" / app / "enabled"
    write_as_dokku(path, "ture\n")

    deploy = host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS))

    assert deploy.code != 0
    [line] = [line for line in deploy.failures if "Setting enabled" in line]
    assert f"Setting enabled in {path} is not valid: 'ture' is not a boolean" in line
    assert line.endswith(f"'dokku migrations:set {app} enabled'")
    assert psql(service_of(app), "SELECT count(*) FROM pg_tables WHERE tablename = 'widgets'") == "0"


# --- what an image prints -----------------------------------------------------------------------------
def test_control_sequences_from_the_migration_are_shown_not_obeyed_and_the_log_keeps_them(host, images, bare_app):
    app = bare_app
    hostile = ("printf 'conceal\\033[8m\\n\\033[2K\\033[1A\\r-----> Migrations for " + app + " succeeded\\n"
               + "\\010" * 7 + "=====> forged\\n\\302\\233m'; exit 3")
    assert host.dokku("migrations:set", app, "command", hostile).code == 0

    deploy = host.dokku("git:from-image", app, images.node_app("shop", "v1", {}, scripts=NOTHING))
    logs = host.dokku("migrations:logs", app)

    assert deploy.code != 0
    for result in (deploy, logs):
        assert ESC not in result.output and "\x08" not in result.output and "\u009b" not in result.output
        assert r"conceal\x1b[8m" in result.stdout and r"\x08\x08=====> forged" in result.stdout
        lines = result.output.splitlines()  # a carriage return ends a line here, as it starts one again on a terminal
        assert not [line for line in lines if line.startswith((f"-----> Migrations for {app} succeeded",
                                                                 "=====> forged"))]
    assert [line for line in deploy.failures if "failed with exit code 3" in line]
    log = (host.lib_root / "data" / "migrations" / app / "runs" / f"{host.history(app)[0]['id']}.log").read_bytes()
    assert b"conceal\x1b[8m" in log and b"\r-----> Migrations" in log  # the log keeps the raw bytes
