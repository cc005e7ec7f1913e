"""The Dokku commands the stand-in implements (core plugins' subcommands, and dokku-postgres).
Each docstring names the Dokku source it follows; a Go command's error is printed by
plugins/common/log.go LogFailWithError (` !     <error>`, exit 1 or the error's own code)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import deploy
from state import (
    docker,
    enabled_plugins,
    env,
    fail,
    go_trigger,
    image_exists,
    info1,
    is_valid_app_name,
    lib_root,
    log_fail_with_error,
    plugn,
    property_delete,
    property_get,
    property_write,
    read_config,
    remove_tree,
    root,
    token_hex,
    verify_app_name,
    verify_app_name_bash,
    warn,
    write_config,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Tuple

POSTGRES_IMAGE = os.environ.get("STANDIN_POSTGRES_IMAGE", "dm-postgres:15")
MARIADB_IMAGE = os.environ.get("STANDIN_MARIADB_IMAGE", "dm-mariadb:10.11")


def go_flags(args: Tuple[str, ...], known: List[str]) -> Tuple[List[str], List[str]]:
    """Go's flag package as Dokku's subcommands use it: leading `-x`/`--x` flags, up to the first word."""
    flags: List[str] = []
    rest = list(args)
    while rest and rest[0].lstrip("-") in known and rest[0].startswith("-"):
        flags.append(rest.pop(0).lstrip("-"))
    return flags, rest


def verify(app: str) -> None:
    """`if err := common.VerifyAppName(app); err != nil { return err }` in a Go command."""
    error, code = verify_app_name(app)
    if error:
        log_fail_with_error(error, code)


def go_trigger_or_fail(name: str, *args: str) -> None:
    code, error = go_trigger(name, *args)
    if code:
        log_fail_with_error(error)


# ----- apps -------------------------------------------------------------------------------------
def create_app(app: str) -> None:
    """plugins/apps/functions.go createApp: the directory, `created-at`, post-create."""
    error = is_valid_app_name(app)
    if error:
        log_fail_with_error(error)
    if verify_app_name(app)[0] is None:
        log_fail_with_error("Name is already taken")
    info1(f"Creating {app}...")
    (root() / app).mkdir(parents=True, mode=0o755)
    property_write("apps", app, "created-at", str(int(time.time())))
    go_trigger_or_fail("post-create", app)


def c_apps_create(app: str = "", *rest: str) -> None:
    """plugins/apps/subcommands.go CommandCreate (the current rule only: IsValidAppName)."""
    create_app(app)


def destroy_app(app: str) -> None:
    """plugins/apps/functions.go destroyApp: confirmation unless forced; pre-delete, scheduler-stop
    (containers removed), scheduler-post-delete, post-delete — any failure stops it there, the app
    staying — then DockerCleanup, scheduler-retire, and the app directory removed."""
    if os.environ.get("DOKKU_APPS_FORCE_DELETE") != "1":
        warn("WARNING: Potentially Destructive Action")
        warn(f"This command will destroy {app} (including all add-ons).")
        warn(f'To proceed, type "{app}"')
        answer = sys.stdin.readline().strip() if not sys.stdin.closed else ""
        if answer != app:
            log_fail_with_error(f"Confirmation did not match {app}. Aborted.")
    info1(f"Destroying {app} (including all add-ons)")
    tag, _ = deploy.go_running_image_tag(app)  # plugins/apps/functions.go destroyApp ignores its error
    for name, args in (("pre-delete", (app, tag)), ("scheduler-stop", ("docker-local", app, "true")),
                       ("scheduler-post-delete", ("docker-local", app, tag)), ("post-delete", (app, tag))):
        go_trigger_or_fail(name, *args)
    info1("Cleaning up...")
    deploy.docker_cleanup(app)
    info1("Retiring old containers and images")
    go_trigger_or_fail("scheduler-retire", "docker-local", app)
    remove_tree(root() / app)


def c_apps_destroy(*args: str) -> None:
    """plugins/apps/subcommands.go CommandDestroy (`--force` sets DOKKU_APPS_FORCE_DELETE)."""
    flags, words = go_flags(args, ["force"])
    app = words[0] if words else ""
    verify(app)
    if "force" in flags:
        os.environ["DOKKU_APPS_FORCE_DELETE"] = "1"
    destroy_app(app)


def c_apps_rename(*args: str) -> None:
    """plugins/apps/subcommands.go CommandRename: create NEW, post-app-rename-setup, destroy OLD
    (forced: its post-delete fires), git-has-code, post-app-rename (ps rebuilds NEW)."""
    flags, words = go_flags(args, ["skip-deploy"])
    old, new = (words + ["", ""])[:2]
    check_new_name(old, new)
    info1(f"Renaming {old} to {new}")
    create_app(new)
    go_trigger_or_fail("post-app-rename-setup", old, new)
    os.environ["DOKKU_APPS_FORCE_DELETE"] = "1"
    destroy_app(old)
    skip_rebuild_unless_code(new, "skip-deploy" in flags)
    go_trigger_or_fail("post-app-rename", old, new)


def c_apps_clone(*args: str) -> None:
    """plugins/apps/subcommands.go CommandClone: create NEW, post-app-clone-setup, git-has-code,
    post-app-clone (ps rebuilds NEW under its deploy lock)."""
    flags, words = go_flags(args, ["skip-deploy", "ignore-existing"])
    old, new = (words + ["", ""])[:2]
    check_new_name(old, new)
    info1(f"Cloning {old} to {new}")
    create_app(new)
    go_trigger_or_fail("post-app-clone-setup", old, new)
    skip_rebuild_unless_code(new, "skip-deploy" in flags)
    go_trigger_or_fail("post-app-clone", old, new)


def check_new_name(old: str, new: str) -> None:
    """plugins/apps/subcommands.go CommandRename/CommandClone: the checks before anything is done."""
    if not old:
        log_fail_with_error("Please specify an app to run the command on")
    if not new:
        log_fail_with_error("Please specify an new app name")
    verify(old)
    error = is_valid_app_name(new)
    if error:
        log_fail_with_error(error)
    if verify_app_name(new)[0] is None:
        log_fail_with_error("Name is already taken")


def skip_rebuild_unless_code(app: str, skip: bool) -> None:
    """plugins/apps/subcommands.go CommandRename/CommandClone: SKIP_REBUILD with --skip-deploy, or when
    `git-has-code` fails."""
    if skip or plugn("git-has-code", app).returncode != 0:
        os.environ["SKIP_REBUILD"] = "true"


def c_apps_lock(app: str = "", *rest: str) -> None:
    """plugins/apps/subcommands.go CommandLock: the file is created (truncated); no flock."""
    verify(app)
    try:
        deploy.lock_path(app).open("w").close()
    except OSError:
        log_fail_with_error("Unable to create deploy lock")
    info1("Deploy lock created")


def c_apps_unlock(app: str = "", *rest: str) -> None:
    """plugins/apps/subcommands.go CommandUnlock: warnings when it exists, then os.Remove."""
    verify(app)
    path = deploy.lock_path(app)
    if path.exists():
        warn("A deploy may be in progress.")
        warn("Removing the app lock will not stop in progress deploys.")
    try:
        path.unlink()
    except OSError:
        log_fail_with_error("Unable to remove deploy lock")
    info1("Deploy lock removed")


def c_apps_locked(app: str = "", *rest: str) -> None:
    """plugins/apps/subcommands.go CommandLocked → functions.go appIsLocked: the file's existence."""
    verify(app)
    if not deploy.lock_path(app).exists():
        log_fail_with_error("Deploy lock does not exist")
    print("Deploy lock exists")


# ----- builds -----------------------------------------------------------------------------------
def c_builds_cancel(app: str = "", *rest: str) -> None:
    """plugins/builds/subcommands.go CommandCancel: the lock file's build id → its record's pid →
    SIGQUIT to that pid's whole process group (killProcessGroup); then, without waiting, the record
    marked canceled and the lock file removed."""
    verify(app)
    path = deploy.lock_path(app)
    if not path.exists():
        info1("App not currently deploying")
        return
    build_id = path.read_text().strip()
    if not build_id:
        info1("No matching app deploy found")
        return
    record_file = lib_root() / "data" / "builds" / app / f"{build_id}.json"
    if not record_file.is_file():
        info1(f"No build record for {build_id}, removing stale lock file")
        path.unlink(missing_ok=True)
        return
    record = json.loads(record_file.read_text())
    if record["status"] != "running":
        info1(f"Build {build_id} is no longer running (status={record['status']}); leaving record untouched")
        return
    if not pid_alive(record["pid"]):
        info1("Build was already terminated, marking failed")
        finish_record(app, record, "failed")
        path.unlink(missing_ok=True)
        return
    info1("Killing app deploy")
    try:
        os.killpg(os.getpgid(record["pid"]), signal.SIGQUIT)
    except OSError as error:
        warn(f"Failed to signal process group {record['pid']}: {error}")
    current = json.loads(record_file.read_text())
    if current["status"] == "running":
        finish_record(app, current, "canceled")
    path.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """plugins/builds/builds.go CheckPIDAlive."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def finish_record(app: str, record: dict, status: str) -> None:
    from triggers import now, write_record
    record.update(status=status, finished_at=now(), exit_code=-1)
    write_record(app, record)


# ----- config -----------------------------------------------------------------------------------
def valid_key(key: str) -> bool:
    """plugins/config/config.go validateKey: ^[a-zA-Z_][a-zA-Z0-9_]*$."""
    import re
    return re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", key) is not None


def c_config_set(*args: str) -> None:
    """plugins/config/functions.go SubSet → config.go SetMany: every key validated before anything
    is written; `-----> Setting config vars` and the pairs; then, for an app (not --global) without
    --no-restart, triggerRestart when shouldRestart."""
    flags, words = go_flags(args, ["global", "encoded", "no-restart"])
    app = "" if "global" in flags else (words.pop(0) if words else "")
    if "global" not in flags:
        verify(app)
    if not words:
        log_fail_with_error("At least one env pair must be given")
    updated = {}
    for pair in words:
        key, sep, value = pair.partition("=")
        if not sep:
            log_fail_with_error(f"Invalid env pair: {pair}")
        updated[key] = value
    for key in updated:
        if not valid_key(key):
            log_fail_with_error(f"Invalid key name: '{key}'")
    scope = app or "--global"
    write_config(scope, {**read_config(scope), **updated})
    info1("Setting config vars")
    width = max(len(key) for key in updated) + 2
    for key in sorted(updated):
        print(f"       {(key + ':').ljust(width)}{updated[key]}", flush=True)
    go_trigger("post-config-update", scope, "set", *updated)
    if app and "no-restart" not in flags and should_restart(app):
        trigger_restart(app)


def c_config_unset(*args: str) -> None:
    """plugins/config/functions.go SubUnset → config.go UnsetMany: the env file is written, and
    post-config-update fired, only when a key was set; the restart happens either way."""
    flags, words = go_flags(args, ["global", "no-restart"])
    app = "" if "global" in flags else (words.pop(0) if words else "")
    if "global" not in flags:
        verify(app)
    if not words:
        log_fail_with_error("At least one key must be given")
    for key in words:
        if not valid_key(key):
            log_fail_with_error(f"Invalid key name: '{key}'")
    scope = app or "--global"
    values = read_config(scope)
    changed = False
    for key in words:
        if key in values:
            info1(f"Unsetting {key}")
            del values[key]
            changed = True
        else:
            info1(f"Skipping {key}, it is not set in the environment")
    if changed:
        write_config(scope, values)
        go_trigger("post-config-update", scope, "unset", *words)
    if app and "no-restart" not in flags and should_restart(app):
        trigger_restart(app)


def should_restart(app: str) -> bool:
    """plugins/config/config.go shouldRestart: the ps `restore` property is not "false"."""
    return property_get("ps", app, "restore") != "false"


def trigger_restart(app: str) -> None:
    """plugins/config/config.go triggerRestart: only a deployed app; `release-and-deploy APP ""
    config-redeploy` (tag latest); a failure is only a warning — ` !     Failure while restarting app:
    <the trigger's stderr>` — and config:set still exits 0."""
    if not deploy.is_deployed(app):
        return
    info1(f"Restarting app {app}")
    code, error = go_trigger("release-and-deploy", app, "", "config-redeploy")
    if code:
        warn(f"Failure while restarting app: {error}")


# ----- builder ----------------------------------------------------------------------------------
def c_builder_set(app: str = "", key: str = "", value: str = "", *rest: str) -> None:
    """plugins/builder/subcommands.go CommandSet → common.CommandPropertySet: `selected` (or
    `build-dir`) written as a property of the app or `--global`; an empty value removes it."""
    if app != "--global":
        verify(app)
    if key not in ("selected", "build-dir"):
        log_fail_with_error("Invalid property specified, valid properties include: build-dir, selected")
    if value:
        info1(f"Setting {key} to {value}")
        property_write("builder", app, key, value)
    else:
        info1(f"Unsetting {key}")
        property_delete("builder", app, key)


# ----- docker-options, network --------------------------------------------------------------------
def c_docker_options_add(app: str, phases: str, *option: str) -> None:
    """plugins/docker-options/functions.go CommandAdd: the option stored for each phase (deploy modelled)."""
    verify(app)
    if "deploy" in phases.split(","):
        path = root() / app / "DOCKER_OPTIONS_DEPLOY"
        lines = [line for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
        path.write_text("".join(line + "\n" for line in lines + [" ".join(option)]))


def c_network_set(app: str, key: str, value: str = "") -> None:
    """plugins/network subcommands set: a property (initial-network, attach-post-create, …)."""
    verify(app)
    property_write("network", app, key, value)


def resource_set(kind: str, args: Tuple[str, ...]) -> None:
    """plugins/resource/src/subcommands/subcommands.go limit/reserve (pflag: `--key value` or `--key=value`)
    → functions.go setResourceType: each value given stored as the property `<type>.<kind>.<key>`
    (`_default_` without --process-type), `clear` deleting it."""
    values: dict = {}
    words: List[str] = []
    items = list(args)
    while items:
        item = items.pop(0)
        if item.startswith("--"):
            name, has_value, value = item[2:].partition("=")
            values[name] = value if has_value else (items.pop(0) if items else "")
        else:
            words.append(item)
    app = words[0] if words else ""
    verify(app)
    process_type = values.pop("process-type", "") or "_default_"
    noun = "limits" if kind == "limit" else "reservation"
    print(f"=====> Setting resource {noun} for {app}" + ("" if process_type == "_default_" else f" ({process_type})"))
    for key, value in values.items():
        if value == "clear":
            property_delete("resource", app, f"{process_type}.{kind}.{key}")
            print(f"       {key}: cleared")
        elif value:
            property_write("resource", app, f"{process_type}.{kind}.{key}", value)
            print(f"       {key}: {value}")


def c_resource_limit(*args: str) -> None:
    """plugins/resource/subcommands.go CommandLimit."""
    resource_set("limit", args)


def c_resource_reserve(*args: str) -> None:
    """plugins/resource/subcommands.go CommandReserve."""
    resource_set("reserve", args)


# ----- git --------------------------------------------------------------------------------------
def c_git_from_image(*args: str) -> None:
    """plugins/git/internal-functions cmd-git-from-image → git-from-image → git-from-directory:
    verify_app_name (exit 20), build capture, the build context `FROM <image>` + Dokku's
    alternate-tags label committed on the deploy branch ("No changes detected" when it is the same),
    git_receive_app; after a failure the branch goes back to the commit before."""
    words = [arg for arg in args if arg not in ("--force",)]
    app, image = (list(words) + ["", ""])[:2]
    verify_app_name_bash(app)
    if not image:
        fail("Please specify a docker image")
    deploy.setup_build_capture(app, "git:from-image")
    info1("Generating build context")
    if not image_exists(image):
        info1("Pulling image")
        if docker("image", "pull", image, check=False).returncode != 0:
            fail(f"Failed to pull image: {image}")
    else:
        info1("Image exists on host, skipping pull")
    property_write("git", app, "source-image", image)
    dockerfile = f"FROM {image}\nLABEL com.dokku.docker-image-labeler/alternate-tags=[\\\"{image}\\\"]\n"
    info1("Updating git repository with specified build context")
    rev = deploy.commit(app, dockerfile)
    if rev is None:
        warn("No changes detected, skipping git commit")
        fail("Call 'ps:rebuild' on app to rebuild the app from existing source")
    code = deploy.git_receive_app(app, rev)
    if code:
        deploy.reset_branch(app, rev)
        sys.exit(code)


# ----- ps ---------------------------------------------------------------------------------------
def c_ps_rebuild(app: str = "", *rest: str) -> None:
    """plugins/ps/subcommands.go CommandRebuild → ps.go Rebuild: the receive-app trigger."""
    verify(app)
    code, error = go_trigger("receive-app", app)
    if code:
        log_fail_with_error(error)


def c_ps_restart(app: str = "", process_type: str = "", *rest: str) -> None:
    """plugins/ps/ps.go Restart / RestartProcess: a never-deployed app only warns (exit 0); otherwise
    GetRunningImageTag, whose error (a failing deployed-app-image-tag) is the command's, then the
    `deploy` trigger with that tag — no release."""
    verify(app)
    if not deploy.is_deployed(app):
        warn(f"App {app} has not been deployed")
        return
    tag, error = deploy.go_running_image_tag(app)
    if error is not None:
        log_fail_with_error(error)
    go_trigger_or_fail("deploy", app, tag, *([process_type] if process_type else []))


def c_ps_start(app: str = "", *rest: str) -> None:
    """plugins/ps/subcommands.go CommandStart."""
    verify(app)
    start(app)


def start(app: str) -> None:
    """plugins/ps/ps.go Start: GetRunningImageTag, its error ignored (the tag then empty); never
    deployed → warning; pre-start; an app not (fully) running goes through the whole release:
    release-and-deploy APP <running image tag>."""
    tag, _ = deploy.go_running_image_tag(app)
    if not deploy.is_deployed(app):
        warn(f"App {app} has not been deployed")
        return
    go_trigger_or_fail("pre-start", app)
    state = deploy.running_state(app)
    if state == "mixed":
        warn("App is running in mixed mode, releasing")
    elif state == "false":
        warn("App has been detected as not running, releasing")
    if state != "true":
        go_trigger_or_fail("release-and-deploy", app, tag)
    else:
        warn(f"App {app} already running")
    go_trigger_or_fail("proxy-build-config", app)


def c_ps_stop(app: str = "", *rest: str) -> None:
    """plugins/ps/ps.go Stop: scheduler-stop, then post-stop (restore=false)."""
    verify(app)
    if not deploy.is_deployed(app):
        warn(f"App {app} has not been deployed")
        return
    info1(f"Stopping {app}")
    go_trigger_or_fail("scheduler-stop", "docker-local", app)
    go_trigger_or_fail("post-stop", app)


def c_ps_restore(app: str = "", *rest: str) -> None:
    """plugins/ps/subcommands.go CommandRestore → ps.go Restore (one app)."""
    go_trigger_or_fail("pre-restore")
    verify(app)
    go_trigger_or_fail("scheduler-pre-restore", "docker-local", app)
    info1("Clearing potentially invalid proxy configuration")
    go_trigger("proxy-clear-config", app)
    if not deploy.is_deployed(app):
        warn(f"App {app} has not been deployed")
        return
    if property_get("ps", app, "restore", "true") == "false":
        warn(f"Skipping ps:restore for {app} as restore property is false")
        return
    info1("Starting app")
    start(app)


def c_ps_scale(*args: str) -> None:
    """plugins/ps/subcommands.go CommandScale → functions.go scaleSet: the scale stored, then — only
    for a deployed app — GetRunningImageTag (its error is the command's) and the `deploy` trigger for
    each process type whose quantity changed."""
    flags, words = go_flags(args, ["skip-deploy"])
    app = words.pop(0) if words else ""
    verify(app)
    info1(f"Scaling {app} processes: {' '.join(words)}")
    existing = deploy.current_scale(app)
    changed = []
    scale = dict(existing)
    for pair in words:
        kind, _, count = pair.partition("=")
        if existing.get(kind) != int(count):
            changed.append(kind)
        scale[kind] = int(count)
    property_write("ps", app, "scale", "\n".join(f"{kind}={count}" for kind, count in scale.items()))
    if "skip-deploy" in flags or not deploy.is_deployed(app):
        return
    tag, error = deploy.go_running_image_tag(app)
    if error is not None:
        log_fail_with_error(error)
    for kind in changed:
        go_trigger_or_fail("deploy", app, tag, kind)


def c_deploy(app: str = "", tag: str = "", process_type: str = "", *rest: str) -> None:
    """plugins/00_dokku-standard/subcommands/deploy → cmd-deploy APP TAG: the tag as typed (empty when
    not given), straight to scheduler-deploy."""
    verify_app_name_bash(app)
    sys.exit(deploy.cmd_deploy(app, tag, process_type))


# ----- run (plugins/run) --------------------------------------------------------------------------
def c_run(*args: str) -> None:
    """plugins/run/subcommands/default → internal-functions cmd-run → fn-run: DOKKU_RM_CONTAINER=1; the
    flags before the app (`--env`/`-e` pairs, `--cron-id`, `--concurrency-policy`, `--ttl-seconds`,
    default 86400; `--no-tty`/`--force-tty` change nothing here, where there is no TTY); verify_app_name;
    `plugn trigger scheduler-run SCHEDULER APP N ENV... -- ARGS...` with DOKKU_CRON_ID,
    DOKKU_CONCURRENCY_POLICY and DOKKU_RUN_TTL_SECONDS in its environment; its exit code is run's."""
    os.environ["DOKKU_RM_CONTAINER"] = "1"
    rest = list(args)
    run_env: List[str] = []
    cron_id, policy, ttl = "", "allow", "86400"
    while rest:
        arg = rest[0]
        if arg in ("-e", "--env", "--cron-id", "--concurrency-policy", "--ttl-seconds") and len(rest) > 1:
            value = rest[1]
            del rest[:2]
        elif arg.split("=", 1)[0] in ("-e", "--env", "--cron-id", "--concurrency-policy", "--ttl-seconds") \
                and "=" in arg:
            value = arg.split("=", 1)[1]
            del rest[:1]
        elif arg in ("--no-tty", "--force-tty"):
            del rest[:1]
            continue
        else:
            break
        name = arg.split("=", 1)[0]
        if name in ("-e", "--env"):
            run_env.append(value)
        elif name == "--cron-id":
            cron_id = value
        elif name == "--concurrency-policy":
            policy = value
        else:
            ttl = value
    app = rest.pop(0) if rest else ""
    verify_app_name_bash(app)
    os.environ.update(DOKKU_CRON_ID=cron_id, DOKKU_CONCURRENCY_POLICY=policy, DOKKU_RUN_TTL_SECONDS=ttl)
    sys.exit(plugn("scheduler-run", "docker-local", app, str(len(run_env)), *run_env, "--", *rest).returncode)


# ----- cron (plugins/cron) ---------------------------------------------------------------------------
def cron_id(app: str, command: str, schedule: str) -> str:
    """plugins/cron/cron.go GenerateCommandID: go-base36 EncodeToStringLc of `APP===COMMAND===SCHEDULE`
    (the bytes as one big-endian number in base 36, lower case)."""
    number = int.from_bytes(f"{app}==={command}==={schedule}".encode(), "big")
    digits = ""
    while number:
        number, digit = divmod(number, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
    return digits or "0"


def cron_tasks(app: str) -> List[dict]:
    """plugins/cron/cron.go FetchCronTasks: the `cron` entries of the app's app.json (GetAppJSON: the
    copy the last deploy promoted), each with a command and a schedule (else a warning), its id and
    concurrency policy (default allow). Schedules are not parsed here, and maintenance is not modelled."""
    from appjson import AppJSONError
    try:
        found = deploy.app_json(app) or {}
    except AppJSONError as error:
        log_fail_with_error(f"Unable to fetch app.json for app {app}: {error}")
    tasks = []
    for index, entry in enumerate(found.get("cron") or []):
        command, schedule = entry.get("command", ""), entry.get("schedule", "")
        if not command:
            warn(f"Missing cron task command for app {app} (index {index})")
            continue
        if not schedule:
            warn(f"Missing cron schedule for app {app} (index {index})")
            continue
        tasks.append({"id": cron_id(app, command, schedule), "app": app, "command": command, "schedule": schedule,
                      "concurrency_policy": entry.get("concurrency_policy") or "allow"})
    return tasks


def c_cron_list(*args: str) -> None:
    """plugins/cron/subcommands.go CommandList: `--format json` prints the tasks as JSON (the stdout
    table is not modelled)."""
    fmt = "stdout"
    rest = list(args)
    if rest[:1] == ["--format"] and len(rest) > 1:
        fmt = rest[1]
        del rest[:2]
    app = rest[0] if rest else ""
    verify(app)
    if fmt != "json":
        log_fail_with_error("stand-in cron:list models --format json only")
    print(json.dumps(cron_tasks(app), separators=(",", ":")))


def c_cron_run(*args: str) -> None:
    """plugins/cron/subcommands.go CommandRun: the task's command split into shell words, then
    DOKKU_CONCURRENCY_POLICY, DOKKU_CRON_ID, DOKKU_RM_CONTAINER=1 and DOKKU_RUN_TTL_SECONDS=86400 set and
    `scheduler-run SCHEDULER APP 0 -- WORDS...` called streaming; its failure becomes an empty error
    (nothing more printed), exit 1."""
    flags, words = go_flags(args, ["detach"])
    app, wanted = (words + ["", ""])[:2]
    verify(app)
    tasks = cron_tasks(app)
    if not wanted:
        log_fail_with_error(f"Please specify a Cron ID from the output of 'dokku cron:list {app}'")
    task = next((task for task in tasks if task["id"] == wanted), None)
    if task is None:
        log_fail_with_error(f"No matching Cron ID found. Please specify a Cron ID from the output of "
                            f"'dokku cron:list {app}'")
    if "detach" in flags:
        os.environ.update(DOKKU_DETACH_CONTAINER="1", DOKKU_DISABLE_TTY="true")
    os.environ.update(DOKKU_CONCURRENCY_POLICY=task["concurrency_policy"], DOKKU_CRON_ID=wanted,
                      DOKKU_RM_CONTAINER="1", DOKKU_RUN_TTL_SECONDS="86400")
    code, _ = go_trigger("scheduler-run", "docker-local", app, "0", "--", *shlex.split(task["command"]))
    if code:
        log_fail_with_error("")


# ----- plugin -----------------------------------------------------------------------------------
def as_root() -> None:
    """`dokku` lines 99-105: plugin:* (but help/list) must run as root."""
    if os.geteuid() != 0:
        fail("This command must be run as root")


def c_plugin_install(*args: str) -> None:
    """plugins/plugin/subcommands/install with no URL: `plugn trigger install` for every plugin."""
    as_root()
    sys.exit(plugn("install").returncode)


def c_plugin_update(*args: str) -> None:
    """plugins/plugin/subcommands/update: (the `git pull` is not modelled) then `plugn trigger update`."""
    as_root()
    sys.exit(plugn("update").returncode)


def c_plugin_uninstall(name: str = "") -> None:
    """plugins/plugin/functions uninstall_plugin: `plugn trigger uninstall NAME` for EVERY plugin (a
    failure aborts, the files stay), then `plugn uninstall` removes enabled/ and available/."""
    as_root()
    if not name:
        fail("Please specify a plugin to uninstall")
    if (Path(env("PLUGIN_CORE_AVAILABLE_PATH")) / name).exists():
        fail("Cannot uninstall a core plugin")
    if not (Path(env("PLUGIN_AVAILABLE_PATH")) / name).exists():
        fail(f"Plugin ({name}) is not currently installed")
    code = plugn("uninstall", name).returncode
    if code:
        sys.exit(code)
    remove_tree(Path(env("PLUGIN_ENABLED_PATH")) / name)
    (Path(env("PLUGIN_ENABLED_PATH")) / name).unlink(missing_ok=True)
    remove_tree(Path(env("PLUGIN_AVAILABLE_PATH")) / name)
    info1(f"Plugin {name} uninstalled")


# ----- dokku-postgres (a community plugin, emulated) ----------------------------------------------
def c_postgres_create(service: str) -> None:
    """dokku-postgres create (a community plugin): a `dokku.postgres.<svc>` container, ready to connect."""
    password = token_hex(12)
    database = service.replace(".", "_").replace("-", "_")
    directory = lib_root() / "services" / "postgres" / service
    directory.mkdir(parents=True)
    (directory / "PASSWORD").write_text(password)
    name = f"dokku.postgres.{service}"
    docker("container", "run", "--detach", f"--name={name}", "--label=dokku=service",
           "--label=dokku.service=postgres", "--env=POSTGRES_PASSWORD", f"--env=POSTGRES_DB={database}",
           POSTGRES_IMAGE, env_extra={"POSTGRES_PASSWORD": password})
    for _ in range(300):
        ready = docker("container", "exec", name, "pg_isready", "-q", "-h", "127.0.0.1", "-U", "postgres",
                       "-d", database, check=False)
        if ready.returncode == 0:
            info1(f"Postgres container created: {service}")
            return
        time.sleep(0.1)
    fail(f"Postgres service {service} did not become ready")


def c_postgres_link(service: str, app: str) -> None:
    """dokku-postgres link: a `--link` deploy option and DATABASE_URL, set without a restart."""
    verify(app)
    password = (lib_root() / "services" / "postgres" / service / "PASSWORD").read_text()
    database = service.replace(".", "_").replace("-", "_")
    c_docker_options_add(app, "build,deploy,run", f"--link dokku.postgres.{service}:dokku-postgres-{service}")
    values = read_config(app)
    values["DATABASE_URL"] = f"postgres://postgres:{password}@dokku-postgres-{service}:5432/{database}"
    write_config(app, values)


def c_postgres_destroy(service: str, *rest: str) -> None:
    docker("container", "rm", "-f", f"dokku.postgres.{service}", check=False)
    subprocess.run(["rm", "-rf", str(lib_root() / "services" / "postgres" / service)])


# ----- dokku-mariadb (a community plugin, emulated) -----------------------------------------------
def c_mariadb_create(service: str) -> None:
    """dokku-mariadb create (dokku/dokku-mariadb 1.45.2 functions service_create_container): a
    `dokku.mariadb.<svc>` container with MYSQL_DATABASE=<svc> and the user `mariadb`, ready to connect."""
    password, root_password = token_hex(12), token_hex(12)
    directory = lib_root() / "services" / "mariadb" / service
    directory.mkdir(parents=True)
    (directory / "PASSWORD").write_text(password)
    name = f"dokku.mariadb.{service}"
    docker("container", "run", "--detach", f"--name={name}", "--label=dokku=service",
           "--label=dokku.service=mariadb", "--env=MYSQL_PASSWORD", "--env=MYSQL_ROOT_PASSWORD",
           f"--env=MYSQL_DATABASE={service}", "--env=MYSQL_USER=mariadb", MARIADB_IMAGE,
           env_extra={"MYSQL_PASSWORD": password, "MYSQL_ROOT_PASSWORD": root_password})
    for _ in range(600):  # the server starts twice on its first start; TCP answers only the second time
        ready = docker("container", "exec", "--env=MYSQL_PWD", name, "mariadb", "--protocol=tcp", "-h", "127.0.0.1",
                       "-u", "mariadb", "-e", "SELECT 1", check=False, env_extra={"MYSQL_PWD": password})
        if ready.returncode == 0:
            info1(f"MariaDB container created: {service}")
            return
        time.sleep(0.1)
    fail(f"MariaDB service {service} did not become ready")


def c_mariadb_link(service: str, app: str) -> None:
    """dokku-mariadb link (common-functions service_link, functions service_url): a `--link
    dokku.mariadb.<svc>:dokku-mariadb-<svc>` option and DATABASE_URL=mysql://mariadb:…, no restart."""
    verify(app)
    password = (lib_root() / "services" / "mariadb" / service / "PASSWORD").read_text()
    alias = f"dokku.mariadb.{service}".replace(".", "-").replace("_", "-")
    c_docker_options_add(app, "build,deploy,run", f"--link dokku.mariadb.{service}:{alias}")
    values = read_config(app)
    values["DATABASE_URL"] = f"mysql://mariadb:{password}@{alias}:3306/{service}"
    write_config(app, values)


def c_mariadb_destroy(service: str, *rest: str) -> None:
    docker("container", "rm", "-f", f"dokku.mariadb.{service}", check=False)
    subprocess.run(["rm", "-rf", str(lib_root() / "services" / "mariadb" / service)])


def c_help(*args: str) -> None:
    """`dokku help`: every plugin's `commands help` line, sorted and columnized on the comma."""
    lines = []
    for plugin in enabled_plugins():
        commands = plugin / "commands"
        if commands.is_file() and os.access(commands, os.X_OK):
            result = subprocess.run([str(commands), "help"], capture_output=True, text=True)
            lines += [line for line in result.stdout.splitlines() if line.strip()]
    rows = [line.split(",", 1) for line in sorted(lines)]
    width = max((len(name) for name, *_ in rows), default=0)
    print("Usage: dokku [--quiet|--trace|--force] COMMAND <app> [command-specific-options]\n\nCommands:\n")
    for name, *text in rows:
        print(f"{name.ljust(width)}  {''.join(text).strip()}")


def find(name: str) -> Optional[object]:
    return globals().get("c_" + name.replace(":", "_").replace("-", "_"))


