"""End-to-end fixtures: a Dokku host (stand-in + real Docker), real app images, real PostgreSQL."""

import os
import secrets
from pathlib import Path

import pytest

from . import tally
from .apps import Images
from .host import Host, docker, leftover_migration_containers


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
    host = Host(version, name)
    result = host.install()
    assert result.code == 0, f"install failed: {result.output}"
    return host


@pytest.fixture(scope="session")
def host(docker_available):
    """One current-Dokku host for the session; every test uses its own app and database."""
    host = make_host("0.38.27")
    yield host
    host.cleanup()


@pytest.fixture(autouse=True)
def no_migration_container_left_behind(request):
    yield
    if "e2e" in request.keywords:
        leftover = leftover_migration_containers()
        for cid in leftover:
            docker("container", "rm", "-f", cid, check=False)
        assert not leftover, f"migration containers were left behind: {leftover}"


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
