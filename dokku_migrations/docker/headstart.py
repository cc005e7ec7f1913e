"""A deploy's manifests on their way out of the image before Python has loaded the plugin.

Every deploy of every app runs `pre-release-builder`, and most have nothing to migrate: their time
goes to the engine packing the manifests out of the image (Docker 20.10 re-executes itself for
every file, ~35 ms) and to Python loading the plugin (about as long). Started first, with only
socket and json loaded, the one happens while the other does.

It guesses what detection will ask for: an app (or global) without a `command` or `detect` setting,
migrations enabled, reads the default rules' files in the image's working directory, then /app, in the
order detection reads them (common/rules.py holds the rules for both; tests/unit/test_headstart.py holds
the order to manifest.wanted_paths).
What it started is used only when detection asks for exactly these files of exactly this image
(docker.Docker.read_file), and discarded otherwise, so a wrong guess costs time, never a wrong
answer. It never raises: on any doubt or failure there is simply no head start.
"""

from __future__ import annotations

import os
import posixpath

from dokku_migrations.common.paths import LEGACY_HOOK, SETTINGS_DIR
from dokku_migrations.common.rules import DEFAULT_RULES, DEFAULT_WORKDIR, valid_app_name
from dokku_migrations.docker.engine import Engine, path_of
from dokku_migrations.docker.probe import Probe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping, Sequence

# The default rules' files, in rule order, as manifest.parse_rule reads a rule's file.
DEFAULT_FILES = tuple(dict.fromkeys(rule.partition("=>")[0].split(":", 1)[0] for rule in DEFAULT_RULES))

started: dict[tuple[str, tuple[str, ...], str], Probe] = {}


def begin(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """For `trigger pre-release-builder BUILDER_TYPE APP IMAGE`."""
    if len(argv) < 5 or argv[0] != "trigger" or argv[1] != "pre-release-builder":
        return
    app, image, lib_root = argv[3], argv[4], env.get("DOKKU_LIB_ROOT", "")
    if not valid_app_name(app) or not lib_root or os.path.exists(LEGACY_HOOK):
        return
    try:
        if not detects_by_default(os.path.join(lib_root, SETTINGS_DIR), app):
            return
        engine = Engine(env)
        data = engine.json("GET", f"/images/{path_of(image)}/json", f"inspecting image {image}")
        paths = default_paths((data.get("Config") or {}).get("WorkingDir") or "")
        started[(image, tuple(paths), app)] = Probe(engine, image, paths, app)
    except Exception:  # the run meets the same failure again and reports it in its own words
        return


def take() -> dict[tuple[str, tuple[str, ...], str], Probe]:
    """What was started, handed over once (to the one Docker client of the run)."""
    probes = dict(started)
    started.clear()
    return probes


def discard() -> None:
    """What was started and never handed over (the run ended first): its containers are removed."""
    for probe in take().values():
        try:
            probe.discard()
        except Exception:
            pass


def detects_by_default(settings: str, app: str) -> bool:
    """No `command` or `detect` setting of the app or global, and migrations enabled."""
    def read(scope: str, key: str) -> str | None:
        try:
            with open(os.path.join(settings, scope, key), encoding="utf-8") as file:
                return file.read()
        except FileNotFoundError:
            return None

    if any(read(scope, key) is not None for scope in (app, "--global") for key in ("command", "detect")):
        return False
    enabled = read(app, "enabled")
    enabled = read("--global", "enabled") if enabled is None else enabled
    return enabled is None or enabled.rstrip("\n").strip().lower() == "true"  # as settings.parse_bool reads it


def default_paths(workdir: str) -> list[str]:
    """Where the default rules' files may be, in the order detection reads them."""
    dirs = [directory for directory in (workdir, DEFAULT_WORKDIR) if directory.startswith("/")]
    paths: list[str] = []
    for name in DEFAULT_FILES:
        for directory in dirs:
            path = posixpath.normpath(posixpath.join(directory, name))
            if path not in paths:
                paths.append(path)
    return paths
