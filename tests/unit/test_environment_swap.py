"""How a rebuilt environment takes the live one's place, on a real filesystem, and how a failed
tool's output becomes the reason in a one-line message."""

import subprocess
from pathlib import Path

import pytest

from dokku_migrations.setup.environment import exchange, reason, replace_by_renames, swap_in


def environment(path: Path, marker: str) -> Path:
    (path / "bin").mkdir(parents=True)
    (path / "bin" / "python").write_text(marker)
    return path


def marker(path: Path) -> str:
    return (path / "bin" / "python").read_text()


def test_exchange_swaps_two_directories_in_one_step(tmp_path):
    new, live = environment(tmp_path / ".venv.new", "new"), environment(tmp_path / ".venv", "old")

    assert exchange(new, live) is True

    assert marker(live) == "new" and marker(new) == "old"


def test_swap_in_puts_the_new_environment_live_and_hands_back_the_old_one(tmp_path):
    new, live = environment(tmp_path / ".venv.new", "new"), environment(tmp_path / ".venv", "old")

    swap_in(new, live)

    assert marker(live) == "new" and marker(new) == "old"


def test_swap_in_on_a_first_install_moves_the_new_environment_into_place(tmp_path):
    new, live = environment(tmp_path / ".venv.new", "new"), tmp_path / ".venv"

    swap_in(new, live)

    assert marker(live) == "new" and not new.exists()


def test_renames_where_no_exchange_is_possible_hand_back_the_old_environment_too(tmp_path):
    new, live = environment(tmp_path / ".venv.new", "new"), environment(tmp_path / ".venv", "old")

    replace_by_renames(new, live)

    assert marker(live) == "new" and marker(new) == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".venv", ".venv.new"]


def test_renames_put_the_old_environment_back_when_the_new_one_cannot_move_in(tmp_path):
    live = environment(tmp_path / ".venv", "old")

    with pytest.raises(FileNotFoundError):
        replace_by_renames(tmp_path / ".venv.new", live)

    assert marker(live) == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".venv"]


@pytest.mark.parametrize("stderr, summary", [
    ("WARNING: Retrying (Retry(total=0)) after connection broken\n"
     "ERROR: Could not find a version that satisfies the requirement sh==2.2.2 (from versions: none)\n"
     "ERROR: No matching distribution found for sh==2.2.2\n",
     "ERROR: No matching distribution found for sh==2.2.2"),
    ("ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. If you have updated the package "
     "versions, please update the hashes.\n    sh==2.2.2 from https://files.pythonhosted.org/sh.whl:\n"
     "        Expected sha256 00000000ae\n             Got        e0b15b4ae8\n",
     "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE"),
    ("W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease\n"
     "E: Unable to locate package python3.11-venv\n",
     "E: Unable to locate package python3.11-venv"),
    ("Error: Command '['/x/bin/python3', '-m', 'ensurepip']' returned non-zero exit status 1.\n",
     "Error: Command '['/x/bin/python3', '-m', 'ensurepip']' returned non-zero exit status 1"),
    ("", "exit status 2"),
], ids=["pip-network", "pip-hash", "apt", "other-last-line", "silent"])
def test_a_failed_tool_is_summed_up_by_the_first_sentence_of_its_last_error(stderr, summary):
    assert reason(subprocess.CompletedProcess([], 2, stdout="", stderr=stderr)) == summary
