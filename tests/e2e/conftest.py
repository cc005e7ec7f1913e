"""End-to-end fixtures: a Dokku host (stand-in + real Docker), real app images, real PostgreSQL."""

import fcntl
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from . import tally
from .apps import Images
from .host import HOSTS, REPO, Host, docker, leftover_migration_containers


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """The test's counts ride on its last report to wherever the run is summed (tests/conftest.py)."""
    if call.when == "teardown":
        item.user_properties.append(("tally", tally.take()))
    return (yield)


@pytest.fixture(scope="session")
def docker_available() -> None:
    if os.geteuid() != 0:
        pytest.fail("end-to-end tests run as root (they drop to the dokku user themselves): use 'sudo tests/run'")
    docker("info")


@pytest.fixture(scope="session")
def images(docker_available) -> Images:
    deps = os.environ.get("DM_NODE_DEPS")
    if not deps or not Path(deps).is_dir():
        pytest.fail("DM_NODE_DEPS is not set: run the suite through tests/run, which builds the images")
    return Images(Path(deps))


def make_host(version: str, name: str = "migrations") -> Host:
    """A host with the plugin installed as `plugin:install` installs it, its packages from the run's
    wheelhouse: tests of `install` itself call `host.install()` and reach the package index."""
    host = Host(version, name)
    result = host.install(env=wheelhouse())
    assert result.code == 0, f"install failed: {result.output}"
    return host


def wheelhouse() -> Dict[str, str]:
    """pip's settings for installing the plugin's pinned packages from one directory the run downloads
    them to once (the first worker to need it, under a lock), instead of from the index for every host."""
    directory = Path(os.environ["DM_TEST_RUN_DIR"]) / "wheelhouse"
    with open(f"{directory}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (directory / ".complete").exists():
            result = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                                     "--no-deps", "--require-hashes", "--only-binary=:all:", "--dest", str(directory),
                                     "-r", str(REPO / "requirements.txt")], capture_output=True, text=True)
            assert result.returncode == 0, f"downloading the plugin's packages failed: {result.stderr}"
            (directory / ".complete").touch()
    return {"PIP_FIND_LINKS": str(directory), "PIP_NO_INDEX": "1"}


@pytest.fixture(scope="session")
def host(docker_available):
    """One current-Dokku host for the session; every test uses its own app and database."""
    host = make_host("0.38.27")
    yield host
    host.cleanup()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    """No migration container outlives the test that made it: looked for when the test is over, before
    any fixture's teardown takes its host (and the containers) away; removed, then the test fails."""
    leftover = leftover_migration_containers() if "e2e" in item.keywords else []
    result = yield
    if leftover:
        docker("container", "rm", "--force", *leftover, check=False)
        raise AssertionError(f"migration containers were left behind: {leftover}")
    return result


@pytest.fixture(autouse=True)
def apps_removed_at_the_end(request):
    """The containers of the apps and database services a test made on a shared host go when it ends,
    so a worker does not run every server it ever started until the session is over."""
    before = {host: (host.apps(), host.services()) for host in HOSTS}
    yield
    for host in list(HOSTS):
        apps, services = before.get(host, (set(), set()))
        host.remove(host.apps() - apps, host.services() - services)


def new_app(host, database: bool) -> str:
    name = f"app-{secrets.token_hex(3)}"
    assert host.dokku("apps:create", name).code == 0
    if database:
        service = service_of(name)
        result = host.dokku("postgres:create", service)
        assert result.code == 0, result.output
        result = host.dokku("postgres:link", service, name)
        assert result.code == 0, result.output
    return name


@pytest.fixture
def app(host) -> str:
    """A fresh app with its own linked PostgreSQL service, like `postgres:create` + `postgres:link`."""
    return new_app(host, database=True)


@pytest.fixture
def app_with_database(host) -> str:
    """The same as `app`, for modules that override `app`."""
    return new_app(host, database=True)


@pytest.fixture
def bare_app(host) -> str:
    """A fresh app without a database, for tests whose migration never reaches one."""
    return new_app(host, database=False)


def service_of(app: str) -> str:
    return f"db-{app}"


def built(host, app: str, image: str) -> str:
    """`image` as the app's latest build, tagged `dokku/<app>:latest` as Dokku's builder tags what it
    builds, and neither released nor deployed: for tests of `migrations:run`, which runs the migrations
    of that image and needs nothing else of a deploy (the plugin treats it as it treats a build of the
    same image: same command, environment and entrypoint). Deploy where the deploy is what is tested."""
    docker("image", "tag", image, f"dokku/{app}:latest")
    return f"dokku/{app}:latest"
