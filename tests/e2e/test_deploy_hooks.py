"""Exactly one migration run per deploy on every supported Dokku, whichever triggers it fires
(pre-release-builder since 0.32.0; pre-deploy from the registry plugin since 0.25.1, from 0.34.4
with a deprecation warning whenever a plugin ships a `pre-deploy` file)."""

import secrets
from typing import Tuple

import pytest

from .apps import create_table
from .conftest import make_host
from .host import Host, psql

DEPRECATION = "Deprecated: please upgrade plugin to use 'pre-release-builder'"


def version_of(host: Host) -> Tuple[int, ...]:
    """Compared as numbers: as strings "0.4.0" >= "0.34.4"."""
    return tuple(int(part) for part in host.lib_root.joinpath("VERSION").read_text().strip().split("."))


@pytest.fixture(scope="module", params=["0.25.1", "0.32.0", "0.34.4", "0.38.27"])
def versioned_host(request, docker_available):
    """Each version's host is built once: its tests share the xdist group "dokku-versions"."""
    host = make_host(request.param)
    yield host
    host.cleanup()


def deploy_once(host, images):
    app = f"hooked-{secrets.token_hex(3)}"
    assert host.dokku("apps:create", app).code == 0
    assert host.dokku("postgres:create", f"{app}-db").code == 0
    assert host.dokku("postgres:link", f"{app}-db", app).code == 0
    image = images.node_app("shop", "v1", {"1700000000001_widgets.js": create_table("widgets")})
    return app, host.dokku("git:from-image", app, image)


def test_version_of_compares_numbers_not_strings(tmp_path):
    host = Host.__new__(Host)
    host.lib_root = tmp_path
    (tmp_path / "VERSION").write_text("0.4.0\n")

    assert version_of(host) < (0, 34, 4)


@pytest.fixture(scope="module")
def versioned_deploy(versioned_host, images):
    """One deploy on each version's host, which its tests only look at."""
    return deploy_once(versioned_host, images)


@pytest.mark.xdist_group("dokku-versions")
def test_every_dokku_version_runs_migrations_exactly_once_per_deploy(versioned_host, versioned_deploy):
    app, result = versioned_deploy

    assert result.code == 0, result.output
    assert [run["status"] for run in versioned_host.history(app)] == ["succeeded"]
    assert psql(f"{app}-db", "SELECT count(*) FROM pgmigrations") == "1"
    assert result.stdout.count(f"Running migrations for {app}") == 1


@pytest.mark.xdist_group("dokku-versions")
def test_only_dokku_without_pre_release_builder_gets_the_pre_deploy_link(versioned_host, versioned_deploy):
    _, result = versioned_deploy

    assert result.code == 0, result.output
    assert DEPRECATION not in result.output
    assert (versioned_host.plugin_dir / "pre-deploy").is_symlink() == (version_of(versioned_host) < (0, 32, 0))


@pytest.mark.xdist_group("dokku-versions")
def test_the_run_is_recorded_under_the_trigger_that_ran_it(versioned_host, versioned_deploy):
    app, _ = versioned_deploy

    expected = "pre-release-builder" if version_of(versioned_host) >= (0, 32, 0) else "pre-deploy"
    assert versioned_host.history(app)[0]["trigger"] == expected


@pytest.fixture
def upgraded_host(docker_available):
    """Installed on Dokku 0.31.5 (so with the pre-deploy link), then Dokku upgraded to 0.38.27: a
    Dokku upgrade runs only the core plugins' install (debian/postinst: plugin:install --core)."""
    host = make_host("0.31.5")
    assert (host.plugin_dir / "pre-deploy").is_symlink()
    host.set_version("0.38.27")
    yield host
    host.cleanup()


def test_a_link_left_by_an_older_dokku_still_runs_migrations_once_and_says_how_to_remove_it(upgraded_host, images):
    app, result = deploy_once(upgraded_host, images)

    assert result.code == 0, result.output
    assert [run["trigger"] for run in upgraded_host.history(app)] == ["pre-release-builder"]
    assert psql(f"{app}-db", "SELECT count(*) FROM pgmigrations") == "1"
    assert f" !     {DEPRECATION}" in " ".join(result.failures)
    assert any("sudo dokku plugin:install" in line for line in result.failures)


def test_plugin_install_after_a_dokku_upgrade_removes_the_link_and_the_warning(upgraded_host, images):
    result = upgraded_host.dokku_as_root("plugin:install")

    assert result.code == 0, result.output
    assert not (upgraded_host.plugin_dir / "pre-deploy").exists()
    assert "pre-release-builder" in result.stdout
    app, deployed = deploy_once(upgraded_host, images)
    assert deployed.code == 0 and DEPRECATION not in deployed.output


@pytest.mark.parametrize("version", ["0.24.10", "0.25.0"])
def test_install_refuses_a_dokku_older_than_0_25_1(docker_available, version):
    host = Host(version)
    try:
        result = host.install()
    finally:
        host.cleanup()

    assert result.code == 1
    assert result.stderr.startswith(f" !     dokku-migrations needs Dokku 0.25.1 or newer, and this host runs Dokku "
                                    f"{version}: ")
    assert result.stderr.rstrip("\n").endswith("upgrade Dokku, then run 'sudo dokku plugin:install'")
    assert result.stderr.count("\n") == 1
