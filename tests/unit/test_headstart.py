"""The head start guesses what detection will read, from the same rules (common/rules.py): held here to
what detection and the settings really decide, and to what it may load."""

import subprocess
import sys
from pathlib import Path

import pytest

from dokku_migrations.common.rules import DEFAULT_RULES
from dokku_migrations.docker import headstart
from dokku_migrations.run.manifest import parse_rule, wanted_paths
from dokku_migrations.run.plan import decide
from dokku_migrations.run.settings import GLOBAL, SettingsStore

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("workdir", ["/app", "/usr/src/app", "/app/", "", "relative", "/", "/srv/../app"])
def test_the_default_paths_are_those_detection_reads(workdir):
    rules = [parse_rule(text) for text in DEFAULT_RULES]
    assert headstart.default_paths(workdir) == wanted_paths(rules, workdir)


# (app settings, global settings, whether detection runs the default rules): no `command` or `detect`
# setting anywhere, and migrations enabled (the app's value, else the global one, else true).
SETTINGS = [
    ({}, {}, True),
    ({"enabled": "true"}, {}, True),
    ({}, {"enabled": "true"}, True),
    ({"enabled": "true"}, {"enabled": "false"}, True),
    ({"command": "true"}, {}, False),
    ({}, {"command": "true"}, False),
    ({"detect": "app.json:$.x"}, {}, False),
    ({}, {"detect": "app.json:$.x"}, False),
    ({"enabled": "false"}, {}, False),
    ({}, {"enabled": "false"}, False),
    ({"enabled": "false"}, {"enabled": "true"}, False),
    ({"enabled": "bogus"}, {}, False),
    ({}, {"enabled": "bogus"}, False),
    ({"enabled": "true"}, {"command": "true"}, False),
]


@pytest.mark.parametrize("app, global_, by_default", SETTINGS)
def test_it_starts_exactly_when_detection_runs_the_default_rules(tmp_path, app, global_, by_default):
    store = SettingsStore(tmp_path)
    for scope, values in (("shop", app), (GLOBAL, global_)):
        for key, value in values.items():
            (tmp_path / scope).mkdir(exist_ok=True)
            (tmp_path / scope / key).write_text(value)
    resolved = store.resolved("shop")
    detected = []
    decide(resolved, lambda: detected.append(True))
    assert (bool(detected) and resolved.values["detect"][1] == "default") is by_default
    assert headstart.detects_by_default(str(tmp_path), "shop") is by_default


def test_starting_it_loads_neither_typing_nor_the_rest_of_the_plugin():
    code = ("import sys; import dokku_migrations.__main__; "
            "print(sorted(m for m in sys.modules if m == 'typing' or m.startswith('dokku_migrations.')))")
    result = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    loaded = ("__main__", "common", "common.errors", "common.paths", "common.rules", "docker", "docker.engine",
              "docker.headstart", "docker.labels", "docker.probe")
    assert result.stdout.strip() == str(sorted(f"dokku_migrations.{name}" for name in loaded))
