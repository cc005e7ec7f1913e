"""Fail closed under every fault: each fault is delivered for real — a signal to the deploy's process
group, a SIGKILL, a cut connection to the engine, a missing environment — and the tests look at what
happened to the database, the containers, the gate and the app."""

import os
import secrets
import shutil
import signal
import subprocess
import time
from typing import List, Tuple

import pytest

from .apps import create_table
from .conftest import built, make_host, new_app, service_of
from .host import RUN_LABEL, docker, http_get, processes_with, psql, wait_for
from .spy import DockerSpy

WIDGETS = {"1700000000001_widgets.js": create_table("widgets")}
HANGING = {"start": "node server.js", "migrate": "sleep 60"}
NOTHING = {"start": "node server.js", "migrate": "true"}  # runs a migration that needs no database

HOLD_LOCK_JS = """// Takes a migration lock as Knex and node-pg-migrate do, and releases it on SIGTERM.
const { Client } = require('pg');
(async () => {
  const db = new Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
  await db.query('CREATE TABLE IF NOT EXISTS migration_lock (holder text)');
  await db.query("INSERT INTO migration_lock VALUES ('deploy')");
  console.log('lock taken');
  process.on('SIGTERM', async () => {
    await db.query('DELETE FROM migration_lock');
    console.log('lock released');
    await db.end();
    process.exit(143);
  });
  setInterval(() => {}, 1000);
})();
"""


# --- helpers --------------------------------------------------------------------------------------
def migration_containers(app: str, running_only: bool = False) -> List[str]:
    return docker("container", "ls", *([] if running_only else ["--all"]), "--quiet",
                  "--filter", f"label={RUN_LABEL}", "--filter", f"label=com.dokku.app-name={app}").split()


def plugin_pid(app: str) -> int:
    return wait_for("the plugin's process", lambda: next(iter(processes_with(b"dokku_migrations", app.encode())), 0))


def watchdog_pid(app: str) -> int:
    return wait_for("the watchdog",
                    lambda: next(iter(processes_with(b"dokku_migrations.gate.watchdog", app.encode())), 0))


def run_finished(host, app: str) -> dict:
    """The newest run, once nothing is running any more (the plugin or its watchdog finished it): its
    record read straight from the file every 0.1 s, not through the CLI."""
    return wait_for(f"the last run of {app} to finish",
                    lambda: next((run for run in host.runs(app)[:1] if run["status"] != "running"), None))


def image_id(ref: str) -> str:
    return docker("image", "inspect", "--format", "{{.Id}}", ref)


def deploy_hanging_in_its_migration(host, images, app) -> Tuple[str, subprocess.Popen, str]:
    """v1 deployed and serving; a deploy of v2, whose migration hangs, started in the background and
    waited for until its migration runs. Returns the serving image, the deploy and the container."""
    v1 = images.node_app("shop", "v1", {}, scripts=NOTHING)
    assert host.dokku("git:from-image", app, v1).code == 0
    running = host.web_containers(app)[0]["Image"]
    deploy = host.spawn("git:from-image", app, images.node_app("hang", "v2", {}, scripts=HANGING))
    [container] = wait_for("the migration container", lambda: migration_containers(app, running_only=True))
    return running, deploy, container


def lock_holders(app: str) -> int:
    """Rows in the lock table HOLD_LOCK_JS writes (none before it exists)."""
    if psql(service_of(app), "SELECT to_regclass('migration_lock') IS NOT NULL") != "t":
        return 0
    return int(psql(service_of(app), "SELECT count(*) FROM migration_lock"))


def plugin_or_watchdog(app: str) -> List[int]:
    return processes_with(b"dokku_migrations", app.encode()) + \
        processes_with(b"dokku_migrations.gate.watchdog", app.encode())


def group_is_gone(pgid: int) -> bool:
    """No process is left in the process group (the deploy's, started in a session of its own)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


# --- the deploy is told to stop -------------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["ctrl-c", "sigterm", "ssh-hangup"])
def test_a_signal_to_the_deploys_process_group_stops_the_migration_gracefully_and_the_migrated_image_serves_on(
        host, images, app, signum):
    """A terminal's Ctrl-C, a `kill` of the deploy and an SSH session hanging up reach every process
    of the deploy's group: Dokku's bash, plugn (which forwards it to its bash and waits), the build
    capture's tee and the plugin. The plugin alone stops the migration: SIGTERM, the grace period in
    which it releases its lock, then removal; the image that was migrated and serving serves on."""
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS)).code == 0
    [serving] = host.web_containers(app)
    assert host.dokku("migrations:set", app, "command", "node hold-lock.js").code == 0
    deploy = host.spawn("git:from-image", app, images.node_app("locky", "v2", WIDGETS,
                                                                extra={"hold-lock.js": HOLD_LOCK_JS}))
    wait_for("the migration to hold its lock", lambda: lock_holders(app) == 1)

    os.killpg(deploy.pid, signum)
    deploy.communicate(timeout=60)

    assert deploy.returncode != 0
    assert wait_for("every process of the deploy to end", lambda: group_is_gone(deploy.pid))
    assert wait_for("the plugin and its watchdog to end", lambda: not plugin_or_watchdog(app))
    assert migration_containers(app) == []
    run = host.history(app)[0]
    assert (run["status"], run["stopped_with"]) == ("interrupted", "SIGTERM")
    assert run["message"].startswith(f"Interrupted by {signal.Signals(signum).name}: the migration was stopped")
    assert lock_holders(app) == 0
    assert image_id(f"dokku/{app}:latest") == serving["Image"]
    assert [container["Id"] for container in host.web_containers(app)] == [serving["Id"]]
    assert http_get(serving) == "v1"
    assert host.dokku("ps:restart", app).code == 0
    assert http_get(host.web_containers(app)[0]) == "v1"


# --- the deploy dies ------------------------------------------------------------------------------
def test_sigquit_to_the_deploys_process_group_stops_the_migration_and_keeps_the_old_version(host, images, bare_app):
    app = bare_app
    running, deploy, _ = deploy_hanging_in_its_migration(host, images, app)

    os.killpg(deploy.pid, signal.SIGQUIT)  # what `dokku builds:cancel` sends (plugins/builds/subcommands.go)
    deploy.communicate(timeout=60)
    run = run_finished(host, app)

    assert run["status"] == "interrupted"
    assert "SIGQUIT" in run["message"] and run["stopped_with"] == "SIGTERM"
    assert wait_for("the container to go", lambda: migration_containers(app) == [])
    assert image_id(f"dokku/{app}:latest") == running
    assert host.dokku("ps:restart", app).code == 0
    assert http_get(host.web_containers(app)[0]) == "v1"


def test_a_sigkilled_plugin_leaves_nothing_running_and_its_image_never_starts(host, images, bare_app):
    app = bare_app
    running, deploy, _ = deploy_hanging_in_its_migration(host, images, app)

    os.kill(plugin_pid(app), signal.SIGKILL)
    deploy.communicate(timeout=60)
    run = run_finished(host, app)

    assert deploy.returncode != 0
    assert run["status"] == "interrupted" and "was killed" in run["message"]
    assert wait_for("the container to go", lambda: migration_containers(app) == [])
    assert image_id(f"dokku/{app}:latest") == running
    assert host.dokku("ps:restart", app).code == 0
    assert http_get(host.web_containers(app)[0]) == "v1"


def test_after_a_sigkilled_deploy_the_next_deploy_and_ps_restart_work(host, images, bare_app):
    app = bare_app
    _, deploy, _ = deploy_hanging_in_its_migration(host, images, app)
    os.kill(plugin_pid(app), signal.SIGKILL)
    deploy.communicate(timeout=60)
    run_finished(host, app)

    second = host.dokku("git:from-image", app, images.node_app("shop", "v3", {}, scripts=NOTHING))
    restart = host.dokku("ps:restart", app)

    assert second.code == 0, second.output
    assert restart.code == 0, restart.output
    assert http_get(host.web_containers(app)[0]) == "v3"


def test_with_plugin_and_watchdog_killed_the_unfinished_image_is_refused_and_the_next_run_stops_the_leftover(
        host, images, bare_app):
    app = bare_app
    _, deploy, left_over = deploy_hanging_in_its_migration(host, images, app)
    for pid in (watchdog_pid(app), plugin_pid(app)):
        os.kill(pid, signal.SIGKILL)
    deploy.communicate(timeout=60)

    refused = host.dokku("deploy", app)
    next_deploy = host.dokku("git:from-image", app, images.node_app("shop", "v3", {}, scripts=NOTHING))

    assert refused.code != 0
    assert f"Refusing to start dokku/{app}:latest: its migrations never finished" in refused.stderr
    assert next_deploy.code == 0, next_deploy.output
    assert "still running with nobody watching it" in next_deploy.output
    assert docker("container", "ls", "--all", "--quiet", "--filter", f"id={left_over}") == ""
    runs = host.history(app)
    assert [run["status"] for run in runs[:2]] == ["succeeded", "interrupted"]
    assert http_get(host.web_containers(app)[0]) == "v3"


def test_a_release_of_the_same_image_after_a_killed_run_deploys_that_image(host, images, bare_app):
    """The left-over belongs to the very image being released again: clearing it must not point
    `latest` back at the old image under the release."""
    app = bare_app
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", {}, scripts=NOTHING)).code == 0
    assert host.dokku("config:set", "--no-restart", app, "HANG=yes").code == 0
    hanging = {"start": "node server.js", "migrate": 'if [ "$HANG" = yes ]; then sleep 60; fi'}
    deploy = host.spawn("git:from-image", app, images.node_app("shop", "v2", {}, scripts=hanging))
    wait_for("the migration container", lambda: migration_containers(app, running_only=True))
    for pid in (watchdog_pid(app), plugin_pid(app)):
        os.kill(pid, signal.SIGKILL)
    deploy.communicate(timeout=60)

    release = host.dokku("config:set", app, "HANG=no")

    assert release.code == 0, release.output
    assert "still running with nobody watching it" in release.output
    assert http_get(host.web_containers(app)[0]) == "v2"


def test_a_release_that_dies_before_recording_its_image_never_goes_live_later(host, images, bare_app):
    """An import error mid-`plugin:update` (or a signal in the first instants): the trigger dies
    before the image has any record, and its absence must not read as "predates the plugin"."""
    app = bare_app
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", {}, scripts=NOTHING)).code == 0
    module = host.plugin_dir / "dokku_migrations" / "run" / "migrate.py"
    whole = module.read_bytes()
    module.write_text("raise ImportError('half-updated plugin')\n")
    try:
        failed = host.dokku("git:from-image", app, images.node_app("shop", "v2", {}, scripts=NOTHING))
    finally:
        module.write_bytes(whole)

    restart = host.dokku("ps:restart", app)

    assert failed.code != 0
    assert restart.code != 0
    assert f"Refusing to start dokku/{app}:latest: its migrations never finished" in restart.output
    assert http_get(host.web_containers(app)[0]) == "v1"


KILL_AFTER_CREATE = """#!/bin/sh
# The plugin's docker client for the migration container of {app}: {what}
if [ "$1 $2" = "container create" ] && printf '%s\\n' "$@" | grep -q '^--label=com.dokku.migrations.run='; then
{action}
fi
exec {docker} "$@"
"""
# The plugin is killed the moment the create returns: before it starts the container's watchdog.
KILL_THE_PLUGIN = """  {docker} "$@"
  code=$?
  kill -KILL $PPID
  exit $code"""
# The client dies (SIGKILL, the OOM killer) once the engine has made the container, before it answers.
KILL_THE_CLIENT = """  {docker} "$@" >/dev/null 2>&1 &
  client=$!
  until [ -n "$({docker} container ls -aq --filter label=com.dokku.migrations.run \\
                --filter label=com.dokku.app-name={app})" ]; do sleep 0.05; done
  kill -KILL $client 2>/dev/null
  kill -KILL $$"""


def docker_wrapper(host, app: str, what: str, action: str) -> str:
    """A PATH whose `docker` does `action` for the migration container's `container create`."""
    directory = host.base / f"wrapper-{app}"
    directory.mkdir(mode=0o755)
    real = shutil.which("docker")
    (directory / "docker").write_text(KILL_AFTER_CREATE.format(app=app, what=what, docker=real,
                                                               action=action.format(docker=real, app=app)))
    os.chmod(directory / "docker", 0o755)
    return f"{directory}:{host.env()['PATH']}"


def test_a_plugin_killed_between_the_create_and_its_watchdog_leaves_a_container_the_next_deploy_removes(
        host, images, bare_app):
    app = bare_app
    v1 = images.node_app("shop", "v1", {}, scripts=NOTHING)
    assert host.dokku("git:from-image", app, v1).code == 0
    [serving] = host.web_containers(app)
    path = docker_wrapper(host, app, "the plugin is killed when it returns", KILL_THE_PLUGIN)

    killed = host.dokku("git:from-image", app, images.node_app("shop", "v2", {}, scripts=NOTHING), env={"PATH": path})
    [left_over] = migration_containers(app)
    state = docker("container", "inspect", "--format", "{{.State.Status}}", left_over)
    refused = host.dokku("deploy", app)
    serving_after = [container["Id"] for container in host.web_containers(app)]
    next_deploy = host.dokku("git:from-image", app, images.node_app("shop", "v3", {}, scripts=NOTHING))

    assert killed.code != 0
    assert state == "created"  # never started: nobody was left to start it
    assert refused.code != 0
    assert f"Refusing to start dokku/{app}:latest: its migrations never finished" in refused.output
    assert serving_after == [serving["Id"]]
    assert next_deploy.code == 0, next_deploy.output
    assert migration_containers(app) == []
    runs = host.history(app)
    assert [run["status"] for run in runs[:2]] == ["succeeded", "interrupted"]
    assert "removed its container" in runs[1]["message"]
    assert http_get(host.web_containers(app)[0]) == "v3"


def test_a_docker_client_killed_while_creating_the_container_leaves_nothing_and_the_old_version_serves(
        host, images, bare_app):
    app = bare_app
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", {}, scripts=NOTHING)).code == 0
    [serving] = host.web_containers(app)
    path = docker_wrapper(host, app, "it dies once the engine made the container", KILL_THE_CLIENT)

    result = host.dokku("git:from-image", app, images.node_app("shop", "v2", {}, scripts=NOTHING), env={"PATH": path})

    assert result.code != 0
    assert (" !     Docker failed while creating the migration container: the docker client was killed by "
            "SIGKILL") in result.failures
    assert migration_containers(app) == []
    assert host.history(app)[0]["status"] != "succeeded"
    assert image_id(f"dokku/{app}:latest") == serving["Image"]
    assert host.dokku("ps:restart", app).code == 0
    assert http_get(host.web_containers(app)[0]) == "v1"


def test_a_plugin_alive_but_stuck_past_its_timeout_has_its_migration_stopped_by_the_watchdog(host, images, bare_app):
    """SIGSTOP: the plugin lives but never runs again, as one blocked writing to a stalled SSH session;
    past the timeout, the grace and the watchdog's margin (30 s), the watchdog stops the container. When
    the plugin runs again it finds its migration over, removes it and fails the run."""
    app = bare_app
    assert host.dokku("migrations:set", app, "command", "true").code == 0
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", {}, scripts=NOTHING)).code == 0
    for key, value in (("command", "sleep 300"), ("timeout", "8"), ("grace", "1")):
        assert host.dokku("migrations:set", app, key, value).code == 0
    manual = host.spawn("migrations:run", app)
    [container] = wait_for("the migration container", lambda: migration_containers(app, running_only=True))
    stuck = plugin_pid(app)
    os.kill(stuck, signal.SIGSTOP)
    try:
        assert docker("container", "inspect", "--format", "{{.State.Running}}", container) == "true", \
            "the plugin reached its own timeout before it was stopped: the test proves nothing"
        stopped_at = wait_for("the watchdog to stop the migration", lambda: docker(
            "container", "inspect", "--format", "{{if not .State.Running}}{{.State.FinishedAt}}{{end}}", container),
            timeout=90)
        started_at = docker("container", "inspect", "--format", "{{.State.StartedAt}}", container)
    finally:
        os.kill(stuck, signal.SIGCONT)
    stdout, stderr = manual.communicate(timeout=60)

    assert seconds_between(started_at, stopped_at) >= 30  # the plugin would have stopped it after 8 s
    assert manual.returncode != 0
    assert wait_for("the container to go", lambda: migration_containers(app) == [])
    assert host.history(app)[0]["status"] in ("timed-out", "failed")


def seconds_between(start: str, end: str) -> float:
    """Two of the engine's RFC 3339 times (nanoseconds cut to microseconds)."""
    from datetime import datetime

    def parse(text: str) -> datetime:
        day, _, rest = text.rstrip("Z").partition("T")
        clock, _, fraction = rest.partition(".")
        return datetime.fromisoformat(f"{day}T{clock}.{(fraction + '000000')[:6]}")
    return (parse(end) - parse(start)).total_seconds()


# --- the connection to the engine drops -----------------------------------------------------------
def test_a_dropped_output_stream_is_followed_to_the_real_exit_and_never_counted_as_success(host, images, bare_app):
    app = bare_app
    built(host, app, images.node_app("shop", "v1", {}, scripts=NOTHING))
    assert host.dokku("migrations:set", app, "command", "echo started; sleep 4; echo finished-late; exit 7").code == 0
    spy = DockerSpy(host.base / f"spy-{secrets.token_hex(3)}")
    try:
        run = host.spawn("migrations:run", app, env=spy.env(host.env()["PATH"]))
        wait_for("the running migration", lambda: migration_containers(app, True))
        time.sleep(1)
        assert spy.cut(b"/attach?") == 1  # the connection streaming the container's output
        stdout, stderr = run.communicate(timeout=60)
    finally:
        spy.close()

    record = host.history(app)[0]
    assert run.returncode == 1, stdout + stderr
    assert (record["status"], record["exit_code"]) == ("failed", 7)
    assert "the output stream dropped" in stdout and "finished-late" in stdout
    assert "failed with exit code 7" in stderr


# --- a re-run on the image that is serving --------------------------------------------------------
def test_a_failed_re_release_of_the_live_image_keeps_the_app_restartable(host, images, app):
    gated = {"start": "node server.js", "migrate": 'test "$BREAK_MIGRATIONS" != yes && node-pg-migrate up'}
    assert host.dokku("git:from-image", app, images.node_app("gated", "v1", WIDGETS, scripts=gated)).code == 0
    serving = host.web_containers(app)[0]["Image"]

    release = host.dokku("config:set", app, "BREAK_MIGRATIONS=yes")
    restart = host.dokku("ps:restart", app)

    assert "already went live, so it stays startable" in release.output
    assert restart.code == 0, restart.output
    [container] = host.web_containers(app)
    assert container["Image"] == serving and http_get(container) == "v1"
    assert host.dokku("migrations:report", app, "--migrations-latest-image-migrated").stdout == "false\n"


# --- stopping gracefully --------------------------------------------------------------------------
def test_a_timed_out_migration_gets_sigterm_and_its_grace_period_to_release_its_lock(host, images, app):
    built(host, app, images.node_app("locky", "v1", {}, extra={"hold-lock.js": HOLD_LOCK_JS}))
    for key, value in (("command", "node hold-lock.js"), ("timeout", "3"), ("grace", "10")):
        assert host.dokku("migrations:set", app, key, value).code == 0

    result = host.dokku("migrations:run", app)

    record = host.history(app)[0]
    assert result.code == 1
    assert "timed out after 3s and were stopped with SIGTERM" in result.stderr
    assert "lock taken" in result.stdout and "lock released" in result.stdout
    assert (record["status"], record["stopped_with"]) == ("timed-out", "SIGTERM")
    assert psql(service_of(app), "SELECT count(*) FROM migration_lock") == "0"


HEARTBEAT_JS = """// Says when it was told to stop, ignores it, and keeps saying it is alive until it is killed.
process.on('SIGTERM', () => console.log(`SIGTERM at ${Date.now()}`));
setInterval(() => console.log(`alive at ${Date.now()}`), 20);
"""


def test_a_migration_that_ignores_sigterm_is_killed_only_after_the_grace_period(host, images, bare_app):
    """What the migration saw: the time SIGTERM reached it, then a heartbeat every 20 ms until SIGKILL
    ended it. Its last heartbeat bounds the SIGKILL from below; 0.25 s is left for the engine to
    deliver both signals and for heartbeats on a loaded machine."""
    app = bare_app
    built(host, app, images.node_app("shop", "v1", {}, scripts=NOTHING, extra={"heartbeat.js": HEARTBEAT_JS}))
    for key, value in (("command", "node heartbeat.js"), ("timeout", "1"), ("grace", "2")):
        assert host.dokku("migrations:set", app, key, value).code == 0

    result = host.dokku("migrations:run", app)

    said = [line.split() for line in result.stdout.splitlines() if line.startswith("       ")]
    [term] = [int(words[2]) for words in said if words[:2] == ["SIGTERM", "at"]]
    last_alive = max(int(words[2]) for words in said if words[:2] == ["alive", "at"])
    assert result.code == 1
    assert last_alive - term >= 2000 - 250, (term, last_alive)
    assert last_alive - term < 2000 + 10000
    assert "killed with SIGKILL after the 2s grace period" in result.stderr
    assert host.history(app)[0]["stopped_with"] == "SIGKILL"


def test_a_second_interrupt_during_the_grace_period_kills_the_migration_at_once(host, images, bare_app):
    app = bare_app
    built(host, app, images.node_app("shop", "v1", {}, scripts=NOTHING))
    for key, value in (("command", "trap '' TERM; sleep 120"), ("grace", "90")):
        assert host.dokku("migrations:set", app, key, value).code == 0
    manual = host.spawn("migrations:run", app)
    wait_for("the migration container", lambda: migration_containers(app, running_only=True))

    os.killpg(manual.pid, signal.SIGINT)
    time.sleep(2)  # in its grace period now: the migration ignores SIGTERM
    started = time.monotonic()
    os.kill(plugin_pid(app), signal.SIGINT)
    run = run_finished(host, app)

    assert time.monotonic() - started < 30
    assert (run["status"], run["stopped_with"]) == ("interrupted", "SIGKILL")
    assert wait_for("the container to go", lambda: migration_containers(app) == [])
    manual.communicate(timeout=60)


def test_an_image_that_served_before_the_plugin_stays_startable_after_a_failed_re_release(host, images, app):
    gated = {"start": "node server.js", "migrate": 'test "$BREAK_MIGRATIONS" != yes && node-pg-migrate up'}
    assert host.dokku("git:from-image", app, images.node_app("gated", "v1", WIDGETS, scripts=gated)).code == 0
    (host.lib_root / "data" / "migrations" / app / "images.json").unlink()  # installed after v1 went live
    assert host.dokku("ps:stop", app).code == 0
    assert host.dokku("config:set", "--no-restart", app, "BREAK_MIGRATIONS=yes").code == 0

    start = host.dokku("ps:start", app)
    restart = host.dokku("ps:restart", app)

    assert start.code != 0 and "already went live, so it stays startable" in start.output
    assert restart.code == 0, restart.output
    assert http_get(host.web_containers(app)[0]) == "v1"


# --- a broken plugin environment ------------------------------------------------------------------
@pytest.fixture(scope="module")
def dokku_0_35_host(docker_available):
    """Built once for the tests of a broken environment (their xdist group "broken-environment")."""
    host = make_host("0.35.12")
    yield host
    host.cleanup()


@pytest.fixture
def broken_venv_host(dokku_0_35_host):
    """A host whose plugin environment the test makes disappear (an OS Python upgrade, a half install)
    by moving it to `venv-gone`; it is back for the next test."""
    host = dokku_0_35_host
    yield host
    gone = host.base / "venv-gone"
    if gone.exists():
        shutil.rmtree(host.plugin_dir / ".venv", ignore_errors=True)
        shutil.move(str(gone), str(host.plugin_dir / ".venv"))


@pytest.mark.xdist_group("broken-environment")
def test_with_the_environment_gone_restarts_still_start_healthy_apps_and_refuse_failed_images(
        broken_venv_host, images):
    host = broken_venv_host
    healthy, failed = new_app(host, database=False), new_app(host, database=False)
    assert host.dokku("git:from-image", healthy, images.node_app("shop", "v1", {}, scripts={
        "start": "node server.js", "migrate": "true"})).code == 0
    assert host.dokku("git:from-image", failed, images.node_app("shop", "v1", {}, scripts={
        "start": "node server.js", "migrate": "false"})).code != 0
    shutil.move(str(host.plugin_dir / ".venv"), str(host.base / "venv-gone"))

    restart = host.dokku("ps:restart", healthy)
    refused = host.dokku("deploy", failed)
    release = host.dokku("git:from-image", healthy, images.node_app("shop", "v2", {}, scripts={
        "start": "node server.js", "migrate": "true"}))

    assert restart.code == 0, restart.output
    assert http_get(host.web_containers(healthy)[0]) == "v1"
    assert refused.code != 0 and "its migrations failed" in refused.stderr
    assert release.code != 0
    assert release.failures[-1] == (
        " !     dokku-migrations' Python environment is missing or broken on this host, so this release's "
        "migrations cannot run: run 'sudo dokku plugin:install' to repair it, then deploy again")


@pytest.mark.xdist_group("broken-environment")
def test_with_the_environment_gone_a_release_fails_closed_and_restarts_keep_the_serving_image(
        broken_venv_host, images):
    host = broken_venv_host
    app = new_app(host, database=False)
    v1 = images.node_app("shop", "v1", {}, scripts=NOTHING)
    assert host.dokku("git:from-image", app, v1).code == 0
    serving = image_id(f"dokku/{app}:latest")
    shutil.move(str(host.plugin_dir / ".venv"), str(host.base / "venv-gone"))

    release = host.dokku("git:from-image", app, images.node_app("shop", "v2", {}, scripts=NOTHING))
    restart = host.dokku("ps:restart", app)

    assert release.code != 0
    assert image_id(f"dokku/{app}:latest") == serving
    assert restart.code == 0, restart.output
    assert http_get(host.web_containers(app)[0]) == "v1"


@pytest.mark.xdist_group("broken-environment")
def test_with_the_environment_gone_apps_destroy_and_rename_finish(broken_venv_host, images):
    host = broken_venv_host
    kept, gone = new_app(host, database=False), new_app(host, database=False)
    for app in (kept, gone):
        assert host.dokku("git:from-image", app, images.node_app("shop", "v1", {}, scripts=NOTHING)).code == 0
    shutil.move(str(host.plugin_dir / ".venv"), str(host.base / "venv-gone"))

    destroy = host.dokku("--force", "apps:destroy", gone)
    rename = host.dokku("apps:rename", "--skip-deploy", kept, f"{kept}-new")

    assert destroy.code == 0, destroy.output
    assert not (host.lib_root / "data" / "migrations" / gone).exists()
    assert rename.code == 0, rename.output
    assert list((host.lib_root / "data" / "migrations" / f"{kept}-new" / "runs").glob("*.json"))


# --- what the plugin accepts from the app ---------------------------------------------------------
def test_migrations_run_refuses_an_image_of_another_app(host, images, bare_app):
    other = new_app(host, database=False)
    built(host, other, images.node_app("shop", "v1", {}, scripts=NOTHING))

    foreign = host.dokku("migrations:run", bare_app, "--image", f"dokku/{other}:latest")
    untagged = host.dokku("migrations:run", bare_app, "--image", images.node_app("shop", "v1", {}, scripts=NOTHING))

    for result in (foreign, untagged):
        assert result.code == 1
        assert f"is not an image of {bare_app}" in result.stderr
    assert migration_containers(bare_app) == []


CLIENT_ENV_WRAPPER = """#!/bin/sh
# Keeps the environment the plugin gave the docker client for the migration container, then runs docker.
if [ "$1 $2" = "container create" ]; then cat /proc/$$/environ >"{log}"; fi
exec {docker} "$@"
"""


@pytest.mark.parametrize("key", ["DOCKER_CONFIG", "HOME"])
def test_app_config_cannot_steer_the_docker_client_and_still_reaches_the_migration(host, images, bare_app, key):
    """A docker config whose current context points nowhere: obeyed, the client could not create. The
    loader's and Go's knobs leave the client alone too: its environment is recorded, and lacks them."""
    app = bare_app
    home = host.base / f"evil-home-{app}"
    config = home / ".docker" if key == "HOME" else home
    (config / "contexts" / "meta").mkdir(parents=True)
    (config / "config.json").write_text('{"currentContext": "nowhere"}')
    for directory in (home, config):
        os.chmod(directory, 0o755)
    wrapper = host.base / f"client-env-{app}"
    wrapper.mkdir()
    os.chmod(wrapper, 0o777)  # the dokku user writes the log there
    log = wrapper / "environ"
    (wrapper / "docker").write_text(CLIENT_ENV_WRAPPER.format(log=log, docker=shutil.which("docker")))
    os.chmod(wrapper / "docker", 0o755)
    built(host, app, images.node_app("shop", "v1", {}, scripts=NOTHING))
    assert host.dokku("migrations:set", app, "command", "env").code == 0
    assert host.dokku("config:set", "--no-restart", app, f"{key}={home}", "LD_PRELOAD=/nonexistent/preload.so",
                      "GODEBUG=inittrace=1").code == 0

    result = host.dokku("migrations:run", app, env={"PATH": f"{wrapper}:{host.env()['PATH']}"})

    assert result.code == 0, result.output
    for line in (f"{key}={home}", "LD_PRELOAD=/nonexistent/preload.so", "GODEBUG=inittrace=1"):
        assert f"       {line}" in result.stdout
    client = dict(entry.split("=", 1) for entry in log.read_text().split("\0") if "=" in entry)
    assert client.get("HOME") == "/home/dokku" and "DOCKER_CONFIG" not in client
    assert "LD_PRELOAD" not in client and "GODEBUG" not in client
