"""Which deploy hook a Dokku gets: its version, read as `dokku version` reads it."""

import pytest

from dokku_migrations.install import dokku_version, parse_version, wants_legacy_hook


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


@pytest.mark.parametrize("version", [None, (0, 31, 0), (0, 34, 3), (0, 9, 99)],
                         ids=["unknown", "0.31.0", "0.34.3", "0.9.99"])
def test_dokku_before_0_34_4_or_of_unknown_version_gets_the_legacy_pre_deploy_hook(version):
    assert wants_legacy_hook(version) is True


@pytest.mark.parametrize("version", [(0, 34, 4), (0, 35, 12), (0, 100, 0), (1, 0, 0)],
                         ids=["0.34.4", "0.35.12", "0.100.0", "1.0.0"])
def test_dokku_0_34_4_and_later_gets_only_pre_release_builder(version):
    assert wants_legacy_hook(version) is False


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
