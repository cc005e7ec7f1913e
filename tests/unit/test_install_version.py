"""Which deploy hook a Dokku gets: its version, read as `dokku version` reads it, compared as numbers."""

import pytest

from dokku_migrations.dokku.versions import (
    dokku_version,
    parse_version,
    pre_deploy_runs_migrations,
    unsupported,
    wants_legacy_hook,
)


@pytest.mark.parametrize("text, version", [
    ("0.35.12", (0, 35, 12)),
    ("0.35.12\n", (0, 35, 12)),
    ("v0.34.4-3-gabc", (0, 34, 4)),
    ("dokku version 0.30.0", (0, 30, 0)),
])
def test_a_dokku_version_is_read_as_three_numbers(text, version):
    assert parse_version(text) == version


@pytest.mark.parametrize("text", ["~master (2024)", "", "0.35", "master"])
def test_a_text_without_a_three_part_version_is_unknown(text):
    assert parse_version(text) is None


@pytest.mark.parametrize("version", [None, (0, 25, 1), (0, 31, 5), (0, 9, 99)],
                         ids=["unknown", "0.25.1", "0.31.5", "0.9.99"])
def test_dokku_without_pre_release_builder_or_of_unknown_version_gets_the_legacy_pre_deploy_hook(version):
    assert wants_legacy_hook(version) is True


@pytest.mark.parametrize("version", [(0, 32, 0), (0, 34, 3), (0, 34, 4), (0, 100, 0), (1, 0, 0)],
                         ids=["0.32.0", "0.34.3", "0.34.4", "0.100.0", "1.0.0"])
def test_dokku_0_32_0_and_later_gets_only_pre_release_builder(version):
    assert wants_legacy_hook(version) is False


@pytest.mark.parametrize("version", [(0, 25, 1), (0, 31, 5)], ids=["0.25.1", "0.31.5"])
def test_pre_deploy_runs_migrations_where_pre_release_builder_does_not_exist(version):
    assert pre_deploy_runs_migrations(version, "pre-deploy") is True


@pytest.mark.parametrize("version", [(0, 32, 0), (0, 34, 4), (0, 100, 0)], ids=["0.32.0", "0.34.4", "0.100.0"])
def test_a_stale_pre_deploy_link_stands_aside_where_pre_release_builder_fires(version):
    assert pre_deploy_runs_migrations(version, "pre-release-builder") is False


def test_with_an_unknown_version_pre_deploy_stands_aside_once_pre_release_builder_has_run():
    assert pre_deploy_runs_migrations(None, "pre-release-builder") is False
    assert pre_deploy_runs_migrations(None, "migrations:run") is True
    assert pre_deploy_runs_migrations(None, "") is True


@pytest.mark.parametrize("version", [(0, 24, 10), (0, 25, 0), (0, 4, 0)], ids=["0.24.10", "0.25.0", "0.4.0"])
def test_dokku_older_than_0_25_1_is_unsupported(version):
    assert "needs Dokku 0.25.1 or newer" in unsupported(version)


@pytest.mark.parametrize("version", [None, (0, 25, 1), (0, 100, 0), (1, 0, 0)], ids=["unknown", "0.25.1", "0.100.0",
                                                                                     "1.0.0"])
def test_dokku_0_25_1_and_later_is_supported(version):
    assert unsupported(version) == ""


def test_the_version_is_read_from_stable_version_first(tmp_path):
    (tmp_path / "STABLE_VERSION").write_text("0.35.12\n")
    (tmp_path / "VERSION").write_text("v0.30.0-5-gdeadbee\n")
    assert dokku_version(tmp_path) == (0, 35, 12)


def test_the_version_is_read_from_version_when_there_is_no_stable_version(tmp_path):
    (tmp_path / "VERSION").write_text("v0.34.4-3-gabc\n")
    assert dokku_version(tmp_path) == (0, 34, 4)


def test_the_version_is_unknown_when_neither_file_exists(tmp_path):
    assert dokku_version(tmp_path) is None


def test_the_version_is_unknown_when_the_file_names_no_version(tmp_path):
    (tmp_path / "VERSION").write_text("~master (2024)\n")
    assert dokku_version(tmp_path) is None


def test_an_unreadable_stable_version_falls_back_to_version(tmp_path):
    (tmp_path / "STABLE_VERSION").mkdir()
    (tmp_path / "VERSION").write_text("0.33.0\n")
    assert dokku_version(tmp_path) == (0, 33, 0)
