"""Interrupts, concurrency, faults, hostile input and secrets: never a mess, never a leak."""

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from .apps import create_table
from .conftest import built, service_of
from .host import docker, processes_with
from .spy import DockerSpy

WIDGETS = {"1700000000001_widgets.js": create_table("widgets")}


@pytest.fixture
def app(bare_app):
    """Most of these tests never reach a database, so their apps get none."""
    return bare_app


def plugin_pid(app: str, timeout: float = 20) -> int:
    """The plugin's Python process for `app` (the one Dokku's shim exec'd)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = processes_with(b"dokku_migrations", app.encode())
        if found:
            return found[0]
        time.sleep(0.02)
    raise AssertionError(f"no plugin process for {app}")


def lock_is_free(host, app: str) -> bool:
    path = host.lib_root / "data" / "migrations" / app / ".lock"
    return not path.exists() or subprocess.run(["flock", "-n", str(path), "true"]).returncode == 0


def built_app_with_command(host, images, app, command: str) -> None:
    """An image to migrate for `app`, built and not deployed (these tests are about `migrations:run`,
    not about deploys), and `command` as its migration command."""
    built(host, app, images.node_app("shop", "v1", WIDGETS))
    assert host.dokku("migrations:set", app, "command", command).code == 0


# --- interrupts ---------------------------------------------------------------------------------
PAUSE_HOOK = """#!/bin/sh
# Holds a run of {app} at this trigger until a signal ends it: the test knows where the run stands.
[ "${position}" = "{app}" ] || exit 0
touch "{marker}"
sleep 60
"""
# Where a `migrations:run` stands when the signal comes, and how the test holds it there.
PHASES = {
    "asking Dokku for its docker args": ("docker-args-deploy", "1"),
    "between the container's create and its start": ("post-container-create", "3"),
    "while the migration runs": ("", ""),
}


def hold_at(host, app: str, trigger: str, position: str) -> Path:
    """A plugin whose hook for `trigger` stops the run there (the app is argument `position`)."""
    plugin = host.base / f"pause-{app}"
    plugin.mkdir()
    marker = plugin / "reached"
    (plugin / trigger).write_text(PAUSE_HOOK.format(app=app, position=position, marker=marker))
    os.chmod(plugin / trigger, 0o755)
    os.chmod(plugin, 0o777)
    (host.enabled / f"00_pause_{app}").symlink_to(plugin)
    return marker


def nothing_left_of(host, app: str, group: int) -> bool:
    try:
        os.killpg(group, 0)
        return False
    except ProcessLookupError:
        pass
    return not (processes_with(b"dokku_migrations", app.encode()) or
                processes_with(b"dokku_migrations.gate.watchdog", app.encode()) or
                docker("container", "ls", "-aq", "--filter", f"label=com.dokku.app-name={app}",
                       "--filter", "label=com.dokku.migrations.run") or
                docker("container", "ls", "-aq", "--filter", f"label=com.dokku.migrations.probe={app}"))


@pytest.mark.parametrize("phase", list(PHASES))
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_the_process_group_at_each_phase_cleans_up_and_records_the_run_as_interrupted(
        host, images, app, signum, phase):
    built_app_with_command(host, images, app, "sleep 60")
    runs_before = len(host.history(app))
    trigger, position = PHASES[phase]
    marker = hold_at(host, app, trigger, position) if trigger else None
    try:
        process = host.spawn("migrations:run", app)
        if marker is not None:
            wait_until(f"the run to reach {trigger}", marker.exists)
        else:
            wait_until("the migration to run", lambda: docker(
                "container", "ls", "-q", "--filter", f"label=com.dokku.app-name={app}",
                "--filter", "label=com.dokku.migrations.run", "--filter", "status=running"))

        os.killpg(process.pid, signum)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if marker is not None:
            (host.enabled / f"00_pause_{app}").unlink()

    assert process.returncode != 0
    assert f"Interrupted by {signal.Signals(signum).name}" in stderr
    assert "Traceback" not in stdout + stderr
    wait_until("every process, container and probe of the run to be gone",
               lambda: nothing_left_of(host, app, process.pid))
    runs = host.history(app)
    assert len(runs) == runs_before + 1
    assert runs[0]["status"] == "interrupted", runs[0]
    assert lock_is_free(host, app)
    leftovers = [p.name for p in (host.lib_root / "data" / "migrations" / app).rglob(".*")
                 if p.name not in (".lock", ".images.lock")]
    assert leftovers == []


def wait_until(what: str, predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- concurrency --------------------------------------------------------------------------------
def test_a_second_run_of_the_same_app_refuses_at_once_while_the_first_runs(host, images, app):
    built_app_with_command(host, images, app, "sleep 4")
    first = host.spawn("migrations:run", app)
    plugin_pid(app)
    time.sleep(1.5)

    second = host.dokku("migrations:run", app)
    first_out = first.communicate(timeout=60)

    assert first.returncode == 0, first_out
    assert second.code == 1
    assert f"Migrations for {app} are already running" in second.stderr


def test_different_apps_run_in_parallel(host, images, app):
    other = f"par-{secrets.token_hex(3)}"
    assert host.dokku("apps:create", other).code == 0
    for name in (app, other):
        built_app_with_command(host, images, name, "sleep 3")

    processes = [host.spawn("migrations:run", name) for name in (app, other)]
    outputs = [p.communicate(timeout=60) for p in processes]

    assert [p.returncode for p in processes] == [0, 0], outputs
    first, second = (host.history(name)[0] for name in (app, other))
    assert first["started_at"] < second["started_at"] + second["duration"]
    assert second["started_at"] < first["started_at"] + first["duration"]
    host.dokku("apps:destroy", "--force", other)


# --- faults -------------------------------------------------------------------------------------
def test_an_unreachable_docker_daemon_gives_one_line(host, images, app):
    built_app_with_command(host, images, app, "true")

    result = host.dokku("migrations:run", app, env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})

    assert result.code == 1
    assert result.stderr.rstrip("\n").splitlines()[-1].startswith(" !     Docker is not reachable")
    assert "Traceback" not in result.output


def test_history_reads_its_records_without_docker_and_says_the_schema_check_was_skipped(host, images, app):
    built_app_with_command(host, images, app, "true")
    assert host.dokku("migrations:run", app).code == 0
    unreachable = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}

    table = host.dokku("migrations:history", app, env=unreachable)
    as_json = host.dokku("migrations:history", app, "--format", "json", env=unreachable)

    assert table.code == 0, table.output
    assert "succeeded" in table.stdout
    assert "whether the schema is ahead of the running code was not checked" in table.stdout
    assert table.stderr == ""
    assert as_json.code == 0 and json.loads(as_json.stdout)[0]["status"] == "succeeded"


def test_a_missing_image_gives_one_line(host, app):
    result = host.dokku("migrations:run", app, "--image", "nowhere/nothing:1")

    assert result.code == 1
    assert result.stderr == " !     Image nowhere/nothing:1 does not exist on this host\n"


def test_a_failing_dokku_trigger_stops_the_run_with_one_line(host, images, app):
    built_app_with_command(host, images, app, "true")
    broken = host.base / "broken-plugin"
    broken.mkdir()
    (broken / "docker-args-deploy").write_text("#!/bin/sh\necho 'docker-options: bad state' >&2\nexit 3\n")
    os.chmod(broken / "docker-args-deploy", 0o755)
    (host.enabled / "00_broken").symlink_to(broken)
    try:
        result = host.dokku("migrations:run", app)
    finally:
        (host.enabled / "00_broken").unlink()

    assert result.code == 1
    assert result.stderr.rstrip("\n").splitlines()[-1] == (
        f" !     Dokku's 'docker-args-deploy' trigger failed (exit 3): docker-options: bad state; "
        f"run it by hand to see why: dokku plugin:trigger docker-args-deploy {app} latest")


def test_a_failing_config_export_never_shows_what_it_printed(host, images, app):
    """config-export's stdout is the app's config: a failure is told with its stderr only."""
    built_app_with_command(host, images, app, "true")
    leaky = host.base / "leaky-plugin"
    leaky.mkdir()
    (leaky / "config-export").write_text("#!/bin/sh\necho '{\"API_TOKEN\":\"s3cr3t-leak\"}'\n"
                                         "echo 'config: the env file is unreadable' >&2\nexit 1\n")
    os.chmod(leaky / "config-export", 0o755)
    (host.enabled / "00_leaky").symlink_to(leaky)
    try:
        result = host.dokku("migrations:run", app)
    finally:
        (host.enabled / "00_leaky").unlink()

    assert result.code == 1
    assert "config: the env file is unreadable" in result.stderr
    assert "s3cr3t-leak" not in result.output


def test_a_full_disk_for_history_stops_the_deploy_with_one_line(host, images, app):
    built_app_with_command(host, images, app, "true")
    assert host.dokku("migrations:run", app).code == 0  # its records' directory exists: a full disk is mounted there
    assert host.dokku("migrations:set", app, "command", "head -c 3000000 /dev/zero | tr '\\\\0' x").code == 0
    runs = host.lib_root / "data" / "migrations" / app / "runs"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(runs)], check=True)
    try:
        subprocess.run(["chown", "dokku:dokku", str(runs)], check=True)
        result = host.dokku("migrations:run", app)
    finally:
        subprocess.run(["umount", str(runs)], check=True)

    assert result.code == 1
    assert "No space left on device" in result.stderr.rstrip("\n").splitlines()[-1]
    assert "Traceback" not in result.output


def test_a_stopped_database_service_gives_one_line_naming_the_link(host, images, app_with_database):
    app = app_with_database
    built(host, app, images.node_app("shop", "v1", WIDGETS))
    docker("container", "stop", f"dokku.postgres.{service_of(app)}")
    try:
        result = host.dokku("migrations:run", app)
    finally:
        docker("container", "start", f"dokku.postgres.{service_of(app)}")

    assert result.code == 1
    assert result.stderr.rstrip("\n").splitlines()[-1].startswith(
        " !     The migration container could not start: Cannot link to a non running container")


# --- hostile input ------------------------------------------------------------------------------
HOSTILE_COMMANDS = [
    ("app name with shell metacharacters", ["migrations:run", "a;touch /tmp/pwned"], "Invalid app name"),
    ("app name climbing out with ..", ["migrations:run", "../../etc"], "Invalid app name"),
    ("app name with a space", ["migrations:report", "my app"], "Invalid app name"),
    ("app name with a newline", ["migrations:history", "web\nx"], "Invalid app name"),
    ("app name in capitals", ["migrations:logs", "Web"], "Invalid app name"),
    ("setting key with a command substitution", ["migrations:set", "{app}", "$(touch /tmp/pwned)", "1"],
     "Unknown setting"),
    ("command with a newline", ["migrations:set", "{app}", "command", "true\ntouch /tmp/pwned"],
     "The command must be one line"),
    ("detect rule reaching outside with ..", ["migrations:set", "{app}", "detect", "../etc/passwd:$.x=>true"],
     "is not a file path inside the image"),
    ("detect rule without a JSONPath", ["migrations:set", "{app}", "detect", "package.json"],
     "write it as file:jsonpath=>command, or file:jsonpath"),
    ("detect rule with a broken JSONPath", ["migrations:set", "{app}", "detect", "package.json:$[[=>true"],
     "is not a JSONPath"),
    ("negative timeout", ["migrations:set", "{app}", "timeout", "-1"], "is not a number of seconds"),
    ("memory with a command substitution", ["migrations:set", "{app}", "memory", "$(touch /tmp/pwned)"],
     "is not a memory size"),
    ("cpus that is not a number", ["migrations:set", "{app}", "cpus", "1;2"], "is not a number of CPUs"),
    ("run id that is not a number", ["migrations:logs", "{app}", "1;id"], "must be a whole number"),
    ("image reference with shell metacharacters", ["migrations:run", "{app}", "--image", "x;touch /tmp/pwned"],
     "is not a valid image reference"),
    ("unknown flag", ["migrations:run", "{app}", "--force"], "Unknown option --force"),
]


@pytest.mark.parametrize("kind,argv,message", HOSTILE_COMMANDS, ids=[case[0] for case in HOSTILE_COMMANDS])
def test_hostile_command_input_is_refused_with_one_line(host, app, kind, argv, message):
    result = host.dokku(*[word.replace("{app}", app) for word in argv])

    assert result.code != 0
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(" !     ")
    assert not os.path.exists("/tmp/pwned")
    assert host.dokku("migrations:report", app, "--format", "json").code == 0


DEEP = "[" * 5000 + "]" * 5000
HOSTILE_MANIFESTS = [
    ("app.json command that is a list", {"app.json": '{"migrations": {"command": ["rm", "-rf", "/"]}}'},
     "$.migrations.command in /app/app.json must be a command (a string), but it is a list"),
    ("app.json command on two lines", {"app.json": '{"migrations": {"command": "true\\ntouch /tmp/pwned"}}'},
     "$.migrations.command in /app/app.json must be a command on one line"),
    ("app.json migrations that is a string", {"app.json": '{"migrations": "npm run migrate"}'},
     '/app/app.json must be shaped like {"migrations": {"command": "…"}}, but its $.migrations is a string'),
    ("migrate script that is a list of numbers", {"package.json": '{"scripts": {"migrate": [1, 2]}}'},
     "$.scripts.migrate in /app/package.json must be a string or a list of strings, but it is a list holding "
     "a number"),
    ("migrate script that is an object", {"package.json": '{"scripts": {"migrate": {"cmd": "x"}}}'},
     "must be a string or a list of strings, but it is an object"),
    ("deeply nested package.json", {"package.json": '{"scripts": {"x": ' + DEEP + '}}'},
     "is nested more than 200 levels deep"),
    ("huge package.json", {"package.json": '{"scripts": {}, "pad": "' + "x" * 5_000_000 + '"}'},
     "larger than the 4 MB a manifest may be"),
    ("package.json that is not UTF-8", {"bytes": "377 376 173 175"}, "is not valid UTF-8"),
]


@pytest.mark.parametrize("kind,files,message", HOSTILE_MANIFESTS, ids=[case[0] for case in HOSTILE_MANIFESTS])
def test_hostile_manifests_stop_the_deploy_with_one_line_and_run_nothing(host, images, app, kind, files, message):
    steps = 'CMD ["sleep", "infinity"]\n'
    if "bytes" in files:
        octal = "".join(chr(92) + code for code in files["bytes"].split())
        steps = f"RUN printf '{octal}' > /app/package.json\n" + steps
        files = {}
    image = images.plain("hostile", "FROM dm-base:bookworm\nWORKDIR /app\nCOPY . /app/\n" + steps,
                         {**files, "marker": kind})

    result = host.dokku("git:from-image", app, image)

    assert result.code != 0
    assert message in result.failures[-1]
    assert "Traceback" not in result.output
    assert host.web_containers(app) == []


def test_a_package_json_symlinked_outside_the_app_is_read_from_the_image_not_the_host(host, images, app):
    """/app/package.json links to an absolute path outside /app. The host has a file at that same
    path without a migrate script; the image's has one. Only the image's file makes the deploy run
    its script, so the run proves which one was read."""
    shared = Path(tempfile.mkdtemp(prefix="dm-e2e-manifest-"))
    try:
        (shared / "package.json").write_text(json.dumps({"scripts": {"start": "node server.js"}}))
        manifest = json.dumps({"name": "linked", "scripts": {"migrate": "echo read-the-image-manifest"}})
        image = images.node_app("linked", "v1", {}, package_json=False, extra={"linked/package.json": manifest},
                                dockerfile_extra=f"RUN mkdir -p {shared} && mv /app/linked/package.json {shared}/ "
                                                 f"&& ln -s {shared}/package.json /app/package.json\n")

        result = host.dokku("git:from-image", app, image)
    finally:
        shutil.rmtree(shared)

    assert result.code == 0, result.output
    assert f"from /app/package.json $.scripts.migrate in dokku/{app}:latest" in result.stdout
    assert "       read-the-image-manifest" in result.stdout.splitlines()
    assert host.history(app)[0]["status"] == "succeeded"


def test_a_config_key_that_is_not_an_environment_name_never_reaches_the_migration_container(host, images, app):
    """Dokku refuses such a key before writing anything (plugins/config/config.go validateKey), so only a
    hand-edited env file holds one; its `--env=BAD KEY` would split into a stray argument."""
    built_app_with_command(host, images, app, "env")
    assert host.dokku("config:set", "--no-restart", app, "GREETING=hello").code == 0
    env_file = host.lib_root / "config" / app / "ENV.json"  # the stand-in's store of the app's env file
    env_file.write_text(json.dumps({**json.loads(env_file.read_text()), "BAD KEY": "x"}))

    result = host.dokku("migrations:run", app)

    assert result.code == 1
    assert result.stderr.splitlines()[-1] == (
        f" !     Config key 'BAD KEY' of {app} is not a valid environment variable name and cannot be passed to "
        f"the migration container safely: rename it (dokku config:unset {app} ...)")
    assert f"Running migrations for {app}" not in result.stdout


# --- secrets ------------------------------------------------------------------------------------
def test_config_values_never_reach_a_command_line_an_engine_url_a_file_or_the_history(host, images, app):
    """Every docker invocation's argv and every request to the engine are recorded whole (spy.py);
    only the docker CLI's `container create` may carry values, in its request body: that is how
    `--env=KEY` hands a container its value."""
    secret = "s3cr3t-" + secrets.token_hex(8)
    built_app_with_command(host, images, app, "sleep 3")
    assert host.dokku("config:set", "--no-restart", app, f"API_TOKEN={secret}").code == 0
    spy = DockerSpy(host.base / "spy")
    seen = []
    done = threading.Event()

    def scan_command_lines():
        while not done.is_set():
            for entry in Path("/proc").iterdir():
                try:
                    if secret.encode() in (entry / "cmdline").read_bytes():
                        seen.append(entry.name)
                except OSError:
                    pass
            time.sleep(0.05)

    scanner = threading.Thread(target=scan_command_lines)
    started = time.time()
    scanner.start()
    try:
        result = host.dokku("migrations:run", app, env=spy.env(host.env()["PATH"]))
        dry = host.dokku("migrations:run", app, "--dry-run", env=spy.env(host.env()["PATH"]))
    finally:
        done.set()
        scanner.join()
        spy.close()

    assert result.code == 0 and dry.code == 0, result.output + dry.output
    invocations = spy.invocations()
    assert [b"container", b"create"] in [argv[:2] for argv in invocations]
    assert [argv for argv in invocations if any(secret.encode() in arg for arg in argv)] == []
    targets = [target for connection in spy.connections for target in connection.targets]
    assert any(b"/containers/create" in target for target in targets)
    assert any(re.search(rb"/containers/\w+/start", target) for target in targets)
    assert [target for target in targets if secret.encode() in target] == []
    assert [c for c in spy.connections if not c.from_cli and secret.encode() in c.sent] == []
    assert [c for c in spy.connections if c.from_cli and secret.encode() in c.sent], "the spy saw no request body"
    assert seen == []
    assert secret not in result.output + dry.output
    plugin_files = (files_under(host.lib_root / "data" / "migrations") +
                    files_under(host.lib_root / "config" / "migrations"))
    temporary = [p for p in files_under(Path("/tmp"), since=started) if host.base not in p.parents]
    assert plugin_files and [p for p in plugin_files + temporary if secret.encode() in read_or_empty(p)] == []


def files_under(root: Path, since: float = 0) -> list:
    """Regular files below root (modified since `since`), tolerating files that other tests delete."""
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            try:
                if path.is_file() and not path.is_symlink() and path.stat().st_mtime >= since:
                    found.append(path)
            except OSError:
                continue
    return found


def read_or_empty(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def test_an_apps_docker_host_config_never_redirects_the_docker_client(host, images, app):
    built_app_with_command(host, images, app, "env")
    assert host.dokku("config:set", "--no-restart", app, "DOCKER_HOST=tcp://127.0.0.1:9",
                      "VISIBLE=yes").code == 0

    result = host.dokku("migrations:run", app)

    assert result.code == 0, result.output
    assert "       VISIBLE=yes" in result.stdout
    assert "       DOCKER_HOST=tcp://127.0.0.1:9" in result.stdout


def test_builds_cancel_during_a_deploys_migration_stops_it_and_leaves_nothing_behind(host, images, app):
    """`dokku builds:cancel` SIGQUITs the deploy's process group (plugins/builds/subcommands.go
    CommandCancel): Dokku's bash survives it, build capture's tee does not, so every later write of
    the deploy hits a closed pipe."""
    assert host.dokku("migrations:set", app, "command", "sleep 60").code == 0
    deploy = host.spawn("git:from-image", app, images.node_app("shop", "v1", WIDGETS))
    wait_until("the migration to run", lambda: docker(
        "container", "ls", "-q", "--filter", f"label=com.dokku.app-name={app}",
        "--filter", "label=com.dokku.migrations.run", "--filter", "status=running"))

    cancel = host.dokku("builds:cancel", app)
    deploy.communicate(timeout=60)

    assert cancel.stdout == "-----> Killing app deploy\n"
    assert deploy.returncode != 0
    assert docker("container", "ls", "-aq", "--filter", f"label=com.dokku.app-name={app}",
                  "--filter", "label=com.dokku.migrations.run").split() == []
    assert not (host.lib_root / "data" / "apps" / app / ".deploy.lock").exists()
    assert host.web_containers(app) == []
    assert host.history(app)[0]["status"] == "interrupted"
    assert "SIGQUIT" in host.history(app)[0]["message"]
    assert host.dokku("deploy", app).code != 0


def test_global_config_reaches_the_migration_under_the_apps_own(host, images, app):
    """config-export APP false true json merges the global config under the app's
    (plugins/config/environment.go LoadMergedAppEnv), as Dokku's own task containers get it."""
    key = f"GLOBAL_ONLY_{secrets.token_hex(3).upper()}"
    built_app_with_command(host, images, app, "env")
    assert host.dokku("config:set", "--global", f"{key}=from-global").code == 0
    try:
        result = host.dokku("migrations:run", app)
    finally:
        host.dokku("config:unset", "--global", key)

    assert result.code == 0, result.output
    assert f"       {key}=from-global" in result.stdout.splitlines()
