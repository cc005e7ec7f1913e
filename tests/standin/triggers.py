"""The core plugins' triggers the stand-in implements, one function per `plugins/<plugin>/<trigger>`
file (each a small script into core.py). Every docstring names the Dokku source it follows."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from state import (
    builds_plugin,
    copy_tree,
    docker,
    env,
    fail,
    lib_root,
    log_fail_with_error,
    merged_config,
    property_get,
    property_get_computed,
    property_write,
    read_config,
    remove_tree,
    root,
    verify_app_name,
    verify_app_name_bash,
    version,
    warn,
    write_config,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, Optional


def stdin_text() -> str:
    """The hooks share plugn's stdin (dokku/plugn bashenv/plugn.bash trigger): the first to read it
    gets it; callers give `: |` (empty)."""
    return sys.stdin.read() if not sys.stdin.isatty() else ""


def data_dir(plugin: str, app: str) -> Path:
    """plugins/common/data.go GetAppDataDirectory: $DOKKU_LIB_ROOT/data/<plugin>/<app>."""
    return lib_root() / "data" / plugin / app


def clone_data(plugin: str, old: str, new: str) -> None:
    """plugins/common/data.go CloneAppData: the old app's data directory copied to the new app."""
    if data_dir(plugin, old).is_dir():
        copy_tree(data_dir(plugin, old), data_dir(plugin, new))


def clone_properties(plugin: str, old: str, new: str) -> None:
    """plugins/common/properties.go PropertyClone."""
    source = lib_root() / "config" / plugin / old
    if source.is_dir():
        copy_tree(source, lib_root() / "config" / plugin / new)


def destroy_properties(plugin: str, app: str) -> None:
    """plugins/common/properties.go PropertyDestroy."""
    remove_tree(lib_root() / "config" / plugin / app)


# The hooks that build, release, deploy or read app.json and Procfile import deploy, appjson and
# procfile themselves: the others, most of a deploy's hooks, need none of them.


# ----- apps -------------------------------------------------------------------------------------
def t_apps_post_create(app: str, *rest: str) -> None:
    """plugins/apps/triggers.go TriggerPostCreate (since v0.34.0, when .deploy.lock moved there): the
    app's data directory. v0.33.9 has no such trigger, and nothing makes data/apps/<app>."""
    if version() >= (0, 34, 0):
        data_dir("apps", app).mkdir(parents=True, exist_ok=True)


def t_apps_post_delete(app: str, *rest: str) -> None:
    """plugins/apps/triggers.go TriggerPostDelete: RemoveAppDataDirectory."""
    remove_tree(data_dir("apps", app))


def t_apps_post_app_clone_setup(old: str, new: str, *rest: str) -> None:
    """plugins/apps/triggers.go TriggerPostAppCloneSetup: CloneAppData (a .deploy.lock included)."""
    clone_data("apps", old, new)


t_apps_post_app_rename_setup = t_apps_post_app_clone_setup


# ----- app-json ---------------------------------------------------------------------------------
def t_app_json_core_post_extract(app: str, work_dir: str = "", *rest: str) -> None:
    """plugins/app-json/triggers.go TriggerCorePostExtract → plugins/common/common.go CorePostExtract,
    whose validator fires `app-json-is-valid` (plugins/cron/triggers.go TriggerAppJSONIsValid:
    ReadAppJSON): an app.json Dokku cannot read stops the deploy here. The cron trigger's own
    LogFailWithError streams first; app-json's then prints its trimmed stderr once more."""
    import appjson
    path = property_get_computed("app-json", app, "appjson-path", "app.json").strip("/") or "app.json"
    copy = extract_from_source(app, "app-json", path, "app.json")
    if copy is None:
        return
    try:
        appjson.read_app_json(copy.read_bytes())
    except appjson.AppJSONError as error:
        warn(str(error))
        log_fail_with_error(f"!     {error}")


def t_app_json_pre_release_builder(builder: str, app: str, image: str, *rest: str) -> None:
    """plugins/app-json/triggers.go TriggerPreReleaseBuilder → functions.go executeScript for
    `scripts.dokku.predeploy` (app.json `env` processing is not modelled); getPhaseScript's error is
    only printed (LogExclaim, on stdout), and the task skipped."""
    import appjson
    import deploy
    command = ""
    try:
        command = appjson.predeploy(deploy.app_json(app))
    except appjson.AppJSONError as error:
        print(f" !     {error}", flush=True)
    if deploy.execute_script(app, image, image.split(":")[-1], "predeploy", command, "app.json"):
        sys.exit(1)


def t_app_json_post_release_builder(builder: str, app: str, image: str, *rest: str) -> None:
    """plugins/app-json/triggers.go TriggerPostReleaseBuilder: the Procfile `release` task (getReleaseCommand:
    procfile-get-command APP release 5000, its failure read as no command)."""
    import deploy
    from procfile import ProcfileError
    try:
        command = deploy.procfile_command(app, "release")
    except ProcfileError:
        command = ""
    if deploy.execute_script(app, image, image.split(":")[-1], "release", command, "Procfile"):
        sys.exit(1)


def t_app_json_app_json_get_content(app: str, *rest: str) -> None:
    """plugins/app-json/triggers.go TriggerAppJSONGetContent: `{}` without an app.json (hasAppJSON: a
    `.missing` marker wins over an older copy), else json.Marshal of the AppJSON struct ReadAppJSON
    filled (keys Dokku does not know are gone), without a newline."""
    import appjson
    import deploy
    try:
        document = deploy.app_json(app)
    except appjson.AppJSONError as error:
        log_fail_with_error(str(error))
    print("{}" if document is None else appjson.marshal(document), end="")


def t_app_json_core_post_deploy(app: str, *rest: str) -> None:
    """plugins/app-json/triggers.go TriggerCorePostDeploy → plugins/common/common.go CorePostDeploy."""
    promote_extracted("app-json", app, "app.json")


def t_app_json_post_delete(app: str, *rest: str) -> None:
    """plugins/app-json/triggers.go TriggerPostDelete."""
    remove_tree(data_dir("app-json", app))
    destroy_properties("app-json", app)


def t_app_json_post_app_clone_setup(old: str, new: str, *rest: str) -> None:
    """plugins/app-json/triggers.go TriggerPostAppCloneSetup / TriggerPostAppRenameSetup."""
    clone_properties("app-json", old, new)
    clone_data("app-json", old, new)


t_app_json_post_app_rename_setup = t_app_json_post_app_clone_setup


def extract_from_source(app: str, plugin: str, path: str, name: str) -> Optional[Path]:
    """plugins/common/common.go CorePostExtract for a source-image app (the git `source-image` property):
    old copies removed, then plugins/common/docker.go CopyFromImage: a relative path joined to the
    image's WorkingDir, read by `docker container cp` out of a container labelled with the app, then
    `dos2unix -l -n` (a byte order mark dropped, each CRLF two newlines) and one newline appended; a
    missing or empty file leaves `<name>.<DOKKU_PID>.missing`. Returns the copy made, if any."""
    destination = data_dir(plugin, app)
    destination.mkdir(parents=True, exist_ok=True)
    for old in destination.glob(f"{name}.*"):
        old.unlink()
    specific = destination / f"{name}.{env('DOKKU_PID')}"
    image = property_get("git", app, "source-image")
    if not path.startswith("/"):
        workdir = docker("image", "inspect", "--format", "{{.Config.WorkingDir}}", image, check=False).stdout.strip()
        path = f"{workdir}/{path}" if workdir else path
    created = docker("container", "create", "--label", f"com.dokku.app-name={app}",
                     *env("DOKKU_GLOBAL_RUN_ARGS").split(), image, check=False)
    content = b""
    if created.returncode == 0:
        cid = created.stdout.strip()
        import subprocess
        copied = subprocess.run([os.environ.get("DOCKER_BIN", "docker"), "container", "cp", "--quiet",
                                 f"{cid}:{path}", "-"], capture_output=True)
        docker("container", "rm", "--force", cid, check=False)
        content = untar_single(copied.stdout) if copied.returncode == 0 else b""
    if not content:
        Path(f"{specific}.missing").touch()
        return None
    specific.write_bytes(content.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n\n") + b"\n")
    return specific


def untar_single(data: bytes) -> bytes:
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive.getmembers():
            if member.isfile():
                handle = archive.extractfile(member)
                return handle.read() if handle else b""
    return b""


def promote_extracted(plugin: str, app: str, name: str) -> None:
    """plugins/common/common.go CorePostDeploy: `<name>.<DOKKU_PID>` becomes `<name>`; a `.missing`
    marker removes it."""
    directory = data_dir(plugin, app)
    specific = directory / f"{name}.{env('DOKKU_PID')}"
    if specific.is_file():
        specific.replace(directory / name)
    elif Path(f"{specific}.missing").exists():
        (directory / name).unlink(missing_ok=True)
        Path(f"{specific}.missing").unlink()


# ----- builder ----------------------------------------------------------------------------------
def t_builder_post_delete(app: str, *rest: str) -> None:
    """plugins/builder/triggers.go TriggerPostDelete: `docker image rm` (no force, errors ignored) of
    every image labelled with the app and every tag of the dokku/<app> repository."""
    labelled = docker("image", "ls", "-q", "--filter", f"label=com.dokku.app-name={app}", check=False).stdout.split()
    tagged = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", f"dokku/{app}", check=False).stdout.split()
    for image in tagged + labelled:
        docker("image", "rm", image, check=False)


# ----- builds -----------------------------------------------------------------------------------
def t_builds_builds_generate_id(*rest: str) -> None:
    """plugins/builds/builds.go GenerateBuildID (a sortable base36 id)."""
    stamp = int(time.time() * 1000)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    encoded = ""
    while stamp:
        stamp, remainder = divmod(stamp, 36)
        encoded = digits[remainder] + encoded
    print(encoded[-8:].rjust(8, "0") + "".join(digits[byte % 36] for byte in os.urandom(6)))


def record_path(app: str, build_id: str) -> Path:
    """plugins/builds/builds.go RecordPath: data/builds/<app>/<id>.json."""
    return data_dir("builds", app) / f"{build_id}.json"


def t_builds_builds_record_start(app: str, build_id: str, pid: str, source: str, *rest: str) -> None:
    """plugins/builds/triggers.go TriggerBuildsRecordStart: the running record with the pid."""
    write_record(app, {"id": build_id, "app": app, "kind": "build", "pid": int(pid),
                       "started_at": now(), "status": "running", "source": source})


def t_builds_builds_record_finalize(app: str, build_id: str, exit_code: str, *rest: str) -> None:
    """plugins/builds/triggers.go TriggerBuildsRecordFinalize: a terminal record is left alone."""
    path = record_path(app, build_id)
    if not path.is_file():
        return
    record = json.loads(path.read_text())
    if record["status"] != "running":
        return
    record.update(finished_at=now(), exit_code=int(exit_code),
                  status="succeeded" if exit_code == "0" else "failed")
    write_record(app, record)


def t_builds_post_delete(app: str, *rest: str) -> None:
    """plugins/builds/triggers.go TriggerPostDelete."""
    remove_tree(data_dir("builds", app))


def write_record(app: str, record: dict) -> None:
    """plugins/builds/builds.go WriteBuild: a temp file renamed into place."""
    path = record_path(app, record["id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(record, indent=2))
    temporary.replace(path)


def now() -> str:
    from datetime import datetime, timezone
    return datetime.now(timezone.utc).isoformat()


# ----- common -----------------------------------------------------------------------------------
def t_common_deploy(app: str, tag: str = "", process_type: str = "", *rest: str) -> None:
    """plugins/common/deploy → plugins/common/functions cmd-deploy (verify_app_name first)."""
    import deploy
    verify_app_name_bash(app)
    sys.exit(deploy.cmd_deploy(app, tag, process_type))


def t_common_release_and_deploy(app: str, tag: str = "", source: str = "deploy", *rest: str) -> None:
    """plugins/common/release-and-deploy → plugins/common/functions release_and_deploy."""
    import deploy
    sys.exit(deploy.release_and_deploy(app, tag, source))


def t_common_core_post_deploy(app: str, *rest: str) -> None:
    """plugins/common/triggers.go TriggerCorePostDeploy: the `deployed` property."""
    property_write("common", app, "deployed", "true")


def t_common_post_app_clone_setup(old: str, new: str, *rest: str) -> None:
    """plugins/common/triggers.go TriggerPostAppCloneSetup (it deletes `deployed` of the OLD app, as written)."""
    clone_properties("common", old, new)
    (lib_root() / "config" / "common" / old / "deployed").unlink(missing_ok=True)


def t_common_post_app_rename_setup(old: str, new: str, *rest: str) -> None:
    """plugins/common/triggers.go TriggerPostAppRenameSetup."""
    clone_properties("common", old, new)
    destroy_properties("common", old)


def t_common_post_delete(app: str, *rest: str) -> None:
    """plugins/common/triggers.go TriggerPostDelete."""
    destroy_properties("common", app)


# ----- config -----------------------------------------------------------------------------------
def t_config_config_export(app: str, is_global: str, merged: str, fmt: str, *rest: str) -> None:
    """plugins/config/triggers.go TriggerConfigExport: ParseBool of both flags, VerifyAppName (exit 20
    for a missing app) unless global; `json` is Go's json.Marshal of the (merged) env: compact, keys
    sorted, `<>&` escaped; then a newline (plugins/config/functions.go export)."""
    flags = []
    for value in (is_global, merged):
        if value not in ("1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"):
            log_fail_with_error(f'strconv.ParseBool: parsing "{value}": invalid syntax')
        flags.append(value in ("1", "t", "T", "TRUE", "true", "True"))
    if not flags[0]:
        error, code = verify_app_name(app)
        if error:
            log_fail_with_error(error, code)
    values = merged_config(app) if flags[1] and app not in ("", "--global") else read_config(app or "--global")
    values = {key: values[key] for key in sorted(values)}
    if fmt == "json":
        text = json.dumps(values, separators=(",", ":"), ensure_ascii=False)
        print(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
    elif fmt == "docker-args-keys":
        print(" ".join(f"--env={key}" for key in values))
    else:
        log_fail_with_error(f"stand-in config-export models json and docker-args-keys only, not {fmt}")


def t_config_docker_args_deploy(app: str, *rest: str) -> None:
    """plugins/config/docker-args-deploy: `echo -n "$STDIN $(config_export app APP --format
    docker-args-keys --merged)"`: keys only, sorted, global config merged in."""
    keys = " ".join(f"--env={key}" for key in merged_config(app))
    print(f"{stdin_text()} {keys}", end="")


t_config_docker_args_run = t_config_docker_args_deploy  # plugins/config/docker-args-run: a link to docker-args-deploy


def t_config_post_app_clone_setup(old: str, new: str, *rest: str) -> None:
    """plugins/config/triggers.go TriggerPostAppCloneSetup / RenameSetup: the env copied to the new app."""
    write_config(new, {**read_config(new), **read_config(old)})


t_config_post_app_rename_setup = t_config_post_app_clone_setup


def t_config_post_delete(app: str, *rest: str) -> None:
    """plugins/config/triggers.go TriggerPostDelete: the app's env goes."""
    remove_tree(lib_root() / "config" / app)


# ----- docker-options ---------------------------------------------------------------------------
def options_file(app: str) -> Path:
    """The deploy phase's options (the legacy DOCKER_OPTIONS_DEPLOY file dokku-postgres writes)."""
    return root() / app / "DOCKER_OPTIONS_DEPLOY"


def t_docker_options_docker_args_deploy(app: str, *rest: str) -> None:
    """plugins/docker-options/triggers.go TriggerDockerArgs: stdin echoed, then ` <option>` for every
    default-scope deploy option (argument 1 is the tag, so no image-source-type filter applies)."""
    path = options_file(app)
    options = [line.strip() for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    print(stdin_text() + "".join(f" {option}" for option in options if not option.startswith("#")), end="")


def t_docker_options_docker_args_process_deploy(app: str, source_type: str = "", tag: str = "",
                                                process_type: str = "", *rest: str) -> None:
    """plugins/docker-options/triggers.go TriggerDockerArgsProcessDeploy (the process type is argument 4):
    stdin echoed; options of a process type's own scope only for a named, non-default type (none are
    stored here: the stand-in keeps the default scope), so nothing else for app-json's three-argument call."""
    print(stdin_text(), end="")


def t_docker_options_post_app_clone_setup(old: str, new: str, *rest: str) -> None:
    """plugins/docker-options/triggers.go TriggerPostAppCloneSetup / RenameSetup."""
    if options_file(old).exists():
        import shutil
        shutil.copy(options_file(old), options_file(new))


t_docker_options_post_app_rename_setup = t_docker_options_post_app_clone_setup


# ----- git --------------------------------------------------------------------------------------
def t_git_post_create(app: str, *rest: str) -> None:
    """plugins/git/post-create → fn-git-create-hook: the app's bare repository (refs/)."""
    (root() / app / "refs" / "heads").mkdir(parents=True, exist_ok=True)


def t_git_receive_app(app: str, rev: str = "", *rest: str) -> None:
    """plugins/git/receive-app: build capture (`git-hook`), then git_receive_app."""
    import deploy
    deploy.setup_build_capture(app, "git-hook")
    sys.exit(deploy.git_receive_app(app, rev))


def t_git_git_has_code(app: str, *rest: str) -> None:
    """plugins/git/git-has-code → fn-git-has-code: the deploy branch has a commit."""
    import deploy
    sys.exit(0 if deploy.head(app) else 1)


def t_git_post_app_clone_setup(old: str, new: str, *rest: str) -> None:
    """plugins/git/post-app-clone-setup / post-app-rename-setup: the repository and git properties copied."""
    for name in ("refs", "standin-commits"):
        if (root() / old / name).is_dir():
            copy_tree(root() / old / name, root() / new / name)
    clone_properties("git", old, new)


t_git_post_app_rename_setup = t_git_post_app_clone_setup


def t_git_post_delete(app: str, *rest: str) -> None:
    """plugins/git/post-delete: the git properties go."""
    destroy_properties("git", app)


# ----- logs -------------------------------------------------------------------------------------
def t_logs_docker_args_process_deploy(app: str, *rest: str) -> None:
    """plugins/logs/triggers.go TriggerDockerArgsProcessDeploy: ` --log-opt=max-size=<size> ` (default
    10m) when the log driver (a --log-driver option, else `docker system info`) is local or
    json-file, then stdin."""
    stdin = stdin_text()
    path = options_file(app)
    options = path.read_text().split() if path.exists() else []
    driver = next((option.split("=", 1)[1] for option in options if option.startswith("--log-driver=")), None)
    if driver is None:
        driver = logging_driver()
    size = property_get("logs", app, "max-size") or property_get("logs", "--global", "max-size", "10m")
    if driver in ("local", "json-file") and size != "unlimited":
        print(f" --log-opt=max-size={size} ", end="")
    print(stdin, end="")


def logging_driver() -> str:
    """`docker system info --format '{{ .LoggingDriver }}'`, asked once per host (it never changes
    under a test; Dokku asks on every call)."""
    cache = lib_root() / "data" / "standin-logging-driver"
    if not cache.is_file():
        cache.write_text(docker("system", "info", "--format", "{{ .LoggingDriver }}", check=False).stdout.strip())
    return cache.read_text()


# ----- network ----------------------------------------------------------------------------------
def t_network_docker_args_process_deploy(app: str, *rest: str) -> None:
    """plugins/network/triggers.go TriggerDockerArgsProcess: ` --network=<initial-network> ` before stdin."""
    stdin = stdin_text()
    network = property_get_computed("network", app, "initial-network", "")
    print((f" --network={network} " if network else "") + stdin, end="")


t_network_docker_args_process_run = t_network_docker_args_process_deploy  # the same case in TriggerDockerArgsProcess


def t_network_post_container_create(kind: str, cid: str, app: str, phase: str, *rest: str) -> None:
    """plugins/network/triggers.go TriggerPostContainerCreate: attach-post-create networks."""
    network = property_get_computed("network", app, "attach-post-create", "")
    if kind == "app" and network:
        docker("network", "connect", network, cid)


# ----- ps ---------------------------------------------------------------------------------------
def t_ps_docker_args_process_deploy(app: str, *rest: str) -> None:
    """plugins/ps/triggers.go TriggerDockerArgsProcessDeploy: stdin, then ` --restart=<policy>`
    (reportComputedRestartPolicy, default on-failure:10)."""
    policy = property_get_computed("ps", app, "restart-policy", "on-failure:10")
    print(f"{stdin_text()} --restart={policy}", end="")


def t_ps_core_post_extract(app: str, work_dir: str = "", *rest: str) -> None:
    """plugins/ps/triggers.go TriggerCorePostExtract: the `procfile-path` (default Procfile)."""
    path = property_get_computed("ps", app, "procfile-path", "Procfile").strip("/") or "Procfile"
    extract_from_source(app, "ps", path, "Procfile")


def t_ps_core_post_deploy(app: str, *rest: str) -> None:
    """plugins/ps/triggers.go TriggerCorePostDeploy: the Procfile promoted, restore=true."""
    promote_extracted("ps", app, "Procfile")
    property_write("ps", app, "restore", "true")


def t_ps_procfile_get_command(app: str, process_type: str, port: str = "", *rest: str) -> None:
    """plugins/ps/triggers.go TriggerProcfileGetCommand (the port: common.ToInt, default 5000); a
    procfile-util failure is the trigger's error."""
    import deploy
    from procfile import ProcfileError
    try:
        command = deploy.procfile_command(app, process_type, to_int(port, 5000))
    except ProcfileError as error:
        log_fail_with_error(str(error))
    if command:
        print(command)


def to_int(value: str, default: int) -> int:
    """plugins/common/common.go ToInt: strconv.Atoi, else the default."""
    try:
        return int(value)
    except ValueError:
        return default


def t_ps_post_create(app: str, *rest: str) -> None:
    """plugins/ps/triggers.go TriggerPostCreate: scale web=1."""
    property_write("ps", app, "scale", "web=1")


def t_ps_post_stop(app: str, *rest: str) -> None:
    """plugins/ps/triggers.go TriggerPostStop: restore=false."""
    property_write("ps", app, "restore", "false")


def t_ps_post_app_clone_setup(old: str, new: str, *rest: str) -> None:
    """plugins/ps/triggers.go TriggerPostAppCloneSetup / RenameSetup."""
    clone_properties("ps", old, new)
    clone_data("ps", old, new)


t_ps_post_app_rename_setup = t_ps_post_app_clone_setup


def t_ps_post_app_clone(old: str, new: str, *rest: str) -> None:
    """plugins/ps/triggers.go TriggerPostAppClone / TriggerPostAppRename: Rebuild(new) unless SKIP_REBUILD."""
    if os.environ.get("SKIP_REBUILD") == "true":
        return
    code, error = go_rebuild(new)
    if code:
        log_fail_with_error(error)


t_ps_post_app_rename = t_ps_post_app_clone


def go_rebuild(app: str):
    """plugins/ps/ps.go Rebuild: the receive-app trigger (git_receive_app under the deploy lock)."""
    from state import go_trigger
    return go_trigger("receive-app", app)


def t_ps_post_delete(app: str, *rest: str) -> None:
    """plugins/ps/triggers.go TriggerPostDelete."""
    remove_tree(data_dir("ps", app))
    destroy_properties("ps", app)


# ----- registry ---------------------------------------------------------------------------------
def t_registry_post_release_builder(builder: str, app: str, image: str, *rest: str) -> None:
    """plugins/registry/triggers.go TriggerPostReleaseBuilder (the retag and push are not modelled)."""
    import deploy
    deploy.registry_post_release_builder(app, image)


def t_registry_deployed_app_image_tag(app: str, *rest: str) -> None:
    """plugins/registry/triggers.go TriggerDeployedAppImageTag: with push-on-release (isPushEnabled:
    the app's value, else the global one, else false), the tag-version property (default 1), which
    pushToRegistry also tags locally as `dokku/<app>:<N>`; nothing otherwise. Set here as property files:
    `registry:set` and the push are not modelled."""
    if property_get_computed("registry", app, "push-on-release", "false").strip() != "true":
        return
    print(property_get("registry", app, "tag-version").strip() or "1")


# ----- resource ---------------------------------------------------------------------------------
RESOURCE_LIMITS = {"cpu": "cpus", "nvidia-gpu": "gpus", "memory": "memory", "memory-swap": "memory-swap"}


def t_resource_docker_args_process_deploy(app: str, source_type: str = "", tag: str = "", process_type: str = "",
                                          *rest: str) -> None:
    """plugins/resource/triggers.go TriggerDockerArgsProcessDeploy (the process type is argument 4): the
    `_default_.` and `<type>.` properties (the later wins), ` --cpus=… --gpus=… --memory=… --memory-swap=… `
    limits and ` --memory-reservation=… `, memory given a `m` without a unit (addMemorySuffixForDocker),
    then stdin; nothing added under DOKKU_OMIT_RESOURCE_ARGS=1. (Go prints them in map order; sorted here.)"""
    stdin = stdin_text()
    if os.environ.get("DOKKU_OMIT_RESOURCE_ARGS") == "1":
        print(stdin, end="")
        return
    limits: Dict[str, str] = {}
    reservations: Dict[str, str] = {}
    directory = lib_root() / "config" / "resource" / app
    for prefix in ("_default_.", f"{process_type}."):
        for path in sorted(directory.iterdir()) if directory.is_dir() else []:
            kind, _, key = path.name[len(prefix):].partition(".") if path.name.startswith(prefix) else ("", "", "")
            if kind == "limit" and key in RESOURCE_LIMITS:
                limits[RESOURCE_LIMITS[key]] = path.read_text()
            elif kind == "reserve" and key == "memory":
                reservations[key] = path.read_text()
    for flag, values in (("", limits), ("-reservation", reservations)):
        for key in sorted(values):
            if values[key]:
                value = values[key]
                if key == "memory" and not value.endswith(("b", "k", "m", "g", "KB", "MB", "GB", "B")):
                    value += "m"
                print(f" --{key}{flag}={value} ", end="")
    print(stdin, end="")


def t_resource_post_delete(app: str, *rest: str) -> None:
    """plugins/resource/triggers.go TriggerPostDelete."""
    destroy_properties("resource", app)


# ----- scheduler-docker-local -------------------------------------------------------------------
def t_scheduler_docker_local_scheduler_deploy(scheduler: str, app: str, tag: str = "", process_type: str = "",
                                              *rest: str) -> None:
    """plugins/scheduler-docker-local/scheduler-deploy (only for the docker-local scheduler)."""
    import deploy
    if scheduler == "docker-local":
        deploy.scheduler_deploy(app, tag, process_type)


def t_scheduler_docker_local_scheduler_run(scheduler: str, app: str, env_count: str = "0", *rest: str) -> None:
    """plugins/scheduler-docker-local/scheduler-run (only for the docker-local scheduler)."""
    import deploy
    if scheduler == "docker-local":
        sys.exit(deploy.scheduler_run(app, int(env_count), list(rest)))


def t_scheduler_docker_local_scheduler_stop(scheduler: str, app: str, remove: str = "false", *rest: str) -> None:
    """plugins/scheduler-docker-local/scheduler-stop: every running container of the app stopped
    (removed, with their CONTAINER files, when asked)."""
    if scheduler != "docker-local":
        return
    ids = docker("container", "ls", "-q", "--filter", f"label=com.dokku.app-name={app}").stdout.split()
    if ids:
        timeout = property_get_computed("ps", app, "stop-timeout-seconds", "30")
        docker("container", "stop", f"--time={timeout}", *ids, check=False)
    if remove == "true":
        for cid in docker("container", "ls", "-aq", "--filter", f"label=com.dokku.app-name={app}").stdout.split():
            docker("container", "rm", "--force", cid, check=False)
        for path in (root() / app).glob("CONTAINER.*"):
            path.unlink()


TRIGGERS: Dict[str, Callable[..., None]] = {
    name[2:]: function for name, function in list(globals().items()) if name.startswith("t_")
}


def run_trigger(plugin: str, name: str, args: list) -> None:
    if plugin == "builds" and not builds_plugin():
        return  # plugins/builds ships with v0.38.0: before it, plugn finds no such hook and prints nothing
    function = TRIGGERS.get(f"{plugin}_{name}".replace("-", "_"))
    if function is None:
        fail(f"stand-in plugin {plugin} has no trigger {name}")
    function(*args)
