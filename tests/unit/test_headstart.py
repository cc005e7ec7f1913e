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


SETTINGS = [{}, {"command": "true"}, {"detect": "app.json:$.x"}, {"enabled": "false"}, {"enabled": "true"},
            {"enabled": "true\n"}, {"enabled": "False\n"}]


@pytest.mark.parametrize("app", SETTINGS)
@pytest.mark.parametrize("global_", SETTINGS)
def test_it_starts_exactly_when_detection_runs_the_default_rules(tmp_path, app, global_):
    store = SettingsStore(tmp_path)
    for scope, values in (("shop", app), (GLOBAL, global_)):
        for key, value in values.items():
            (tmp_path / scope).mkdir(exist_ok=True)
            (tmp_path / scope / key).write_text(value)
    resolved = store.resolved("shop")
    detected = []
    decide(resolved, lambda: detected.append(True))
    by_default = bool(detected) and resolved.values["detect"][1] == "default"
    assert headstart.detects_by_default(str(tmp_path), "shop") == by_default


def test_starting_it_loads_neither_typing_nor_the_rest_of_the_plugin():
    code = ("import sys; import dokku_migrations.__main__; "
            "print(sorted(m for m in sys.modules if m == 'typing' or m.startswith('dokku_migrations.')))")
    result = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    loaded = ("__main__", "common", "common.errors", "common.paths", "common.rules", "docker", "docker.address",
              "docker.engine", "docker.headstart", "docker.labels", "docker.probe")
    assert result.stdout.strip() == str(sorted(f"dokku_migrations.{name}" for name in loaded))
