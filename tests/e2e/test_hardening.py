"""Interrupts, concurrency, faults, hostile input and secrets: never a mess, never a leak."""

import json
import os
import secrets
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from .apps import create_table
from .conftest import service_of
from .host import docker, psql

WIDGETS = {"1700000000001_widgets.js": create_table("widgets")}


@pytest.fixture
def app(bare_app):
    """Most of these tests never reach a database, so their apps get none."""
    return bare_app


def plugin_pid(app: str, timeout: float = 20) -> int:
    """The plugin's Python process for `app` (the one Dokku's shim exec'd)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"dokku_migrations" in argv and app.encode() in argv:
                return int(entry.name)
        time.sleep(0.02)
    raise AssertionError(f"no plugin process for {app}")


def lock_is_free(host, app: str) -> bool:
    path = host.lib_root / "data" / "migrations" / app / ".lock"
    return not path.exists() or subprocess.run(["flock", "-n", str(path), "true"]).returncode == 0


def deployed_app_with_command(host, images, app, command: str) -> None:
    assert host.dokku("migrations:set", app, "command", "true").code == 0
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS)).code == 0
    assert host.dokku("migrations:set", app, "command", command).code == 0


# --- interrupts ---------------------------------------------------------------------------------
@pytest.mark.parametrize("signum,delay", [(signal.SIGTERM, 0.0), (signal.SIGTERM, 0.4), (signal.SIGTERM, 1.2),
                                          (signal.SIGTERM, 3.0), (signal.SIGINT, 0.4), (signal.SIGINT, 3.0)])
def test_a_signal_at_any_moment_cleans_up_and_stops_with_non_zero(host, images, app, signum, delay):
    deployed_app_with_command(host, images, app, "sleep 60")
    runs_before = len(host.history(app))
    process = host.spawn("migrations:run", app)
    pid = plugin_pid(app)
    time.sleep(delay)

    os.kill(pid, signum)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode != 0
    assert "Traceback" not in stdout + stderr
    assert docker("container", "ls", "-aq", "--filter", f"label=com.dokku.migrations.probe={app}").split() == []
    assert lock_is_free(host, app)
    runs = host.history(app)
    assert all(r["status"] != "running" for r in runs), (stdout, stderr, runs)
    if len(runs) > runs_before:
        assert runs[0]["status"] == "interrupted"
        assert f"Interrupted by {signal.Signals(signum).name}" in stderr
    leftovers = [p.name for p in (host.lib_root / "data" / "migrations" / app).rglob(".*")
                 if p.name not in (".lock", ".images.lock")]
    assert leftovers == []


# --- concurrency --------------------------------------------------------------------------------
def test_a_second_run_of_the_same_app_refuses_at_once_while_the_first_runs(host, images, app):
    deployed_app_with_command(host, images, app, "sleep 4")
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
        deployed_app_with_command(host, images, name, "sleep 3")

    processes = [host.spawn("migrations:run", name) for name in (app, other)]
    outputs = [p.communicate(timeout=60) for p in processes]

    assert [p.returncode for p in processes] == [0, 0], outputs
    first, second = (host.history(name)[0] for name in (app, other))
    assert first["started_at"] < second["started_at"] + second["duration"]
    assert second["started_at"] < first["started_at"] + first["duration"]
    host.dokku("apps:destroy", other)


# --- faults -------------------------------------------------------------------------------------
def test_an_unreachable_docker_daemon_gives_one_line(host, images, app):
    deployed_app_with_command(host, images, app, "true")

    result = host.dokku("migrations:run", app, env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})

    assert result.code == 1
    assert result.stderr.rstrip("\n").splitlines()[-1].startswith(" !     Docker is not reachable")
    assert "Traceback" not in result.output


def test_a_missing_image_gives_one_line(host, app):
    result = host.dokku("migrations:run", app, "--image", "nowhere/nothing:1")

    assert result.code == 1
    assert result.stderr == " !     Image nowhere/nothing:1 does not exist on this host\n"


def test_a_failing_dokku_trigger_stops_the_run_with_one_line(host, images, app):
    deployed_app_with_command(host, images, app, "true")
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


def test_a_full_disk_for_history_stops_the_deploy_with_one_line(host, images, app):
    deployed_app_with_command(host, images, app, "head -c 3000000 /dev/zero | tr '\\\\0' x")
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
    assert host.dokku("git:from-image", app, images.node_app("shop", "v1", WIDGETS)).code == 0
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
    ("migrate script that is a list of numbers", {"package.json": '{"scripts": {"migrate": [1, 2]}}'},
     "$.scripts.migrate in /app/package.json must be a string or a list of strings, but it is a list holding "
     "a number"),
    ("migrate script that is an object", {"package.json": '{"scripts": {"migrate": {"cmd": "x"}}}'},
     "must be a string or a list of strings, but it is an object"),
    ("deeply nested package.json", {"package.json": '{"scripts": {"x": ' + DEEP + '}}'},
     "is nested more than 200 levels deep"),
    ("huge package.json", {"package.json": '{"scripts": {}, "pad": "' + "x" * 5_000_000 + '"}'},
     "larger than the 4 MB a manifest may be"),
    ("package.json symlinked outside the app", {"link": "/etc/passwd"}, "/app/package.json in the image is not valid JSON"),
    ("package.json that is not UTF-8", {"bytes": "377 376 173 175"}, "is not valid UTF-8"),
]


@pytest.mark.parametrize("kind,files,message", HOSTILE_MANIFESTS, ids=[case[0] for case in HOSTILE_MANIFESTS])
def test_hostile_manifests_stop_the_deploy_with_one_line_and_run_nothing(host, images, app, kind, files, message):
    steps = 'CMD ["sleep", "infinity"]\n'
    if "link" in files:
        steps = f"RUN ln -s {files['link']} /app/package.json\n" + steps
        files = {}
    if "bytes" in files:
        octal = "".join(chr(92) + code for code in files["bytes"].split())
        steps = f"RUN printf '{octal}' > /app/package.json\n" + steps
        files = {}
    image = images.plain("hostile", "FROM dm-base:bookworm\nWORKDIR /app\nCOPY . /app/\n" + steps,
                         {**files, "marker": kind})

    result = host.dokku("git:from-image", app, image)

    assert result.code != 0
    assert message in result.stderr.rstrip("\n").splitlines()[-1]
    assert "Traceback" not in result.output
    assert host.web_containers(app) == []


def test_a_symlinked_package_json_is_read_inside_the_image(host, images, app_with_database):
    app = app_with_database
    image = images.node_app("linked", "v1", WIDGETS, package_json=False,
                            extra={"config/package.json": json.dumps({"scripts": {"migrate": "node-pg-migrate up"}})},
                            dockerfile_extra="RUN ln -s /app/config/package.json /app/package.json\n")

    result = host.dokku("git:from-image", app, image)

    assert result.code == 0, result.output
    assert psql(service_of(app), "SELECT count(*) FROM widgets") == "0"


def test_a_config_key_that_is_not_an_environment_name_is_refused(host, images, app):
    image = images.node_app("shop", "v1", WIDGETS)
    assert host.dokku("config:set", "--no-restart", app, "BAD KEY=x").code == 0

    result = host.dokku("git:from-image", app, image)

    assert result.code != 0
    assert "Config key 'BAD KEY'" in result.stderr
    assert host.web_containers(app) == []


# --- secrets ------------------------------------------------------------------------------------
def test_config_values_never_reach_a_command_line_a_file_or_the_history(host, images, app):
    secret = "s3cr3t-" + secrets.token_hex(8)
    deployed_app_with_command(host, images, app, "sleep 3")
    assert host.dokku("config:set", "--no-restart", app, f"API_TOKEN={secret}").code == 0
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
        result = host.dokku("migrations:run", app)
        dry = host.dokku("migrations:run", app, "--dry-run")
    finally:
        done.set()
        scanner.join()

    assert result.code == 0 and dry.code == 0
    assert seen == []
    assert secret not in result.output + dry.output
    plugin_files = files_under(host.lib_root / "data" / "migrations") + files_under(host.lib_root / "config" / "migrations")
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
    deployed_app_with_command(host, images, app, "env")
    assert host.dokku("config:set", "--no-restart", app, "DOCKER_HOST=tcp://127.0.0.1:9",
                      "VISIBLE=yes").code == 0

    result = host.dokku("migrations:run", app)

    assert result.code == 0, result.output
    assert "       VISIBLE=yes" in result.stdout
    assert "       DOCKER_HOST=tcp://127.0.0.1:9" in result.stdout
