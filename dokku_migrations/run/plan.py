"""Pure decisions: whether to run, what to run, and the exact `docker container create` argv.

Nothing here touches Docker or Dokku, so every rule is unit-tested without either.
"""

import re
import shlex
import signal
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from dokku_migrations.common.errors import UserError
from dokku_migrations.docker import labels
from dokku_migrations.docker.image import ImageInfo
from dokku_migrations.run.manifest import Detection
from dokku_migrations.run.settings import Resolved

RUN = "run"
SKIP = "skip"
DISABLED = "disabled"

HEROKUISH = "herokuish"
PACK = "pack"
DOCKERFILE = "dockerfile"

PHASE = "predeploy"
DEFAULT_APP_USER = "herokuishuser"
TASK_SHELL = "/bin/sh"
TINI_GROUP = "TINI_KILL_PROCESS_GROUP"
HEROKUISH_SHELL = "/bin/bash"


@dataclass(frozen=True)
class Plan:
    action: str
    command: str = ""
    source: str = ""
    reason: str = ""


def decide(settings: Resolved, detect: Callable[[], Optional[Detection]]) -> Plan:
    """Disabled beats everything; a `command` setting beats detection; no detection means skip."""
    if not settings.enabled:
        return Plan(DISABLED, reason="migrations are disabled (enabled=false)")
    if settings.get("command"):
        return Plan(RUN, command=settings.get("command"), source=f"{settings.values['command'][1]} setting 'command'")
    detection = detect()
    if detection is None:
        tried = ", ".join(f"{rule.jsonpath} in {rule.file}" for rule in settings.rules)
        return Plan(SKIP, reason=f"no migration command found (looked for {tried})")
    return Plan(RUN, command=detection.command, source=detection.source)


def image_kind(image: ImageInfo, app_user: str = DEFAULT_APP_USER) -> str:
    """How the image was built, by Dokku's own tests (common.IsImageCnbBased / IsImageHerokuishBased)."""
    if image.labels.get("io.buildpacks.stack.id"):
        return PACK
    if f"USER={app_user}" in image.env:
        return HEROKUISH
    return DOCKERFILE


def source_type(kind: str) -> str:
    """IMAGE_SOURCE_TYPE as app-json computes it for docker-args-process-deploy (CNB counts as herokuish)."""
    return DOCKERFILE if kind == DOCKERFILE else HEROKUISH


def task_command(image: ImageInfo, kind: str, command: str) -> List[str]:
    """The argv (and entrypoint override) that start `command` the way app-json starts a task.

    - Dockerfile image with an ENTRYPOINT other than tini: the command's words go to that entrypoint;
    - buildpack (herokuish) image: bash with HOME=/app and /app/.profile.d sourced (node/npm on PATH);
    - Cloud Native Buildpacks: the lifecycle launcher runs the shell;
    - otherwise `/bin/sh -c` (POSIX sh is in slim and alpine images alike; bash is not).
    The script ends with the command itself, so its exit code is the container's; it starts with
    the stop trap (see stop_trap).
    """
    if kind == DOCKERFILE and image.entrypoint and not is_tini(image.entrypoint):
        try:
            return shlex.split(command)
        except ValueError as error:
            raise UserError(f"Cannot split the command '{command}' into words for the image's ENTRYPOINT ({error})")
    trap = stop_trap(image.stop_signal)
    if kind == HEROKUISH:
        return [HEROKUISH_SHELL, "-c", trap + "set -e; if [ -d /app ]; then export HOME=/app; cd \"$HOME\"; fi; "
                "for file in /app/.profile.d/*; do [ -f \"$file\" ] && . \"$file\"; done; " + command]
    if kind == PACK:
        return ["--entrypoint=/cnb/lifecycle/launcher", HEROKUISH_SHELL, "-c", trap + "set -e; " + command]
    return [TASK_SHELL, "-c", trap + command]


def stop_trap(stop_signal: str) -> str:
    """The shell between tini and the migration must outlive the stop signal: tini exits as soon as
    its child does, and the kernel then kills everything left in the container — a migration busy
    releasing its lock included. So the shell traps the signal (a handler, not an ignore, so the
    migration itself still gets the default action or its own handler), waits for the running
    command, then exits without starting the next one."""
    name = (stop_signal or "SIGTERM").upper()
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        number = signal.Signals[name].value
    except KeyError:
        name, number = "SIGTERM", signal.SIGTERM.value
    return f"trap 'exit {128 + number}' {name[3:]}; "


def is_tini(entrypoint: List[str]) -> bool:
    """Only a bare tini (app-json's list): anything after `--` is an entrypoint of the app's own."""
    return entrypoint[0] in ("/tini", "/bin/tini", "/usr/bin/tini", "/usr/local/bin/tini") and \
        entrypoint[1:] in ([], ["--"])


def move_env_values(args: List[str]) -> Tuple[List[str], Dict[str, str]]:
    """Rewrites `--env=KEY=value` / `-e KEY=value` into `--env=KEY` and returns the values.

    Dokku's config plugin gives keys only, but a docker option or an older Dokku may put a value
    on argv, where any local user could read it in /proc/*/cmdline. The value moves to the docker
    client's environment instead; the container receives exactly the same variable.
    """
    kept: List[str] = []
    values: Dict[str, str] = {}
    items = list(args)
    while items:
        arg = items.pop(0)
        if arg in ("-e", "--env") and items:
            arg = "--env=" + items.pop(0)
        elif arg.startswith("-e") and not arg.startswith("--"):
            arg = "--env=" + arg[2:]
        if arg.startswith("--env="):
            key, has_value, value = arg[len("--env="):].partition("=")
            if has_value:
                values[key] = value
            kept.append("--env=" + key)
        else:
            kept.append(arg)
    return kept, values


UNSAFE_KEY = re.compile(r"[\s='\"`$\\;&|<>(){}\x00-\x1f]")


def unsafe_config_keys(keys: List[str]) -> List[str]:
    """Keys that cannot travel as one `--env=KEY` word: Dokku splits the docker args with shell
    rules, so `A B` would become a stray argument. Such keys are refused, never passed on."""
    return [key for key in keys if not key or UNSAFE_KEY.search(key)]


def stop_args(image: ImageInfo, kind: str) -> List[str]:
    """A stop signal must reach the migration, not a shell that ignores it: as PID 1 a process gets
    only the signals it handles, so `sh -c` would never see SIGTERM. `--init` makes Docker's tini
    PID 1, and TINI_KILL_PROCESS_GROUP has it signal the command's whole process group (`a && b`,
    npm and its child), so a tool that traps SIGTERM can release its locks in the grace period.
    An image whose ENTRYPOINT is tini already gets the variable only."""
    tini_already = kind == DOCKERFILE and bool(image.entrypoint) and is_tini(image.entrypoint)
    return ([] if tini_already else ["--init"]) + [f"--env={TINI_GROUP}=1"]


def container_args(*, app: str, run_id: int, image: ImageInfo, kind: str, command: str, deploy_args: List[str],
                   global_run_args: List[str], memory: str, cpus: str) -> List[str]:
    """The complete argv after `docker container create`; config values never appear in it."""
    args = list(deploy_args) + list(global_run_args)
    args += [f"--label={labels.APP}={app}", f"--label=dokku_phase_script={PHASE}",
             f"--label={labels.RUN}={run_id}"]
    return args + run_args(image, kind, command, memory, cpus)


def run_args(image: ImageInfo, kind: str, command: str, memory: str, cpus: str) -> List[str]:
    """What every migration container ends with, on production or on the pre-flight's copy: the run's
    stop handling, its limits, the image and the command as Dokku's tasks hand it over. The image by
    id: the image marked migrated is the one that ran, even if its tag moves."""
    args = stop_args(image, kind)
    if memory:
        args.append(f"--memory={memory}")
    if cpus:
        args.append(f"--cpus={cpus}")
    argv = task_command(image, kind, command)
    if argv and argv[0].startswith("--entrypoint="):
        args.append(argv.pop(0))
    return args + [image.id] + argv
