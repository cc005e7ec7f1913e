"""Dokku's own release tasks, which run in every release beside this plugin: app.json's
`scripts.dokku.predeploy` and the Procfile's `release` (plugins/app-json/triggers.go). When one of
them runs the same migrations, they run twice per deploy. Pure: the caller asks Dokku for the
commands (`app-json-get-content`, `procfile-get-command APP release`), which are the copies Dokku
extracted at build time (from the repository, or from the source image's WorkingDir) and will run.
"""

import json
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from dokku_migrations.run.manifest import Rule, detect, finder, load_json


@dataclass(frozen=True)
class Task:
    name: str
    command: str


PREDEPLOY = "app.json scripts.dokku.predeploy"
RELEASE = "Procfile release"


def found(app_json: str, release: str) -> List[Task]:
    """The tasks Dokku will run; an app.json Dokku could not give (older than 0.31.0: no trigger) or
    without the key counts as none."""
    tasks = []
    try:
        document = json.loads(app_json or "{}")
    except ValueError:
        document = {}
    scripts = document.get("scripts") if isinstance(document, dict) else None
    dokku = scripts.get("dokku") if isinstance(scripts, dict) else None
    predeploy = dokku.get("predeploy") if isinstance(dokku, dict) else None
    if isinstance(predeploy, str) and predeploy.strip():
        tasks.append(Task(PREDEPLOY, predeploy.strip()))
    if release.strip():
        tasks.append(Task(RELEASE, release.strip()))
    return tasks


def words(text: str) -> str:
    return " ".join(text.split())


def running_the_same(tasks: Sequence[Task], commands: Sequence[str]) -> List[Task]:
    """Tasks whose command contains the migration command, or the script it runs (`npm run migrate`
    and `node-pg-migrate up` alike)."""
    wanted = [words(command) for command in commands if command.strip()]
    return [task for task in tasks if any(command in words(task.command) for command in wanted)]


def migration_commands(command: str, rules: Sequence[Rule], workdir: str,
                       files: Dict[str, Optional[bytes]]) -> List[str]:
    """The command, and for one a rule detected from a script the script itself (`npm run migrate`
    runs `node-pg-migrate up`), from the manifest files already read out of the image."""
    commands = [command]
    detection = detect(rules, workdir, lambda paths: {path: files.get(path) for path in paths}) if files else None
    data = files.get(detection.path) if detection is not None and detection.rule.command else None
    if detection is not None and data is not None:
        matches = finder(detection.rule.jsonpath)(load_json(detection.path, data))
        value = matches[0] if matches else None
        scripts = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        commands += [script for script in scripts if isinstance(script, str) and script.strip()]
    return commands


def shown(tasks: Sequence[Task]) -> str:
    return "; ".join(f"{task.name}: {task.command}" for task in tasks)


def twice_warning(app: str, tasks: Sequence[Task]) -> str:
    """One line for the deploy output: what runs twice, and the two ways out."""
    where = " and ".join({PREDEPLOY: "app.json", RELEASE: "the Procfile"}[task.name] for task in tasks)
    return (f"Dokku runs these migrations itself too ({shown(tasks)}), so they run twice per deploy: remove that "
            f"task from {where} (this plugin runs them with a timeout and history, and keeps a failed image from "
            f"starting later), or leave them to Dokku with 'dokku migrations:set {app} enabled false'")
