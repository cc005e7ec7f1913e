"""Everything asked of Dokku: trigger calls through `plugn`, app paths, the deploy lock.

Paths come from the environment Dokku gives every trigger and command (DOKKU_ROOT,
DOKKU_LIB_ROOT, ...), never hard-coded, so the plugin works on any Dokku layout.
"""

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping

import sh

from .errors import UserError

APP_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{0,62}")

# Flags app-json drops from the deploy args before it runs a task container: a one-off
# container must not publish ports, restart, or be squeezed by the web process's limits.
DROPPED_FLAGS = {
    "--cpus", "--gpus", "--memory", "--memory-reservation", "--memory-swap",
    "--publish", "--publish-all", "--restart", "-p", "-P",
}
FLAGS_WITHOUT_VALUE = {"--publish-all", "-P"}


def check_app_name(app: str) -> str:
    """Refuses anything Dokku would not accept as an app name, before it reaches a path or argv."""
    if not APP_NAME.fullmatch(app or ""):
        shown = app.encode("unicode_escape").decode("ascii") if app else ""
        raise UserError(f"Invalid app name '{shown}': use lowercase letters, digits, '-' and '.'")
    return app


def filter_task_args(args: List[str]) -> List[str]:
    """Drops the flags Dokku drops for task containers, in both `--flag value` and `--flag=value` forms."""
    kept: List[str] = []
    skip_next = False
    for arg in args:
        if skip_next:
            skip_next = False
            continue
        name = arg.split("=", 1)[0]
        if name in DROPPED_FLAGS:
            skip_next = "=" not in arg and name not in FLAGS_WITHOUT_VALUE
            continue
        kept.append(arg)
    return kept


def split_args(text: str) -> List[str]:
    """Splits trigger output the way Dokku does (shell quoting rules)."""
    try:
        return shlex.split(text)
    except ValueError as error:
        raise UserError(f"Could not read the app's docker options ({error}): check 'dokku docker-options:report'")


@dataclass(frozen=True)
class Dokku:
    root: Path
    lib_root: Path
    docker_bin: str
    global_run_args: str
    plugn_bin: str = "plugn"

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> "Dokku":
        return cls(
            root=Path(env.get("DOKKU_ROOT", "/home/dokku")),
            lib_root=Path(env.get("DOKKU_LIB_ROOT", "/var/lib/dokku")),
            docker_bin=env.get("DOCKER_BIN", "docker"),
            global_run_args=env.get("DOKKU_GLOBAL_RUN_ARGS", ""),
        )

    def app_exists(self, app: str) -> bool:
        """Dokku's own test (common.VerifyAppName): the app's directory under DOKKU_ROOT."""
        return (self.root / check_app_name(app)).is_dir()

    def require_app(self, app: str) -> str:
        if not self.app_exists(app):
            raise UserError(f"App {app} does not exist")
        return app

    def image_repo(self, app: str) -> str:
        return f"dokku/{app}"

    def deploy_lock_path(self, app: str) -> Path:
        return self.lib_root / "data" / "apps" / app / ".deploy.lock"

    def trigger(self, name: str, *args: str) -> str:
        """Runs `plugn trigger` with empty stdin and returns its stdout."""
        try:
            return str(sh.Command(self.plugn_bin)("trigger", name, *args, _in="", _tty_out=False))
        except sh.CommandNotFound:
            raise UserError(f"'{self.plugn_bin}' was not found on PATH: is this a Dokku host?")
        except sh.ErrorReturnCode as error:
            detail = last_line(error.stderr) or last_line(error.stdout)
            raise UserError(f"Dokku's '{name}' trigger failed (exit {error.exit_code}){': ' + detail if detail else ''}")

    def config_values(self, app: str) -> Dict[str, str]:
        """The app's merged config, as Dokku hands it to task containers (never written anywhere)."""
        raw = self.trigger("config-export", app, "false", "true", "json")
        try:
            values = json.loads(raw or "{}")
        except ValueError:
            raise UserError(f"Could not read the config of {app}: 'config-export' did not return JSON")
        if not isinstance(values, dict):
            raise UserError(f"Could not read the config of {app}: 'config-export' did not return an object")
        return {str(key): str(value) for key, value in values.items()}

    def deploy_args(self, app: str, image_tag: str, image_source_type: str) -> List[str]:
        """Docker args for the app's deploy phase: config keys, links, networks, volumes, ..."""
        deploy = self.trigger("docker-args-deploy", app, image_tag)
        process = self.trigger("docker-args-process-deploy", app, image_source_type, image_tag)
        return filter_task_args(split_args(deploy) + split_args(process))

    def post_container_create(self, app: str, container_id: str, phase: str) -> None:
        """Lets the network plugin attach the app's post-create networks, as it does for Dokku's own tasks."""
        self.trigger("post-container-create", "app", container_id, app, phase)


def last_line(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip() if data else ""
    return text.splitlines()[-1] if text else ""
