"""squawk (PyPI `squawk-cli`, pinned by hash in requirements.txt and installed by `install` into the
plugin's environment) on the statements a PostgreSQL migration sent: what it warns about, statement
by statement. Optional: without it the rest of the report stands, and the report says once why the
lint is missing and how to get it.
"""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from dokku_migrations.database.statements import line_starts, numbered

SECONDS = 60
MISSING = ("squawk is not installed in the plugin's environment, so the statements were not linted: "
           "run 'sudo dokku plugin:install' to install it")


@dataclass(frozen=True)
class Finding:
    statement: int  # index into the statements linted
    rule: str
    message: str


def squawk() -> Optional[str]:
    """The plugin's own squawk (beside its Python), else one on PATH."""
    own = os.path.join(os.path.dirname(sys.executable), "squawk")
    if os.access(own, os.X_OK):
        return own
    return shutil.which("squawk")


def lint(statements: Sequence[str], server_version: str = "") -> Tuple[List[Finding], str]:
    """(warnings, why there are none when squawk could not run). The SQL goes on squawk's stdin."""
    binary = squawk()
    if binary is None:
        return [], MISSING
    if not statements:
        return [], ""
    argv = [binary, "--reporter", "json", "--stdin-filepath", "migration.sql"]
    if server_version:
        argv.append(f"--pg-version={server_version}")
    try:
        result = subprocess.run(argv, input=numbered(statements).encode("utf-8"), capture_output=True,
                                timeout=SECONDS, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    except (OSError, subprocess.TimeoutExpired) as error:
        return [], f"squawk could not run ({error})"
    try:
        found = json.loads(result.stdout or b"[]")
    except ValueError:
        said = result.stderr.decode("utf-8", "replace").strip().splitlines()
        return [], f"squawk could not read the statements ({said[-1][:200] if said else f'exit {result.returncode}'})"
    return parse(found, line_starts(statements)), ""


def parse(found: object, starts: Sequence[int]) -> List[Finding]:
    """squawk's JSON reporter: a list of violations with a 0-based `line` into the script linted."""
    warnings: List[Finding] = []
    for item in found if isinstance(found, list) else []:
        if not isinstance(item, dict):
            continue
        given = item.get("line")
        line = given if isinstance(given, int) else 0
        index = max((at for at, start in enumerate(starts) if start <= line), default=0)
        warnings.append(Finding(index, str(item.get("rule_name") or "?"), str(item.get("message") or "")))
    return warnings
