"""Every way out of a run settles its image, and none leaves a healthy app unstartable: a rollback that
fails or is killed, a stopped app whose re-release fails, a run that never starts (a full disk, Docker
going away, another process holding the app's lock), a run killed in its first instants. Each fault is
delivered for real; the tests look at `dokku/<app>:latest`, the gate, and what `ps:restart` starts."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .apps import create_table
from .conftest import service_of
from .host import PROBE_LABEL, docker, http_get, psql
from .spy import DockerSpy
from .test_faults import migration_containers, plugin_pid, run_finished, wait_for, watchdog_pid

WIDGETS = {"1700000000001_widgets.js": create_table("widgets")}
GADGETS = {**WIDGETS, "1700000000002_gadgets.js": create_table("gadgets")}
NOTHING = {"start": "node server.js", "migrate": "true"}
ROLLBACK_SCRIPTS = {"start": "node server.js", "migrate": "node-pg-migrate up", "migrate:down": "node-pg-migrate down"}
DECLARED = json.dumps({"migrations": {"rollback": "npm run migrate:down"}})
NEEDS_SECRET = ("if (!process.env.SECRET) { console.error('cannot start: missing SECRET'); process.exit(1); }\n"
                "const http = require('http');\n"
                "http.createServer((req, res) => res.end('v2')).listen(5000);\n")
# What herokuish's images carry (common.IsImageHerokuishBased: USER=herokuishuser in the image's env),
# and the user builder-release's Dockerfile chowns /app to.
BUILDPACK = "RUN useradd --home-dir /app --no-create-home herokuishuser\nENV USER=herokuishuser\n"


def image_id(ref: str) -> str:
    return docker("image", "inspect", "--format", "{{.Id}}", ref)


def tables(app: str) -> str:
    return psql(service_of(app), "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
                                 "WHERE tablename IN ('widgets', 'gadgets')")


def restarted_version(host, app: str) -> str:
    restart = host.dokku("ps:restart", app)
    assert restart.code == 0, restart.output
    return http_get(host.web_containers(app)[0])


# --- a rollback that does not finish --------------------------------------------------------------
def v1_live_then_v2_migrated_but_not_live(host, images, app) -> str:
    """v2 applied its migrations and failed its checks (no SECRET): the schema is ahead, `latest` is on
    v2, migrated. Once SECRET is set, v2 would start. Returns the image serving (v1)."""
    v1 = images.node_app("shop", "v1", WIDGETS, scripts=ROLLBACK_SCRIPTS, extra={"app.json": DECLARED})
    assert host.dokku("git:from-image", app, v1).code == 0
    serving = host.web_containers(app)[0]["Image"]
    v2 = images.node_app("shop", "v2", GADGETS, scripts=ROLLBACK_SCRIPTS,
                         extra={"app.json": DECLARED, "server.js": NEEDS_SECRET})
    with host.checks_wait(3):
        assert host.dokku("git:from-image", app, v2).code != 0
    assert host.dokku("config:set", "--no-restart", app, "SECRET=set-since").code == 0
    assert image_id(f"dokku/{app}:latest") != serving
    return serving


@pytest.mark.parametrize("command,timeout,said", [
    ("npm run migrate:down && exit 3", "1800", "failed with exit code 3"),
    ("npm run migrate:down && sleep 300", "60", "timed out after 60s"),  # the down migration well within it
], ids=["failed", "timed-out"])
def test_a_rollback_that_stops_halfway_leaves_its_image_refused_and_latest_on_the_serving_one(
        host, images, app, command, timeout, said):
    serving = v1_live_then_v2_migrated_but_not_live(host, images, app)
    for key, value in (("rollback-command", command), ("timeout", timeout)):
        assert host.dokku("migrations:set", app, key, value).code == 0

    rollback = host.dokku("migrations:rollback", app)

    assert rollback.code != 0
    assert said in rollback.stderr
    assert tables(app) == "widgets"  # gadgets dropped: the schema is v2's no more
    assert image_id(f"dokku/{app}:latest") == serving
    refused = host.dokku("deploy", app, "migrations-failed")
    assert refused.code != 0 and "Refusing to start" in refused.stderr
    assert restarted_version(host, app) == "v1"


def test_a_killed_rollback_leaves_its_image_refused_and_latest_on_the_serving_one(host, images, app):
    serving = v1_live_then_v2_migrated_but_not_live(host, images, app)
    assert host.dokku("migrations:set", app, "rollback-command", "sleep 120").code == 0
    rollback = host.spawn("migrations:rollback", app)
    wait_for("the rollback's container", lambda: migration_containers(app, running_only=True))

    os.kill(plugin_pid(app), signal.SIGKILL)
    rollback.communicate(timeout=60)
    run = run_finished(host, app)

    assert (run["trigger"], run["status"]) == ("migrations:rollback", "interrupted")
    assert wait_for("latest to point back", lambda: image_id(f"dokku/{app}:latest") == serving)
    assert restarted_version(host, app) == "v1"


# --- a stopped app whose re-release fails --------------------------------------------------------
def buildpack_app_went_live(host, images, app) -> str:
    """A buildpack app deployed with herokuish (`builder:set selected`): every release of it is built
    FROM the image before (plugins/builder-herokuish/builder-release), so it has a new image id."""
    assert host.dokku("builder:set", app, "selected", "herokuish").code == 0
    deploy = host.dokku("git:from-image", app, images.node_app("slug", "v1", WIDGETS, dockerfile_extra=BUILDPACK))
    assert deploy.code == 0, deploy.output
    assert "Building" in deploy.output and "from herokuish" in deploy.output
    [container] = host.web_containers(app)
    return container["Image"]


def database_down(app: str) -> None:
    docker("container", "stop", f"dokku.postgres.{service_of(app)}")


def database_up(app: str) -> None:
    name = f"dokku.postgres.{service_of(app)}"
    docker("container", "start", name)
    wait_for("the database", lambda: subprocess.run(["docker", "container", "exec", name, "pg_isready", "-q", "-h",
                                                     "127.0.0.1"]).returncode == 0)


def test_a_stopped_buildpack_app_whose_re_release_fails_restarts_on_the_image_that_went_live(host, images, app):
    live = buildpack_app_went_live(host, images, app)
    assert host.dokku("ps:stop", app).code == 0
    database_down(app)
    try:
        start = host.dokku("ps:start", app)  # a new image id, whose migrations cannot reach the database
    finally:
        database_up(app)

    assert start.code != 0
    assert image_id(f"dokku/{app}:migrations-failed") != live
    assert "has never run" not in start.output
    assert f"dokku/{app}:latest points to {live[:19]}, the image that went live last, again" in start.output
    assert image_id(f"dokku/{app}:latest") == live
    assert restarted_version(host, app) == "v1"


def test_after_a_reboot_without_its_stopped_containers_the_recorded_image_serves_again(host, images, app):
    """A reboot stops the containers; someone pruned stopped containers; ps:restore at boot finds the
    database still recovering. Only the gate's record knows which image went live last."""
    live = buildpack_app_went_live(host, images, app)
    for container in host.web_containers(app):
        docker("container", "stop", container["Id"])
        docker("container", "rm", container["Id"])
    database_down(app)
    try:
        restore = host.dokku("ps:restore", app)
    finally:
        database_up(app)

    assert restore.code != 0
    assert image_id(f"dokku/{app}:latest") == live
    assert restarted_version(host, app) == "v1"


# --- a run that never starts ------------------------------------------------------------------------
def v1_serving(host, images, app) -> str:
    """v1 deployed and serving; returns its image."""
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", {}, scripts=NOTHING)).code == 0
    return host.web_containers(app)[0]["Image"]


def test_a_full_disk_at_the_run_record_points_latest_back_at_the_serving_image(host, images, bare_app):
    app = bare_app
    serving = v1_serving(host, images, app)
    runs = host.lib_root / "data" / "migrations" / app / "runs"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(runs)], check=True)
    try:
        subprocess.run(["chown", "dokku:dokku", str(runs)], check=True)
        fill_up(runs / "filler")
        deploy = host.dokku("git:from-image", app, images.node_app("shop", "v2", {}, scripts=NOTHING))
    finally:
        subprocess.run(["umount", str(runs)], check=True)

    assert deploy.code != 0
    assert "No space left on device" in deploy.output
    assert image_id(f"dokku/{app}:latest") == serving
    assert restarted_version(host, app) == "v1"


def fill_up(path: Path) -> None:
    with open(path, "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError:
            pass


def test_docker_going_away_during_the_reap_points_latest_back_once_it_answers(host, images, bare_app):
    """The engine drops the plugin's listing of the app's containers (twice: the client retries a GET),
    as a restarting dockerd does, then answers again."""
    app = bare_app
    serving = v1_serving(host, images, app)
    spy = DockerSpy(host.base / f"spy-{app}")
    spy.refuse(lambda line, cli: not cli and b"/containers/json?" in line and b"container-type" not in line)
    try:
        deploy = host.dokku("git:from-image", app, images.node_app("shop", "v2", {}, scripts=NOTHING),
                            env=spy.env(host.env()["PATH"]))
    finally:
        spy.close()

    assert deploy.code != 0
    assert "Docker is not reachable while looking for left-over migration containers" in deploy.output
    assert image_id(f"dokku/{app}:latest") == serving
    assert restarted_version(host, app) == "v1"


def lock_holders(path: Path) -> set:
    """Pids holding a flock on `path`, from /proc/locks (looking takes no lock of its own)."""
    inode = os.stat(path).st_ino
    holders = set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5].split(":")[-1] == str(inode):
            holders.add(int(fields[4]))
    return holders


def test_a_deploy_refused_while_a_watchdog_recovers_a_killed_run_keeps_the_app_restartable(host, images, bare_app):
    app = bare_app
    serving = v1_serving(host, images, app)
    for key, value in (("command", "trap '' TERM; sleep 120"), ("grace", "40")):
        assert host.dokku("migrations:set", app, key, value).code == 0
    killed = host.spawn("git:from-image", app, images.node_app("shop", "v2", {}, scripts=NOTHING))
    wait_for("the migration container", lambda: migration_containers(app, running_only=True))
    watchdog = watchdog_pid(app)
    os.kill(plugin_pid(app), signal.SIGKILL)
    killed.communicate(timeout=60)
    lock = host.lib_root / "data" / "migrations" / app / ".lock"
    wait_for("the watchdog to hold the run lock", lambda: watchdog in lock_holders(lock))

    refused = host.dokku("git:from-image", app, images.node_app("shop", "v3", {}, scripts=NOTHING))
    assert watchdog in lock_holders(lock), "the watchdog finished too early for this test"
    wait_for("the watchdog to finish", lambda: not os.path.exists(f"/proc/{watchdog}"), timeout=90)

    assert refused.code != 0
    assert f"Migrations for {app} are already running" in refused.output
    assert image_id(f"dokku/{app}:latest") == serving
    assert restarted_version(host, app) == "v1"


# --- a run killed in its first instants -------------------------------------------------------------
def probes_of(app: str) -> list:
    return docker("container", "ls", "--all", "--quiet", "--filter", f"label={PROBE_LABEL}={app}").split()


def test_a_probe_container_left_by_a_run_killed_in_its_first_instants_is_removed_by_the_next_run(
        host, images, bare_app):
    """The engine has not got to a probe's removal when the plugin is SIGKILLed (held back here)."""
    app = bare_app
    v1_serving(host, images, app)
    spy = DockerSpy(host.base / f"spy-{app}")
    spy.hold(lambda line, cli: line.startswith(b"DELETE ") and b"/containers/dokku-migrations-probe-" in line)
    try:
        killed = host.spawn("git:from-image", app, images.node_app("shop", "v2", {}, scripts=NOTHING),
                            env=spy.env(host.env()["PATH"]))
        wait_for("a probe container", lambda: probes_of(app))
        time.sleep(0.5)
        os.kill(plugin_pid(app), signal.SIGKILL)
        killed.communicate(timeout=60)
    finally:
        spy.close()
    left = probes_of(app)

    deploy = host.dokku("git:from-image", app, images.node_app("shop", "v3", {}, scripts=NOTHING))

    assert left, "the kill left no probe container: the fault was not delivered"
    assert deploy.code == 0, deploy.output
    assert "left reading files out of an image by a run that was killed" in deploy.output
    assert probes_of(app) == []
    assert http_get(host.web_containers(app)[0]) == "v3"
