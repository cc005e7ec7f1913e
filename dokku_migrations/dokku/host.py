"""Everything asked of Dokku: trigger calls through `plugn`, app paths, the deploy lock.

Paths come from the environment Dokku gives every trigger and command (DOKKU_ROOT,
DOKKU_LIB_ROOT, ...), never hard-coded, so the plugin works on any Dokku layout.
"""

import json
import os
import shlex
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from dokku_migrations.common.errors import UserError
from dokku_migrations.common.lock import deploy_lock, held_by_another
from dokku_migrations.common.rules import DEPLOYING_IMAGE_TRIGGERS, deploying_image, image_repo, valid_app_name
from dokku_migrations.dokku.versions import deploy_lock_in_data_dir, dokku_version

if TYPE_CHECKING:
    from dokku_migrations.run.releasetasks import Task

# Flags app-json drops from the deploy args before it runs a task container: a one-off
# container must not publish ports, restart, or be squeezed by the web process's limits.
DROPPED_FLAGS = {
    "--cpus", "--gpus", "--memory", "--memory-reservation", "--memory-swap",
    "--publish", "--publish-all", "--restart", "-p", "-P",
}
FLAGS_WITHOUT_VALUE = {"--publish-all", "-P"}
# Dokku's exit code for a missing app (plugins/common/common.go AppDoesNotExist; verify_app_name).
APP_DOES_NOT_EXIST = 20


def check_app_name(app: str) -> str:
    """Refuses anything Dokku would not accept as an app name, before it reaches a path or argv."""
    if not valid_app_name(app or ""):
        shown = app.encode("unicode_escape").decode("ascii") if app else ""
        raise UserError(f"Invalid app name '{shown}': Dokku app names are lowercase letters, digits, '-', '.' "
                        "(and '_' in older apps); check 'dokku apps:list'")
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


class Dokku(NamedTuple):
    """A NamedTuple, not a dataclass: `scheduler-deploy` builds it on every restart of every app, and
    importing `dataclasses` alone costs that hook about a fifth of its instructions."""

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
            raise UserError(f"App {app} does not exist", APP_DOES_NOT_EXIST)
        return app

    def image_repo(self, app: str) -> str:
        return image_repo(app)

    def deploy_lock_path(self, app: str) -> Path:
        """Where this Dokku's deploys and `apps:lock` put the app's lock (see versions.py)."""
        data_dir = self.lib_root / "data" / "apps" / app
        if deploy_lock_in_data_dir(dokku_version(self.lib_root), data_dir.is_dir()):
            return data_dir / ".deploy.lock"
        return self.root / app / ".deploy.lock"

    def deploy_in_progress(self, app: str) -> bool:
        """Another deploy of the app (a `git push`, `git:from-image`) holds Dokku's deploy lock now."""
        return held_by_another(self.deploy_lock_path(app))

    @contextmanager
    def deploy_lock(self, app: str, holder: str) -> Iterator[None]:
        """Dokku's deploy lock for `migrations:run`, held as Dokku's own deploys hold it. From Dokku
        0.38 they write a build id (builds-generate-id) into the lock file and keep a running build
        record with their pid (builds-record-start, as dokku_setup_build_capture does), which
        `dokku builds:cancel APP` reads to SIGQUIT the deploy's process group: so does this run, and
        the record gets its outcome (builds-record-finalize). 0.34.x – 0.37.x write $DOKKU_PID
        (`holder`); older ones leave the file empty."""
        path = self.deploy_lock_path(app)
        if path.parent == self.root / app:
            holder = ""  # the lock's place before 0.34.0, whose deploys write nothing in it
        build_id = self.optional_trigger("builds-generate-id").strip()
        if build_id:
            self.optional_trigger("builds-record-start", app, build_id, str(os.getpid()), "unknown")
        exit_code = 1
        try:
            with deploy_lock(path, app, build_id or holder):
                yield
            exit_code = 0
        finally:
            if build_id:
                self.optional_trigger("builds-record-finalize", app, build_id, str(exit_code))

    def optional_trigger(self, name: str, *args: str) -> str:
        """A trigger whose failure changes nothing for the run: its stdout, or "" when it failed."""
        try:
            return self.trigger(name, *args)
        except UserError:
            return ""

    def trigger(self, name: str, *args: str) -> str:
        """Runs `plugn trigger NAME ARGS` with empty stdin and returns its stdout."""
        return self.triggers(Call(name, args))[0]

    def triggers(self, *calls: "Call", required: Optional[int] = None) -> List[str]:
        """Runs independent triggers at the same time (each is a plugn process walking every plugin)
        and returns their stdouts in order; the first failure among the `required` first calls (all
        by default) is raised once all have ended; the others answer "" when they fail.

        A failure is told with the trigger's stderr only: the stdout of some triggers is the app's
        config (config-export), which must never reach a message.
        """
        processes, outputs = self._run_all(calls)
        for call, process, (_, err) in list(zip(calls, processes, outputs))[:required]:
            if process.returncode != 0:
                detail = last_line(err)
                raise UserError(f"Dokku's '{call.name}' trigger failed (exit {process.returncode})"
                                f"{': ' + detail if detail else ''}; run it by hand to see why: "
                                f"dokku plugin:trigger {call.name} {' '.join(call.args)}")
        return [out.decode("utf-8", "replace") if process.returncode == 0 else ""
                for process, (out, _) in zip(processes, outputs)]

    def printed(self, *calls: "Call") -> List[str]:
        """What triggers printed, failed or not, as bash reads them with `local VAR=$(plugn trigger …)`
        (`local` masks the exit status; `$(…)` drops trailing newlines)."""
        return [out.decode("utf-8", "replace").rstrip("\n") for out, _ in self._run_all(calls)[1]]

    def _run_all(self, calls: Sequence["Call"]) -> Tuple[List["subprocess.Popen[bytes]"], List[Tuple[bytes, bytes]]]:
        """Starts every call at once (each is a plugn process walking every plugin) and waits for all."""
        processes: List[subprocess.Popen[bytes]] = []
        try:
            for call in calls:
                processes.append(subprocess.Popen([self.plugn_bin, "trigger", call.name, *call.args],
                                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                  stderr=subprocess.PIPE))
        except FileNotFoundError:
            raise UserError(f"'{self.plugn_bin}' was not found on PATH: is this a Dokku host?")
        finally:
            outputs = [process.communicate() for process in processes]
        return processes, outputs

    def deploy_args(self, app: str, image_tag: str, image_source_type: str) -> List[str]:
        """Docker args for the app's deploy phase: config keys, links, networks, volumes, ..."""
        deploy, process = self.triggers(*deploy_arg_calls(app, image_tag, image_source_type))
        return filter_task_args(split_args(deploy) + split_args(process))

    def task_inputs(self, app: str, image_tag: str, image_source_type: str,
                    release_tasks: bool = False) -> Tuple[List[str], Dict[str, str], List["Task"]]:
        """What a task container needs from Dokku, asked all at once: its docker args and the config;
        and, for a deploy, Dokku's own release tasks, as app-json will run them (plugins/app-json
        getPhaseScript reads `app-json-get-content`'s copy, getReleaseCommand asks `procfile-get-command
        APP release 5000`) — only informative: a Dokku that cannot tell gives none."""
        tasks = [Call("app-json-get-content", (app,)), Call("procfile-get-command", (app, "release", "5000"))]
        deploy, process, config, *told = self.triggers(*deploy_arg_calls(app, image_tag, image_source_type),
                                                       config_export(app), *(tasks if release_tasks else []),
                                                       required=3)
        from dokku_migrations.run.releasetasks import found
        return (filter_task_args(split_args(deploy) + split_args(process)), parse_config(app, config),
                found(*told) if told else [])

    def deploying_image(self, app: str, tag: str) -> str:
        """The image the scheduler will start for TAG, resolved as Dokku resolves it
        (plugins/common/functions get_deploying_app_image_name, get_running_image_tag: the registry
        plugin may name another repository, image repo and tag; a failing trigger stops nothing there,
        and what it printed still counts)."""
        repository, repo, deployed_tag = self.printed(*(Call(name, (app,)) for name in DEPLOYING_IMAGE_TRIGGERS))
        return deploying_image(app, tag, repository, repo, deployed_tag)

    def post_container_create(self, app: str, container_id: str, phase: str) -> None:
        """Lets the network plugin attach the app's post-create networks, as it does for Dokku's own tasks."""
        self.trigger("post-container-create", "app", container_id, app, phase)


class Call(NamedTuple):
    """A trigger call with its inputs named, as Dokku's Go code writes them (PlugnTriggerInput)."""

    name: str
    args: Sequence[str] = ()


def config_export(app: str) -> Call:
    """The app's config merged over the global one, as JSON (plugins/config: app, global, merged, format)."""
    is_global, merged, output_format = "false", "true", "json"
    return Call("config-export", (app, is_global, merged, output_format))


def deploy_arg_calls(app: str, image_tag: str, image_source_type: str) -> Tuple[Call, Call]:
    """app-json's two calls for a task container's docker args (plugins/app-json executeScript)."""
    return (Call("docker-args-deploy", (app, image_tag)),
            Call("docker-args-process-deploy", (app, image_source_type, image_tag)))


def parse_config(app: str, raw: str) -> Dict[str, str]:
    try:
        values = json.loads(raw or "{}")
    except ValueError:
        raise UserError(f"Could not read the config of {app}: 'config-export' did not return JSON; "
                        f"check 'dokku config:show {app}'")
    if not isinstance(values, dict):
        raise UserError(f"Could not read the config of {app}: 'config-export' did not return an object; "
                        f"check 'dokku config:show {app}'")
    return {str(key): str(value) for key, value in values.items()}


def last_line(data: bytes) -> str:
    text = data.decode("utf-8", "replace").strip() if data else ""
    return text.splitlines()[-1] if text else ""
