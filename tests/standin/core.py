#!/usr/bin/python3
"""The stand-in's core plugins and commands (see README.md). Standard library only."""

import fcntl
import json
import os
import secrets
import shlex
import subprocess
import sys
import time
from pathlib import Path
from contextlib import contextmanager
from typing import Dict, Iterator, List, NoReturn, Optional, Tuple

DEPRECATION = " !     Deprecated: please upgrade plugin to use 'pre-release-builder' plugin trigger instead of pre-deploy"
POSTGRES_IMAGE = os.environ.get("STANDIN_POSTGRES_IMAGE", "dm-postgres:15")


def env(name: str) -> str:
    return os.environ[name]


def root() -> Path:
    return Path(env("DOKKU_ROOT"))


def lib_root() -> Path:
    return Path(env("DOKKU_LIB_ROOT"))


def version() -> Tuple[int, int, int]:
    text = (lib_root() / "VERSION").read_text().strip()
    major, minor, patch = text.split(".")[:3]
    return int(major), int(minor), int(patch)


def fail(message: str, code: int = 1) -> NoReturn:
    print(f" !     {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def info(message: str) -> None:
    print(f"-----> {message}", flush=True)


def docker(*args: str, check: bool = True, capture: bool = True, env_extra: Optional[Dict[str, str]] = None,
           quiet: bool = False) -> subprocess.CompletedProcess:
    run_env = dict(os.environ)
    run_env.update(env_extra or {})
    result = subprocess.run([os.environ.get("DOCKER_BIN", "docker"), *args], capture_output=capture, text=True,
                            env=run_env)
    if check and result.returncode != 0:
        fail(f"docker {args[0]} {args[1] if len(args) > 1 else ''} failed: {(result.stderr or '').strip()}")
    return result


def plugn(name: str, *args: str, capture: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(["plugn", "trigger", name, *args], stdin=subprocess.DEVNULL, capture_output=capture,
                          text=True)


# ----- state --------------------------------------------------------------------------------------
def app_dir(app: str) -> Path:
    return root() / app


def require_app(app: str) -> None:
    if not app_dir(app).is_dir():
        fail(f"App {app} does not exist")


def config_path(app: str) -> Path:
    return lib_root() / "config" / app / "ENV.json"


def read_config(app: str) -> Dict[str, str]:
    path = config_path(app)
    return json.loads(path.read_text()) if path.exists() else {}


def write_config(app: str, values: Dict[str, str]) -> None:
    path = config_path(app)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values))
    os.chmod(path, 0o600)


def read_lines(path: Path) -> List[str]:
    return [line for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def property_get(app: str, plugin: str, key: str) -> str:
    path = lib_root() / "config" / plugin / app / key
    return path.read_text() if path.exists() else ""


def property_set(app: str, plugin: str, key: str, value: str) -> None:
    path = lib_root() / "config" / plugin / app / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value)


# ----- core plugin triggers -----------------------------------------------------------------------
def passthrough_stdin() -> str:
    data = sys.stdin.read() if not sys.stdin.isatty() else ""
    return data


def t_config_config_export(app: str, is_global: str, merged: str, fmt: str) -> None:
    values = read_config(app)
    if fmt != "json":
        fail(f"stand-in config-export supports json only, not {fmt}")
    print(json.dumps(values))


def t_config_docker_args_deploy(app: str, *rest: str) -> None:
    keys = " ".join(f"--env={key}" for key in read_config(app))
    print(f"{passthrough_stdin()} {keys}", end="")


def t_docker_options_docker_args_deploy(app: str, *rest: str) -> None:
    options = " ".join(read_lines(app_dir(app) / "DOCKER_OPTIONS_DEPLOY"))
    print(f"{passthrough_stdin()} {options}", end="")


def t_network_docker_args_deploy(app: str, *rest: str) -> None:
    network = property_get(app, "network", "initial-network")
    print(f"{passthrough_stdin()}{' --network=' + network if network else ''}", end="")


def t_network_post_container_create(kind: str, cid: str, app: str, phase: str, *rest: str) -> None:
    network = property_get(app, "network", "attach-post-create")
    if kind == "app" and network:
        docker("network", "connect", network, cid)


def t_registry_post_release_builder(builder: str, app: str, image: str) -> None:
    if version() < (0, 34, 4):
        return
    tag = image.split(":")[-1]
    if any(Path(env("PLUGIN_ENABLED_PATH")).glob("*/pre-deploy")):
        print(DEPRECATION, file=sys.stderr, flush=True)
        sys.exit(plugn("pre-deploy", app, tag).returncode)


def t_scheduler_docker_local_scheduler_deploy(scheduler: str, app: str, tag: str, *rest: str) -> None:
    image = f"dokku/{app}:{tag}"
    if docker("image", "inspect", image, check=False).returncode != 0:
        fail(f"No image {image} to deploy for {app}")
    args = plugn("docker-args-deploy", app, tag, capture=True).stdout
    args += " " + plugn("docker-args-process-deploy", app, "dockerfile", tag, "web", "1", capture=True).stdout
    config = json.loads(plugn("config-export", app, "false", "true", "json", capture=True).stdout or "{}")
    old = docker("container", "ls", "-aq", "--filter", f"label=com.dokku.app-name={app}",
                 "--filter", "label=com.dokku.process-type=web").stdout.split()
    scale = int(property_get(app, "ps", "web") or "1")
    nonce = secrets.token_hex(3)
    new = []
    for index in range(1, scale + 1):
        result = docker("container", "run", "--detach", f"--name={app}.web.{index}.{nonce}",
                        *shlex.split(env("DOKKU_GLOBAL_RUN_ARGS")), f"--label=com.dokku.app-name={app}",
                        "--label=com.dokku.container-type=deploy",  # plugins/scheduler-docker-local/scheduler-deploy
                        "--label=com.dokku.process-type=web", *shlex.split(args), image, env_extra=config)
        new.append(result.stdout.strip())
    time.sleep(0.5)
    for cid in new:
        if docker("container", "inspect", "--format", "{{.State.Running}}", cid).stdout.strip() != "true":
            logs = docker("container", "logs", cid, check=False).stderr
            for cid_new in new:
                docker("container", "rm", "-f", cid_new, check=False)
            fail(f"Container of {app} did not stay up: {logs.strip()[-300:]}")
    for cid in old:
        docker("container", "rm", "-f", cid, check=False)
    info(f"Application deployed: {app} ({image})")


def run_trigger(plugin: str, name: str, args: List[str]) -> None:
    function = globals().get(f"t_{plugin}_{name}".replace("-", "_"))
    if function is None:
        fail(f"stand-in plugin {plugin} has no trigger {name}")
    function(*args)


# ----- deploy path --------------------------------------------------------------------------------
def release_and_deploy(app: str, tag: str = "latest") -> None:
    """builder-release → post-release-builder → (old Dokku: pre-deploy) → scheduler-deploy."""
    image = f"dokku/{app}:{tag}"
    v = version()
    if v >= (0, 32, 0):
        code = plugn("pre-release-builder", "dockerfile", app, image).returncode
        if code:
            sys.exit(code)
    relabel(app, image)
    code = plugn("post-release-builder", "dockerfile", app, image).returncode
    if code:
        sys.exit(code)
    if v < (0, 34, 4):
        code = plugn("pre-deploy", app, tag).returncode
        if code:
            sys.exit(code)
    code = plugn("scheduler-deploy", "docker-local", app, tag).returncode
    if code:
        sys.exit(code)


def relabel(app: str, image: str) -> None:
    """Step 2 of the release: the image is rebuilt with Dokku's labels under the same name."""
    dockerfile = f"FROM {image}\nLABEL com.dokku.image-stage=release com.dokku.app-name={app}\n"
    result = subprocess.run([os.environ.get("DOCKER_BIN", "docker"), "image", "build", "--quiet", "--tag", image, "-"],
                            input=dockerfile, capture_output=True, text=True,
                            env={**os.environ, "DOCKER_BUILDKIT": "0"})
    if result.returncode != 0:
        fail(f"Could not label the release image: {result.stderr.strip()}")


@contextmanager
def deploy_lock(app: str) -> Iterator[None]:
    """git_receive_app's deploy lock (plugins/common/functions acquire_advisory_lock,
    release_advisory_lock): fd 200 opened with truncation, `flock -n`, the build id written into the
    file; on release `flock -u` and `rm -f`, so `apps:locked` sees no file once the deploy is over."""
    path = lib_root() / "data" / "apps" / app / ".deploy.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(handle, 200)
    os.close(handle)
    try:
        fcntl.flock(200, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print(f" !     {app} currently has a deploy lock in place. Exiting...", file=sys.stderr, flush=True)
        fail("Run 'apps:unlock' to release the existing deploy lock")
    os.write(200, f"{os.environ.get('DOKKU_BUILD_ID') or 'pid-' + str(os.getpid())}\n".encode())
    try:
        yield
    finally:
        fcntl.flock(200, fcntl.LOCK_UN)
        path.unlink(missing_ok=True)


# ----- commands -----------------------------------------------------------------------------------
def c_apps_create(app: str) -> None:
    app_dir(app).mkdir(parents=True)
    (lib_root() / "data" / "apps" / app).mkdir(parents=True, exist_ok=True)
    info(f"Creating {app}...")


def c_apps_destroy(app: str, *rest: str) -> None:
    require_app(app)
    for cid in docker("container", "ls", "-aq", "--filter", f"label=com.dokku.app-name={app}").stdout.split():
        docker("container", "rm", "-f", cid, check=False)
    code = plugn("post-delete", app, "latest").returncode
    for path in (app_dir(app), lib_root() / "config" / app, lib_root() / "data" / "apps" / app):
        subprocess.run(["rm", "-rf", str(path)])
    for tag in docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", f"dokku/{app}").stdout.split():
        docker("image", "rm", "-f", tag, check=False)
    sys.exit(code)


def copy_app_state(old: str, new: str) -> None:
    subprocess.run(["cp", "-a", f"{app_dir(old)}/.", str(app_dir(new))], check=True)
    write_config(new, read_config(old))
    if docker("image", "inspect", f"dokku/{old}:latest", check=False).returncode == 0:
        docker("image", "tag", f"dokku/{old}:latest", f"dokku/{new}:latest")


def c_apps_rename(old: str, new: str) -> None:
    require_app(old)
    app_dir(new).mkdir(parents=True)
    (lib_root() / "data" / "apps" / new).mkdir(parents=True, exist_ok=True)
    code = plugn("post-app-rename-setup", old, new).returncode
    if code:
        sys.exit(code)
    copy_app_state(old, new)
    for cid in docker("container", "ls", "-aq", "--filter", f"label=com.dokku.app-name={old}").stdout.split():
        docker("container", "rm", "-f", cid, check=False)
    code = plugn("post-delete", old, "latest").returncode
    subprocess.run(["rm", "-rf", str(app_dir(old)), str(lib_root() / "config" / old)])
    if code:
        sys.exit(code)
    plugn("post-app-rename", old, new)
    if (app_dir(new) / "SOURCE_IMAGE").exists():
        c_ps_rebuild(new)


def c_apps_clone(old: str, new: str) -> None:
    require_app(old)
    app_dir(new).mkdir(parents=True)
    (lib_root() / "data" / "apps" / new).mkdir(parents=True, exist_ok=True)
    copy_app_state(old, new)
    code = plugn("post-app-clone-setup", old, new).returncode
    if code:
        sys.exit(code)
    plugn("post-app-clone", old, new)
    if (app_dir(new) / "SOURCE_IMAGE").exists():
        c_ps_rebuild(new)


def c_config_set(*args: str) -> None:
    items = [a for a in args if a != "--no-restart"]
    app, pairs = items[0], items[1:]
    require_app(app)
    values = read_config(app)
    for pair in pairs:
        key, _, value = pair.partition("=")
        values[key] = value
    write_config(app, values)
    if "--no-restart" not in args and (app_dir(app) / "SOURCE_IMAGE").exists():
        release_and_deploy(app)


def c_docker_options_add(app: str, phases: str, option: str) -> None:
    require_app(app)
    if "deploy" in phases.split(","):
        path = app_dir(app) / "DOCKER_OPTIONS_DEPLOY"
        path.write_text("".join(line + "\n" for line in read_lines(path) + [option]))


def c_network_set(app: str, key: str, value: str) -> None:
    require_app(app)
    property_set(app, "network", key, value)


def c_git_from_image(app: str, image: str) -> None:
    require_app(app)
    if docker("image", "inspect", image, check=False).returncode != 0:
        fail(f"Image {image} not found")
    with deploy_lock(app):
        (app_dir(app) / "SOURCE_IMAGE").write_text(image)
        docker("image", "tag", image, f"dokku/{app}:latest")
        release_and_deploy(app)


def c_ps_rebuild(app: str) -> None:
    require_app(app)
    source = app_dir(app) / "SOURCE_IMAGE"
    if not source.exists():
        fail(f"App {app} has not been deployed")
    docker("image", "tag", source.read_text(), f"dokku/{app}:latest")
    release_and_deploy(app)


def c_ps_restart(app: str) -> None:
    require_app(app)
    sys.exit(plugn("scheduler-deploy", "docker-local", app, "latest").returncode)


def c_ps_scale(app: str, *pairs: str) -> None:
    require_app(app)
    for pair in pairs:
        process, _, count = pair.partition("=")
        property_set(app, "ps", process, count)
    sys.exit(plugn("scheduler-deploy", "docker-local", app, "latest").returncode)


def c_deploy(app: str, *rest: str) -> None:
    c_ps_restart(app)


def c_postgres_create(service: str) -> None:
    password = secrets.token_hex(12)
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
            info(f"Postgres container created: {service}")
            return
        time.sleep(0.1)
    fail(f"Postgres service {service} did not become ready")


def c_postgres_link(service: str, app: str) -> None:
    require_app(app)
    password = (lib_root() / "services" / "postgres" / service / "PASSWORD").read_text()
    database = service.replace(".", "_").replace("-", "_")
    c_docker_options_add(app, "build,deploy,run", f"--link dokku.postgres.{service}:dokku-postgres-{service}")
    c_config_set("--no-restart", app,
                 f"DATABASE_URL=postgres://postgres:{password}@dokku-postgres-{service}:5432/{database}")


def c_postgres_destroy(service: str, *rest: str) -> None:
    docker("container", "rm", "-f", f"dokku.postgres.{service}", check=False)
    subprocess.run(["rm", "-rf", str(lib_root() / "services" / "postgres" / service)])


def c_help() -> None:
    """`dokku help`: every plugin's `commands help` line, sorted and columnized on the comma."""
    lines = []
    for plugin in sorted(Path(env("PLUGIN_ENABLED_PATH")).iterdir()):
        commands = plugin / "commands"
        if commands.is_file() and os.access(commands, os.X_OK):
            result = subprocess.run([str(commands), "help"], capture_output=True, text=True)
            lines += [line for line in result.stdout.splitlines() if line.strip()]
    rows = [line.split(",", 1) for line in sorted(lines)]
    width = max((len(name) for name, *_ in rows), default=0)
    print("Usage: dokku [--quiet|--trace|--force] COMMAND <app> [command-specific-options]\n\nCommands:\n")
    for name, *text in rows:
        print(f"{name.ljust(width)}  {''.join(text).strip()}")


def plugin_command(argv: List[str]) -> None:
    """Dokku's dispatch: subcommands/<sub> of the namespace's plugin, else every `commands` until one
    exits with something other than DOKKU_NOT_IMPLEMENTED_EXIT."""
    namespace, _, sub = argv[0].partition(":")
    enabled = Path(env("PLUGIN_ENABLED_PATH"))
    subcommand = enabled / namespace / "subcommands" / (sub or "default")
    if subcommand.is_file() and os.access(subcommand, os.X_OK):
        sys.exit(subprocess.call([str(subcommand), *argv]))
    for plugin in sorted(enabled.iterdir()):
        commands = plugin / "commands"
        if commands.is_file() and os.access(commands, os.X_OK):
            code = subprocess.call([str(commands), *argv])
            if code != int(env("DOKKU_NOT_IMPLEMENTED_EXIT")):
                sys.exit(code)
    fail(f"`{argv[0]}` is not a dokku command.")


def main(argv: List[str]) -> None:
    os.environ.setdefault("DOKKU_NOT_IMPLEMENTED_EXIT", "10")
    os.environ.setdefault("DOKKU_GLOBAL_RUN_ARGS", "--label=org.label-schema.schema-version=1.0 "
                          "--label=org.label-schema.vendor=dokku --label=dokku")
    os.environ.setdefault("DOCKER_BIN", "docker")
    if argv and argv[0] == "--trigger":
        run_trigger(argv[1], argv[2], argv[3:])
        return
    if not argv:
        fail("usage: dokku COMMAND")
    function = globals().get("c_" + argv[0].replace(":", "_").replace("-", "_"))
    if function is not None:
        function(*argv[1:])
        return
    plugin_command(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
