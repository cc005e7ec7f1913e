"""Exactly one migration run per deploy on every Dokku call sequence, and no deprecation warning
on current Dokku (which warns whenever any enabled plugin ships a `pre-deploy` file)."""

import secrets

import pytest

from .apps import create_table
from .conftest import make_host
from .host import psql

DEPRECATION = "Deprecated: please upgrade plugin to use 'pre-release-builder'"


@pytest.fixture(scope="module", params=["0.31.0", "0.33.8", "0.34.4", "0.35.12"])
def versioned_host(request, docker_available):
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


def test_every_dokku_version_runs_migrations_exactly_once_per_deploy(versioned_host, images):
    app, result = deploy_once(versioned_host, images)

    assert result.code == 0, result.output
    assert [run["status"] for run in versioned_host.history(app)] == ["succeeded"]
    assert psql(f"{app}-db", "SELECT count(*) FROM pgmigrations") == "1"
    assert result.stdout.count(f"Running migrations for {app}") == 1


def test_current_dokku_prints_no_deprecation_warning(versioned_host, images):
    app, result = deploy_once(versioned_host, images)

    assert result.code == 0, result.output
    if versioned_host.lib_root.joinpath("VERSION").read_text().strip() >= "0.34.4":
        assert DEPRECATION not in result.output
        assert not (versioned_host.plugin_dir / "pre-deploy").exists()
    else:
        assert (versioned_host.plugin_dir / "pre-deploy").is_symlink()


def test_the_run_is_recorded_under_the_trigger_that_ran_it(versioned_host, images):
    app, result = deploy_once(versioned_host, images)

    expected = "pre-release-builder" if versioned_host.lib_root.joinpath("VERSION").read_text() >= "0.34.4" \
        else "pre-deploy"
    assert versioned_host.history(app)[0]["trigger"] == expected


def test_install_after_a_dokku_upgrade_switches_to_pre_release_builder(docker_available):
    host = make_host("0.33.8")
    try:
        assert (host.plugin_dir / "pre-deploy").is_symlink()
        host.set_version("0.35.12")

        result = host.install()

        assert result.code == 0, result.output
        assert not (host.plugin_dir / "pre-deploy").exists()
        assert "pre-release-builder" in result.stdout
    finally:
        host.cleanup()
