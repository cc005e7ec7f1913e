"""`install` on each kind of host it meets, and under the faults it must survive. Each test gets a
container of its own from tests/images/build-install-hosts (Debian's python3 3.11, which has no
ensurepip without python3-venv, exactly like Ubuntu's): the plugin copied in as `plugin:install`
clones it, its real `install` run as root, and the result used as the dokku user."""

import io
import os
import subprocess
import tarfile
import time
from typing import Callable, Iterator, List, Optional

import pytest

from .host import REPO, Result, docker, image_exists, plugin_files_only

PLUGIN = "/var/lib/dokku/plugins/available/migrations"
VENV = f"{PLUGIN}/.venv"
PINNED = {"jsonpath_ng-1.7.0.dist-info", "ply-3.11.dist-info", "squawk_cli-2.70.0.dist-info"}
SYSTEM_PIPS = [pytest.param("pip22", id="ubuntu-22.04-pip-22.0.2"),
               pytest.param("pip24", id="ubuntu-24.04-pip-24.0-pep-668")]


class Machine:
    """A container standing in for a Dokku host; it removes itself after 15 minutes at the latest."""

    def __init__(self, image: str, network: str) -> None:
        self.id = docker("run", "--detach", "--rm", f"--network={network}", "--label=dm-e2e=install",
                         f"dm-install:{image}", "sleep", "900")
        self.exec("mkdir", "-p", os.path.dirname(PLUGIN))
        subprocess.run(["docker", "exec", "-i", self.id, "tar", "-x", "-C", os.path.dirname(PLUGIN)],
                       input=plugin_tarball(), check=True, capture_output=True)

    def exec(self, *argv: str, user: str = "root", env: Optional[dict] = None) -> Result:
        flags = [f"--env={key}={value}" for key, value in (env or {}).items()]
        result = subprocess.run(["docker", "exec", f"--user={user}", *flags, self.id, *argv],
                                capture_output=True, text=True, timeout=300)
        return Result(result.returncode, result.stdout, result.stderr)

    def sh(self, script: str) -> Result:
        return self.exec("bash", "-c", script)

    def install(self, env: Optional[dict] = None) -> Result:
        """As `dokku plugin:install` runs it: root, DOKKU_LIB_ROOT set."""
        return self.exec(f"{PLUGIN}/install", env={"DOKKU_LIB_ROOT": "/var/lib/dokku", **(env or {})})

    def plugin_entries(self) -> List[str]:
        return self.exec("ls", "-A", PLUGIN).stdout.split()

    def venv_snapshot(self) -> str:
        """Every entry of .venv with its type, mode, size, link target, mtime and ctime: any write,
        replacement or rename inside it changes this."""
        return self.sh(f"cd {VENV} && find . -printf '%p %y %m %s %l %T@ %C@\\n' | sort").stdout

    def stale_stamp(self) -> None:
        """What a changed requirements.txt or Python upgrade looks like to `install`: a rebuild is due."""
        assert self.sh(f"echo stale > {VENV}/.requirements-stamp").code == 0

    def remove(self) -> None:
        docker("container", "rm", "--force", self.id, check=False)


def plugin_tarball() -> bytes:
    """The plugin's files under `migrations/`, as `git clone` would bring them, owned by root."""
    buffer = io.BytesIO()

    def only_plugin_files(info: tarfile.TarInfo) -> Optional[tarfile.TarInfo]:
        parent, name = os.path.split(info.name)
        source = REPO / os.path.relpath(parent, "migrations") if parent else REPO.parent
        if name in plugin_files_only(str(source), [name]):
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(REPO, arcname="migrations", filter=only_plugin_files)
    return buffer.getvalue()


@pytest.fixture
def machine(docker_available) -> Iterator[Callable[..., Machine]]:
    for image in ("venv", "pip22", "pip24", "nopip"):
        if not image_exists(f"dm-install:{image}"):
            pytest.fail(f"dm-install:{image} is missing: run the suite through tests/run, "
                        "which runs tests/images/build-install-hosts")
    started: List[Machine] = []

    def start(image: str, network: str = "bridge") -> Machine:
        started.append(Machine(image, network))
        return started[-1]

    yield start
    for host in started:
        host.remove()


def assert_environment_works(host: Machine) -> None:
    imported = host.exec(f"{VENV}/bin/python", "-c", "import jsonpath_ng")
    assert imported.code == 0, imported.output
    linter = host.exec(f"{VENV}/bin/squawk", "--version")  # the pre-flight's linter, beside the environment's python
    assert linter.code == 0 and "2.70.0" in linter.output, linter.output
    # a real call through the shims' entry point, as the dokku user (help never calls Docker)
    helped = host.exec(f"{PLUGIN}/bin/run", "command", "migrations:help", user="dokku",
                       env={"DOKKU_LIB_ROOT": "/var/lib/dokku", "DOCKER_BIN": "/bin/true"})
    assert helped.code == 0, helped.output
    assert "migrations:run <app>" in helped.stdout


def assert_one_line_failure(result: Result) -> str:
    assert result.code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(" !     "), result.stderr
    return lines[0]


def test_install_builds_the_environment_with_ensurepip(machine):
    host = machine("venv")

    result = host.install()

    assert result.code == 0, result.output
    assert "system's pip" not in result.stdout and "apt-get" not in result.stdout
    assert_environment_works(host)


@pytest.mark.parametrize("image", SYSTEM_PIPS)
def test_install_without_ensurepip_fills_the_environment_with_the_system_pip(machine, image):
    host = machine(image)

    result = host.install()

    assert result.code == 0, result.output
    assert "This Python's venv cannot install pip (python3-venv is missing): using the system's pip" in result.stdout
    assert_environment_works(host)
    site = host.exec("ls", f"{VENV}/lib/python3.11/site-packages").stdout.split()
    assert {entry for entry in site if entry.endswith(".dist-info")} == PINNED  # --no-deps: the pins alone
    assert "bin" not in site  # pip --target's scripts would run the system Python
    untouched = host.exec("python3", "-c", "import jsonpath_ng")
    assert untouched.code == 1, "the system Python must not get the plugin's packages"


@pytest.mark.parametrize("image", SYSTEM_PIPS)
def test_install_with_the_system_pip_refuses_a_package_whose_hash_does_not_match(machine, image):
    host = machine(image)
    assert host.exec("sed", "-i", "s/sha256:f3d7f9e848/sha256:0000000048/", f"{PLUGIN}/requirements.txt").code == 0

    result = host.install()

    line = assert_one_line_failure(result)
    assert "Could not install the plugin's Python packages (jsonpath-ng, squawk-cli)" in line
    assert "DO NOT MATCH THE HASHES" in line
    assert line.endswith("then run 'sudo dokku plugin:install'")
    assert ".venv" not in host.plugin_entries() and ".venv.new" not in host.plugin_entries()


def test_install_without_ensurepip_or_pip_installs_python3_venv_with_apt(machine):
    host = machine("nopip")

    result = host.install()

    assert result.code == 0, result.output
    assert "This Python has neither ensurepip nor pip: installing python3.11-venv with apt-get" in result.stdout
    assert host.exec("dpkg-query", "--show", "python3.11-venv").code == 0
    assert_environment_works(host)


def test_install_with_no_way_to_build_an_environment_names_the_command_to_run(machine):
    host = machine("nopip", network="none")  # no ensurepip, no pip, and apt-get cannot reach Debian

    result = host.install()

    line = assert_one_line_failure(result)
    assert line.startswith(" !     This Python has neither ensurepip nor pip, and apt-get could not install "
                           "python3.11-venv (")
    assert line.endswith("run 'sudo apt-get update && sudo apt-get install -y python3.11-venv', "
                         "then run 'sudo dokku plugin:install'")
    assert ".venv" not in host.plugin_entries() and ".venv.new" not in host.plugin_entries()


def test_install_with_no_way_to_build_an_environment_leaves_the_old_one_as_it_was(machine):
    host = machine("nopip", network="none")
    assert host.exec("python3", "-m", "venv", "--without-pip", VENV).code == 0
    host.stale_stamp()
    before = host.venv_snapshot()

    result = host.install()

    assert_one_line_failure(result)
    assert host.venv_snapshot() == before
    assert ".venv.new" not in host.plugin_entries()


def test_failed_rebuild_leaves_the_old_environment_working(machine):
    host = machine("venv")
    assert host.install().code == 0
    docker("network", "disconnect", "bridge", host.id)  # the package index is gone
    host.stale_stamp()
    before = host.venv_snapshot()

    result = host.install(env={"PIP_RETRIES": "0"})  # pip would first retry the gone index for 8 s

    line = assert_one_line_failure(result)
    assert "Could not install the plugin's Python packages" in line
    assert host.venv_snapshot() == before
    assert ".venv.new" not in host.plugin_entries()
    assert_environment_works(host)


def test_rebuild_swaps_the_environment_in_with_no_moment_without_one(machine):
    host = machine("venv")  # the larger environment: removing it took long enough for probes to fail
    assert host.install().code == 0
    host.stale_stamp()
    # a trigger starting at any moment of the rebuild: the environment's Python importing the packages,
    # tallied by the stamp it found (old environment: "stale"), until it has also seen the new one
    probe = subprocess.Popen(
        ["docker", "exec", host.id, "bash", "-c",
         "old=0 new=0 failures=0; while [ ! -e /tmp/stop ] || [ $new = 0 ]; do "
         f"stamp=$(cat {VENV}/.requirements-stamp 2>/dev/null); "
         f"{VENV}/bin/python -c 'import jsonpath_ng' || failures=$((failures + 1)); "
         'if [ "$stamp" = stale ]; then old=$((old + 1)); else new=$((new + 1)); fi; '
         "echo > /tmp/started; done; echo $old $new $failures"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while host.exec("test", "-e", "/tmp/started").code != 0:
            time.sleep(0.05)
        result = host.install()
    finally:
        host.exec("touch", "/tmp/stop")
        out, err = probe.communicate(timeout=120)

    assert result.code == 0 and "Installing dokku-migrations' Python environment" in result.stdout, result.output
    old, new, failures = map(int, out.split())
    assert old > 0 and new > 0, "the probe ran before and after the swap"
    assert failures == 0, f"{failures} of {old + new} runs found no environment: {err[-2000:]}"
    assert_environment_works(host)
