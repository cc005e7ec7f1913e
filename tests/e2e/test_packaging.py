"""`dokku-migrations try` installed the way a user installs it: a fresh virtualenv, `pip install` of a copy
of the checkout (what `pipx install git+https://…` does with its clone), then the console script, run from
outside the checkout so that only the installed package can answer."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .host import REPO
from .recipes import example_image

NOT_SHIPPED = shutil.ignore_patterns(".git", ".venv", ".venv.*", "__pycache__", ".pytest_cache", ".ruff_cache",
                                     ".mypy_cache", "build", "dist", "*.egg-info")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The virtualenv's bin directory, with the checkout installed into it by pip (once: its tests are the
    xdist group "packaging")."""
    root = tmp_path_factory.mktemp("pip-install")
    checkout = root / "dokku-migrations"
    shutil.copytree(REPO, checkout, ignore=NOT_SHIPPED, symlinks=True)
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(root / "venv")], check=True, capture_output=True)
    result = subprocess.run([str(root / "venv" / "bin" / "pip"), "install", "--quiet", str(checkout)],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    return root / "venv" / "bin"


@pytest.mark.xdist_group("packaging")
def test_pip_install_gives_a_dokku_migrations_command_whose_help_names_try(installed, tmp_path):
    result = subprocess.run([str(installed / "dokku-migrations"), "try", "--help"], cwd=tmp_path,
                            capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: dokku-migrations try <image> ")
    assert "--database TYPE[:VERSION]" in result.stdout


@pytest.mark.xdist_group("packaging")
def test_the_installed_version_is_plugin_toml_s(installed, tmp_path):
    version = re.search(r'(?m)^version = "([^"]+)"', (REPO / "plugin.toml").read_text()).group(1)
    result = subprocess.run([str(installed / "python"), "-c",
                             "import importlib.metadata as m; print(m.version('dokku-migrations'))"],
                            cwd=tmp_path, capture_output=True, text=True, check=True)

    assert result.stdout.strip() == version


@pytest.mark.xdist_group("packaging")
def test_the_installed_command_runs_an_images_migrations_against_a_throwaway_database(installed, images, tmp_path):
    result = subprocess.run([str(installed / "dokku-migrations"), "try", example_image(images),
                             "--postgres-image", "dm-postgres:15"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=180, stdin=subprocess.DEVNULL)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "       ### MIGRATION 1700000000000_create-notes (UP) ###" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("-----> Migrations succeeded in ")


@pytest.mark.xdist_group("packaging")
def test_the_console_script_offers_only_try(installed, tmp_path):
    result = subprocess.run([str(installed / "dokku-migrations"), "trigger", "post-deploy", "shop"], cwd=tmp_path,
                            capture_output=True, text=True)

    assert result.returncode == 2
    assert result.stderr.startswith(" !     usage: dokku-migrations try IMAGE ")
    assert "'dokku migrations:help'" in result.stderr
