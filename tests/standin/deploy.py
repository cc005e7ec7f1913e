"""Dokku's deploy path, step by step as its bash does it: build capture, the deploy lock, the build
from the app's repository, the release (builder-release) and the docker-local scheduler."""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import appjson
import procfile
from state import (
    bash_random,
    builds_plugin,
    docker,
    env,
    fail,
    go_trigger_quiet,
    image_exists,
    info1,
    info2,
    lib_root,
    log_fail_with_error,
    merged_config,
    plugn,
    property_get,
    read_config,
    root,
    token_hex,
    trigger_exists,
    verbose,
    version,
    warn,
    write_config,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from typing import Dict, Iterator, List, Optional, Tuple

DEPRECATED_PRE_DEPLOY = ("Deprecated: please upgrade plugin to use 'pre-release-builder' plugin trigger instead of "
                         "pre-deploy")
LOCK_FD = 200


def image_name(app: str, tag: str = "") -> str:
    """plugins/common/functions get_app_image_name (get_app_image_repo: `dokku/<app>`)."""
    return f"dokku/{app}:{tag or 'latest'}"


# ----- build capture (plugins/common/functions dokku_setup_build_capture, since v0.38.0) ----------
def setup_build_capture(app: str, source: str) -> None:
    """plugins/common/functions dokku_setup_build_capture: generates the build id, writes the build
    record (pid = this process, whose process group `builds:cancel` signals), then
    `exec &> >(tee -a LOG …)`: from here on this process and everything it starts write into a `tee`
    in the same process group, so stderr reaches the caller's stdout, and once tee is gone every later
    write fails with EPIPE/SIGPIPE."""
    if os.environ.get("DOKKU_REDIRECT_OUTPUT") == "true" or not app or not builds_plugin():
        return
    os.environ["DOKKU_REDIRECT_OUTPUT"] = "true"
    if not os.environ.get("DOKKU_BUILD_ID"):
        generated = plugn("builds-generate-id", capture=True).stdout.strip()
        os.environ["DOKKU_BUILD_ID"] = generated or f"pid-{env('DOKKU_PID')}"
    os.environ["DOKKU_BUILD_SOURCE"] = source
    directory = lib_root() / "data" / "builds" / app
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / f"{env('DOKKU_BUILD_ID')}.log"
    log.write_text("")
    os.environ["DOKKU_BUILD_LOG_FILE"] = str(log)
    plugn("builds-record-start", app, env("DOKKU_BUILD_ID"), str(os.getpid()), source)
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    import subprocess
    subprocess.Popen(["tee", "-a", str(log)], stdin=read_end, close_fds=True)
    os.close(read_end)
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)


# ----- the deploy lock (plugins/common/functions acquire_app_deploy_lock, release_app_deploy_lock) --
def lock_path(app: str) -> Path:
    """plugins/apps/functions.go getLockPath: $DOKKU_LIB_ROOT/data/apps/<app>/.deploy.lock since v0.34.0;
    up to v0.33.9 $DOKKU_ROOT/<app>/.deploy.lock (acquire_app_deploy_lock; appIsLocked, CommandLock and
    CommandUnlock: common.AppRoot)."""
    if version() < (0, 34, 0):
        return root() / app / ".deploy.lock"
    return lib_root() / "data" / "apps" / app / ".deploy.lock"


@contextmanager
def app_deploy_lock(app: str) -> Iterator[List[int]]:
    """acquire_advisory_lock "exclusive": fd 200 opened with `>` (truncated before the lock is
    tried), `flock -n`, then the build id written into the file (v0.34.0 – v0.37.x: `$DOKKU_PID`;
    up to v0.33.9 nothing: the file stays empty). release: builds-record-finalize (v0.38.0+), then
    `flock -u 200 && rm -f`, in every version. fd 200 stays open in every child, as bash leaves it.
    The yielded list receives the exit code for builds-record-finalize."""
    if builds_plugin() and not os.environ.get("DOKKU_BUILD_ID"):
        generated = plugn("builds-generate-id", capture=True).stdout.strip()
        os.environ["DOKKU_BUILD_ID"] = generated or f"pid-{env('DOKKU_PID')}"
    path = lock_path(app)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(handle, LOCK_FD)
    os.close(handle)
    try:
        fcntl.flock(LOCK_FD, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        warn(f"{app} currently has a deploy lock in place. Exiting...")
        fail("Run 'apps:unlock' to release the existing deploy lock")
    if version() >= (0, 34, 0):
        holder = os.environ.get("DOKKU_BUILD_ID") if builds_plugin() else ""
        path.write_text(f"{holder or env('DOKKU_PID')}\n")
    exit_code = [0]
    try:
        yield exit_code
    finally:
        if os.environ.get("DOKKU_BUILD_ID") and builds_plugin():
            plugn("builds-record-finalize", app, env("DOKKU_BUILD_ID"), str(exit_code[0]))
        fcntl.flock(LOCK_FD, fcntl.LOCK_UN)
        path.unlink(missing_ok=True)
        os.close(LOCK_FD)


# ----- the app's repository (plugins/git): a deploy branch of commits, each a build context --------
def commits_dir(app: str) -> Path:
    return root() / app / "standin-commits"


def branch_ref(app: str) -> Path:
    """`$DOKKU_ROOT/<app>/refs/heads/<deploy-branch>` of the bare repo post-create made (fn-git-create-hook)."""
    return root() / app / "refs" / "heads" / "master"


def head(app: str) -> str:
    ref = branch_ref(app)
    return ref.read_text().strip() if ref.is_file() else ""


def commit(app: str, dockerfile: str) -> Optional[str]:
    """plugins/git/git-from-directory: a commit on the deploy branch, or None for "No changes detected"."""
    current = head(app)
    if current and (commits_dir(app) / current / "Dockerfile").read_text() == dockerfile:
        return None
    rev = token_hex(20)
    directory = commits_dir(app) / rev
    directory.mkdir(parents=True)
    (directory / "Dockerfile").write_text(dockerfile)
    (directory / "parent").write_text(current)
    branch_ref(app).parent.mkdir(parents=True, exist_ok=True)
    branch_ref(app).write_text(rev + "\n")
    return rev


def reset_branch(app: str, rev: str) -> None:
    """plugins/git/git-from-directory trigger-git-git-from-directory after a failed deploy: the deploy
    branch goes back to the commit before (`update-ref … ^`), or is deleted after a first one."""
    parent = (commits_dir(app) / rev / "parent").read_text()
    if parent:
        branch_ref(app).write_text(parent + "\n")
    else:
        branch_ref(app).unlink(missing_ok=True)


def git_receive_app(app: str, rev: str = "") -> int:
    """plugins/git/functions git_receive_app: nothing without a repository, else build under the
    exclusive deploy lock."""
    if not (root() / app / "refs").is_dir():
        return 0
    with app_deploy_lock(app) as exit_code:
        exit_code[0] = git_build(app, rev)
        return exit_code[0]


def git_build(app: str, rev: str) -> int:
    """plugins/git/functions git_build: GIT_REV set without a restart for a given revision; otherwise
    the deploy branch's head, or a warning on stdout and failure when there is none."""
    if rev:
        values = read_config(app)
        values["GIT_REV"] = rev
        write_config(app, values)
        ref = rev
    else:
        ref = head(app)
        if not ref:
            print("\x1b[1G\x1b[K-----> WARNING: Cannot build from 'master' as there are no commits stored at that "
                  "branch.", flush=True)
            return 1
    return git_build_app_repo(app, ref)


def git_build_app_repo(app: str, rev: str) -> int:
    """plugins/git/functions git_build_app_repo → git_trigger_build: core-post-extract (app-json and ps
    copy app.json and the Procfile out of the source image), then dokku_receive with the builder
    `builder-detect` names."""
    work_dir = commits_dir(app) / rev
    code = plugn("core-post-extract", app, str(work_dir), rev).returncode
    if code:
        return code
    return dokku_receive(app, builder_detect(app), work_dir)


def builder_detect(app: str) -> str:
    """plugins/builder/triggers.go TriggerBuilderDetect: the app's `selected` builder property, else the
    global one; else each builder's own detection, where builder-dockerfile wins for a repository with
    a Dockerfile (every repository here has one)."""
    return property_get("builder", app, "selected") or property_get("builder", "--global", "selected") or \
        "dockerfile"


def dokku_receive(app: str, builder: str, work_dir: Path) -> int:
    """plugins/common/functions dokku_receive: docker_cleanup, the build, then release-and-deploy."""
    docker_cleanup(app)
    if dokku_build(app, builder, work_dir):
        return 1
    return plugn("release-and-deploy", app).returncode


def dokku_build(app: str, builder: str, work_dir: Path) -> int:
    """plugins/common/functions dokku_build: the app's release-stage image ids are listed before the
    build; when builder-build fails, `docker image tag "$RELEASED_IMAGE_ID" IMAGE || true` puts latest
    back (it fails, silently, unless exactly one id was listed), or the invalid tag is removed when
    none was; then "App build failed". A build killed outright (builds:cancel) does none of this."""
    image = image_name(app)
    released = docker("image", "ls", "--filter", "label=com.dokku.image-stage=release", "--filter",
                      f"label=com.dokku.app-name={app}", "--format", "{{.ID}}", check=False).stdout.strip()
    if (herokuish_build if builder == "herokuish" else builder_build)(app, work_dir) == 0:
        return 0
    if released:
        warn(f"Retagging old image {released} as {image}")
        docker("image", "tag", released, image, check=False)
    else:
        warn(f"Removing invalid image tag {image}")
        docker("image", "remove", "--force", "--no-prune", image, check=False)
    warn("App build failed")
    return 1


def docker_cleanup(app: str) -> None:
    """plugins/common/docker.go DockerCleanup: exited containers of the app removed, and
    `docker image prune --all --force --filter label=com.dokku.app-name=<app>` (every unused image of
    the app, whatever its tag)."""
    exited = docker("container", "ls", "-aq", "--filter", "label=dokku", "--filter", f"label=com.dokku.app-name={app}",
                    "--filter", "status=exited", check=False).stdout.split()
    for cid in exited:
        docker("container", "rm", cid, check=False)
    docker("image", "prune", "--all", "--force", "--filter", f"label=com.dokku.app-name={app}", check=False)


def image_build(*args: str, dockerfile: Optional[str] = None) -> subprocess.CompletedProcess:
    """`docker image build --quiet ARGS` with Docker's classic builder, as the Docker of the test
    machines builds (`-`: the Dockerfile given on stdin)."""
    return docker("image", "build", "--quiet", *args, check=False, env_extra={"DOCKER_BUILDKIT": "0"},
                  input_text=dockerfile)


def builder_build(app: str, work_dir: Path) -> int:
    """plugins/builder-dockerfile/builder-build: `docker image build` of the repository with Dokku's
    build labels, tagged dokku/<app>:latest (git:from-image's Dockerfile is `FROM <image>` + a label,
    so the app's image is a new image, not the one the user named); then (ports-set-detected, not
    modelled, and) `post-build BUILDER_TYPE APP SOURCECODE_WORK_DIR` since v0.32.0, before it
    `post-build-dockerfile APP` (v0.31.5 plugins/builder-dockerfile/builder-build), whose failure fails
    the build (`set -eo pipefail`). The deprecated hook's warning since v0.32.0 is not modelled."""
    info1(f"Building {app} from Dockerfile")
    labels = ["--label=org.label-schema.schema-version=1.0", "--label=org.label-schema.vendor=dokku",
              "--label=com.dokku.image-stage=build", "--label=com.dokku.builder-type=dockerfile",
              f"--label=com.dokku.app-name={app}", "--label=dokku"]
    result = image_build(*labels, "--tag", image_name(app), str(work_dir))
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        return 1
    if version() < (0, 32, 0):
        return plugn("post-build-dockerfile", app).returncode
    return plugn("post-build", "dockerfile", app, str(work_dir)).returncode


def herokuish_build(app: str, work_dir: Path) -> int:
    """plugins/builder-herokuish/builder-build, its outcome only: an image tagged dokku/<app>:latest with
    the herokuish build labels (its `docker container commit --change LABEL …`), then post-build
    (post-build-buildpack before 0.32.0). The buildpack compile
    itself is not modelled: the repository's image (git:from-image's `FROM <image>`) stands for the
    compiled app, so a test's image plays the slug herokuish would have built."""
    info1(f"Building {app} from herokuish")
    labels = ["--label=org.label-schema.schema-version=1.0", "--label=org.label-schema.vendor=dokku",
              "--label=com.dokku.image-stage=build", "--label=com.dokku.builder-type=herokuish",
              f"--label=com.dokku.app-name={app}", "--label=dokku"]
    result = image_build(*labels, "--tag", image_name(app), str(work_dir))
    if result.returncode != 0:
        warn("Failure extracting app code")
        sys.stderr.write(result.stderr)
        return 1
    if version() < (0, 32, 0):
        return plugn("post-build-buildpack", app, str(work_dir)).returncode
    return plugn("post-build", "herokuish", app, str(work_dir)).returncode


# ----- release (plugins/common/functions release_and_deploy, dokku_release; builder-release) ------
def release_and_deploy(app: str, tag: str = "", source: str = "deploy") -> int:
    """`release-and-deploy APP [TAG] [SOURCE]`: build capture if nobody has it yet; nothing at all when
    dokku/<app>:<tag> is missing; release, then deploy unless it failed; builds-record-finalize."""
    tag = tag or "latest"
    setup_build_capture(app, source)
    image = image_name(app, tag)
    exit_code = 0
    if image_exists(image):
        if version() == (0, 25, 0):  # v0.25.0 plugins/common/functions release_and_deploy
            exit_code = plugn("pre-deploy", app, tag).returncode
        if exit_code == 0:
            info1(f"Releasing {app}...")
            builder = image_builder_type(image)
            exit_code = (herokuish_release(app, tag) if builder == "herokuish" else
                         builder_release(builder, app, tag))
        if exit_code == 0:
            info1(f"Deploying {app} via the docker-local scheduler...")
            exit_code = cmd_deploy(app, tag)
            if exit_code == 0:
                info2("Application deployed:")
        print(flush=True)
    if os.environ.get("DOKKU_BUILD_ID") and builds_plugin():
        plugn("builds-record-finalize", app, env("DOKKU_BUILD_ID"), str(exit_code))
    return exit_code


def builder_release(builder: str, app: str, tag: str) -> int:
    """plugins/builder-dockerfile/builder-release: pre-release-builder (since v0.32.0), the relabel,
    post-release-builder."""
    image = image_name(app, tag)
    if version() >= (0, 32, 0):
        code = plugn("pre-release-builder", builder, app, image).returncode
        if code:
            return code
    if not relabel(app, image):
        warn("Failure injecting docker labels on image")
        return 1
    return plugn("post-release-builder", builder, app, image).returncode


def image_builder_type(image: str) -> str:
    """plugins/common/functions get_image_builder_type: the image's com.dokku.builder-type label, else
    herokuish when the image's env holds USER=herokuishuser (common.IsImageHerokuishBased), else dockerfile."""
    found = docker("image", "inspect", "--format",
                   '{{index .Config.Labels "com.dokku.builder-type"}}\t{{json .Config.Env}}', image).stdout
    label, _, env_json = found.strip().partition("\t")
    if label:
        return label
    return "herokuish" if "USER=herokuishuser" in (json.loads(env_json or "null") or []) else "dockerfile"


PRE_RELEASE_DOCKERFILE = """ARG APP_IMAGE
FROM $APP_IMAGE

ARG DOKKU_APP_USER=herokuishuser
COPY --chown=$DOKKU_APP_USER 00-global-env.sh 01-app-env.sh /app/.profile.d/
"""
RELEASE_DOCKERFILE = PRE_RELEASE_DOCKERFILE + """\
RUN find "/app" \\( \\! -user "$DOKKU_APP_USER" -o \\! -group "$DOKKU_APP_USER" \\) -print0 | \\
    xargs -0 -r chown "$DOKKU_APP_USER:$DOKKU_APP_USER"
USER $DOKKU_APP_USER
ENV HEROKUISH_SETUIDGUID false
"""


def herokuish_release(app: str, tag: str) -> int:
    """plugins/builder-herokuish/builder-release: the app's and the global config exported (config_export,
    format `exports`) into /app/.profile.d by a build FROM the image (builder-pre-release.Dockerfile),
    tagged under the same name *before* pre-release-builder; then builder-release.Dockerfile (the same
    copy, the files chowned to DOKKU_APP_USER, USER set), post-release-builder. Each build is FROM the
    image it replaces, so every release — config:set, ps:start of a stopped app — has a new image id."""
    image = image_name(app, tag)
    user = read_config(app).get("DOKKU_APP_USER") or "herokuishuser"
    labels = ["--label=org.label-schema.schema-version=1.0", "--label=org.label-schema.vendor=dokku",
              f"--label=com.dokku.app-name={app}", "--label=com.dokku.image-stage=release", "--label=dokku"]
    import tempfile
    with tempfile.TemporaryDirectory(prefix=f"dokku-{env('DOKKU_PID')}-builder-release.") as work:
        (Path(work) / "00-global-env.sh").write_text(exports(read_config("--global")))
        (Path(work) / "01-app-env.sh").write_text(exports(read_config(app)))
        for name, dockerfile in (("pre-release", PRE_RELEASE_DOCKERFILE), ("release", RELEASE_DOCKERFILE)):
            (Path(work) / f"builder-{name}.Dockerfile").write_text(dockerfile)
        for name, trigger in (("pre-release", "pre-release-builder"), ("release", "post-release-builder")):
            result = image_build(*labels, "-f", str(Path(work) / f"builder-{name}.Dockerfile"),
                                 "--build-arg", f"APP_IMAGE={image}", "--build-arg", f"DOKKU_APP_USER={user}",
                                 "-t", image, work)
            if result.returncode != 0:
                warn("Failure injecting environment variables")
                return 1
            if trigger == "pre-release-builder" and version() < (0, 32, 0):
                continue
            code = plugn(trigger, "herokuish", app, image).returncode
            if code:
                return code
    return 0


def exports(values: Dict[str, str]) -> str:
    """plugins/config/environment.go ExportfileString: `export KEY='value'` per line, keys sorted, a
    single quote written as '\\''."""
    return "\n".join(f"export {key}='" + values[key].replace("'", "'\\''") + "'" for key in sorted(values))


def relabel(app: str, image: str) -> bool:
    """builder-release's `docker image build` of builder-release.Dockerfile (`FROM $APP_IMAGE`) with
    Dokku's release labels, under the same name."""
    labels = ["--label=org.label-schema.schema-version=1.0", "--label=org.label-schema.vendor=dokku",
              f"--label=com.dokku.app-name={app}", "--label=com.dokku.image-stage=release", "--label=dokku"]
    result = image_build(*labels, "--build-arg", f"APP_IMAGE={image}", "--tag", image, "-",
                         dockerfile="ARG APP_IMAGE\nFROM $APP_IMAGE\n")
    return result.returncode == 0


def cmd_deploy(app: str, tag: str, process_type: str = "") -> int:
    """plugins/common/functions cmd-deploy: scheduler-deploy with the tag exactly as given."""
    return plugn("scheduler-deploy", "docker-local", app, tag, process_type).returncode


# ----- docker-local scheduler (plugins/scheduler-docker-local/scheduler-deploy) --------------------
def running_image_tag(app: str, tag: str) -> str:
    """plugins/common/functions get_running_image_tag: deployed-app-image-tag, else the tag, else latest
    (a failing trigger is not noticed: what it printed still counts)."""
    deployed = plugn("deployed-app-image-tag", app, capture=True).stdout.strip()
    return deployed or tag or "latest"


def go_running_image_tag(app: str) -> Tuple[str, Optional[str]]:
    """plugins/common/common.go GetRunningImageTag(app, ""): (tag, error). A failing
    deployed-app-image-tag is an error, the tag then empty; else its trimmed output, else latest."""
    code, output, error = go_trigger_quiet("deployed-app-image-tag", app)
    if code:
        return "", error
    return output.strip() or "latest", None


def deploying_image_name(app: str, tag: str) -> str:
    """plugins/common/functions get_deploying_app_image_name."""
    tag = running_image_tag(app, tag)
    repository = plugn("deployed-app-repository", app, capture=True).stdout.strip()
    repo = plugn("deployed-app-image-repo", app, capture=True).stdout.strip() or f"dokku/{app}"
    image = f"{repository}{repo}:{tag}"
    if not image_exists(image):
        fail(f"App image ({image}) not found")
    return image


def container_files(app: str, process_type: str = "") -> Dict[str, str]:
    """`$DOKKU_ROOT/<app>/CONTAINER.<type>.<index>` → container id (get_app_container_ids)."""
    found = {}
    for path in sorted((root() / app).glob("CONTAINER.*")):
        kind = path.name.split(".")[1]
        if not process_type or kind == process_type:
            found[path.name] = path.read_text().strip()
    return found


def current_scale(app: str) -> Dict[str, int]:
    """plugins/ps/triggers.go TriggerPsCurrentScale: the ps `scale` property (web=1 from post-create)."""
    lines = property_get("ps", app, "scale", "web=1").split()
    return {line.split("=")[0]: int(line.split("=")[1]) for line in lines}


def scheduler_deploy(app: str, tag: str, process_type: str) -> None:
    """The docker-local scheduler: every web container created with Dokku's labels and args,
    `post-container-create`, started, checked; then `-----> Running post-deploy`, core-post-deploy and
    post-deploy with empty port and ip and the tag as given; then the old containers are retired."""
    # v0.24.10 plugins/scheduler-docker-local/scheduler-deploy trigger-scheduler-docker-local-scheduler-deploy
    if version() < (0, 25, 0):
        code = plugn("pre-deploy", app, tag).returncode
        if code:
            sys.exit(code)
    image = deploying_image_name(app, tag)
    old = container_files(app, process_type)
    for kind, count in current_scale(app).items():
        if process_type and kind != process_type:
            continue
        for index in range(1, count + 1):
            start_process_container(app, image, tag, kind, index)
        for name in [name for name in old if name.startswith(f"CONTAINER.{kind}.")]:
            if int(name.split(".")[2]) > count:
                (root() / app / name).unlink()
    info1("Running post-deploy")
    for trigger in ("core-post-deploy", "post-deploy"):
        code = plugn(trigger, app, "", "", tag).returncode
        if code:
            sys.exit(code)
    current = set(container_files(app).values())
    for cid in old.values():
        if cid not in current:
            docker("container", "rm", "--force", cid, check=False)


def start_process_container(app: str, image: str, tag: str, kind: str, index: int) -> None:
    """plugins/scheduler-docker-local/bin/scheduler-deploy-process-container main: create (config in
    the docker client's environment: internal-functions fn-scheduler-docker-local-start-app-container),
    post-container-create, start, check-deploy (see uptime_check); then CONTAINER.<type>.<index> names
    the new container."""
    dyno = f"{kind}.{index}"
    args = plugn("docker-args-deploy", app, tag, kind, str(index), capture=True, stdin_text="").stdout
    args += f" --label=com.dokku.process-type={kind} --label=com.dokku.dyno={dyno} --env=DYNO={dyno}"
    args += f" --name={app}.{dyno}.upcoming-{bash_random()} --init"
    args += f" --label=com.dokku.app-name={app} --label=com.dokku.container-type=deploy {env('DOKKU_GLOBAL_RUN_ARGS')} "
    args += plugn("docker-args-process-deploy", app, "dockerfile", tag, kind, str(index), capture=True,
                  stdin_text="").stdout
    args += " --env=PORT=5000"
    created = docker("container", "create", *shlex.split(args), image, env_extra=merged_config(app), check=False)
    if created.returncode != 0:
        fail(f"Could not create the {dyno} container: {created.stderr.strip()}")
    cid = created.stdout.strip()
    plugn("post-container-create", "app", cid, app, "deploy", kind)
    docker("container", "start", cid, check=False)
    if not uptime_check(cid):
        logs = docker("container", "logs", cid, check=False)
        docker("container", "rm", "--force", cid, check=False)
        warn(f"Could not start due to 1 failed checks ({dyno})")
        info2(f"Start of {app} container output ({cid[:9]} {dyno})")
        for line in (logs.stdout + logs.stderr).splitlines():
            verbose(line)
        info2(f"End of {app} container output ({cid[:9]} {dyno})")
        sys.exit(1)
    (root() / app / f"CONTAINER.{dyno}").write_text(cid + "\n")


def uptime_check(cid: str) -> bool:
    """plugins/scheduler-docker-local/check-deploy without app.json healthchecks: the default uptime
    check of docker-container-healthchecker (`add --if-empty --uptime $DEFAULT_WAIT`, DEFAULT_WAIT the
    checks plugin's global `default-wait` property, 10 by default; dokku/docker-container-healthchecker
    appjson/healthcheck.go executeUptimeCheck): wait until the container has been up that many whole
    seconds, then it must be running and never restarted (by its --restart policy after a crash)."""
    time.sleep(int(property_get("checks", "--global", "default-wait") or "10"))
    state = docker("container", "inspect", "--format", "{{.State.Running}} {{.RestartCount}}", cid).stdout.split()
    return state == ["true", "0"]


def scheduler_run(app: str, env_count: int, rest: List[str]) -> int:
    """plugins/scheduler-docker-local/scheduler-run: a one-off container of the image
    get_deploying_app_image_name resolves (get_running_image_tag: the registry's tag, else latest),
    refused unless its `com.dokku.image-stage` label is `release`; docker-args-run and
    docker-args-process-run, `DYNO` and `--name APP.TYPE.N` (TYPE `cron` with DOKKU_CRON_ID, which also
    labels the container; the `forbid`/`replace` concurrency policies are not modelled), `--rm` for
    DOKKU_RM_CONTAINER (the environment's, else the app's or the global config value), `--env` for each
    RUN_ENV pair, a Procfile key run as its command, the run labels; created with the app's config in
    the client's environment (internal-functions fn-scheduler-docker-local-start-app-container),
    post-container-create, `start --attach` (no TTY here), the exit code from `container wait`, else
    start's; scheduler-post-run. Herokuish and CNB images (`/exec`, their process args) are not modelled."""
    run_env, command = rest[:env_count], rest[env_count:]
    tag = running_image_tag(app, "")
    image = deploying_image_name(app, tag)
    stage = docker("image", "inspect", "-f", '{{ index .Config.Labels "com.dokku.image-stage" }}', image).stdout.strip()
    if stage != "release":
        warn(f"Invalid image stage detected: expected 'release', got '{stage}'")
        warn("Successfully deploy your app to fix dokku run calls")
        return 1
    config = merged_config(app)
    remove = os.environ.get("DOKKU_RM_CONTAINER") or read_config(app).get("DOKKU_RM_CONTAINER") \
        or read_config("--global").get("DOKKU_RM_CONTAINER", "")
    args = plugn("docker-args-run", app, tag, capture=True, stdin_text="").stdout
    process_type = "run"
    cron_id = os.environ.get("DOKKU_CRON_ID", "")
    if cron_id:
        process_type = "cron"
        policy = os.environ.get("DOKKU_CONCURRENCY_POLICY") or "allow"
        args += f" --label=com.dokku.cron-id={cron_id} --label=com.dokku.concurrency-policy={policy}"
    dyno = bash_random()
    args += " " + plugn("docker-args-process-run", app, "dockerfile", tag, capture=True, stdin_text="").stdout
    args += f" -e DYNO={process_type}.{dyno} --name {app}.{process_type}.{dyno}"
    if remove:
        args += " --rm"
    for pair in run_env:
        args += f" --env={pair}"
    for flag in os.environ.get("DOKKU_GLOBAL_FLAGS", "").split():
        if flag.startswith("--label"):
            args += f" {flag}"
    if command[:1] == ["--"]:
        command = command[1:]
    if command:
        found = procfile_command(app, command[0])
        if found:
            info1(f"Found '{command[0]}' in Procfile, running that command")
            args += f" --label=com.dokku.process-type={command[0]}"
            command = found.split() + command[1:]
    if os.environ.get("DOKKU_RUN_TTL_SECONDS"):
        args += f" --label=com.dokku.active-deadline-seconds={env('DOKKU_RUN_TTL_SECONDS')}"
    args += f" --label=com.dokku.container-type={process_type} --label=com.dokku.app-name={app} {image}"
    argv = shlex.split(args) + (command or [property_get_computed_shell(app)])
    created = docker("container", "create", *argv, env_extra=config, check=False)
    if created.returncode != 0:
        sys.stderr.write(created.stderr)
        return 1
    cid = created.stdout.strip()
    plugn("post-container-create", "app", cid, app, "run")
    import subprocess
    started = subprocess.run([os.environ.get("DOCKER_BIN", "docker"), "container", "start", "--attach", cid],
                             close_fds=False).returncode
    waited = docker("container", "wait", cid, check=False)
    code = int(waited.stdout.strip()) if waited.returncode == 0 and waited.stdout.strip() else started
    plugn("scheduler-post-run", "docker-local", app, cid, str(code))
    return code


def property_get_computed_shell(app: str) -> str:
    """scheduler-run's shell for a run without a command: DOKKU_SHELL, else the scheduler plugin's
    `shell` property (app, then global), else /bin/bash."""
    return (os.environ.get("DOKKU_SHELL") or property_get("scheduler", app, "shell")
            or property_get("scheduler", "--global", "shell") or "/bin/bash")


def is_deployed(app: str) -> bool:
    """plugins/common/common.go IsDeployed: the common `deployed` property, else whether a CONTAINER
    file exists (scheduler-is-deployed)."""
    deployed = property_get("common", app, "deployed")
    if deployed:
        return deployed == "true"
    return bool(container_files(app))


def running_state(app: str) -> str:
    """plugins/ps/functions.go getRunningState (scheduler-app-status): true, false or mixed, from the
    CONTAINER files."""
    states = []
    for cid in container_files(app).values():
        running = docker("container", "inspect", "--format", "{{.State.Running}}", cid, check=False).stdout.strip()
        states.append(running == "true")
    if states and all(states):
        return "true"
    return "mixed" if any(states) else "false"


# ----- app-json tasks (plugins/app-json/functions.go executeScript) ---------------------------------
def execute_script(app: str, image: str, tag: str, phase: str, command: str, source: str) -> int:
    """A predeploy/release task container exactly as app-json runs one for a Dockerfile image: the
    task args of the two docker-args triggers (flags dropped), Dokku's labels, the config in the
    client's environment, the command as construct_script builds it, post-container-create, start,
    wait, the logs only after it ends; predeploy commits the container back into the image."""
    info1(f"Checking for {phase} task")
    if not command:
        verbose(f"No {phase} task found, skipping")
        return 0
    suffix = "" if phase == "predeploy" else " in ephemeral container"
    verbose(f"Executing {phase} task from {source}{suffix}: {command}")
    entrypoint = image_config_change(image, "Entrypoint", "ENTRYPOINT")
    script = construct_script(command, app_shell(app), entrypoint)
    args = shlex.split(plugn("docker-args-deploy", app, tag, capture=True, stdin_text="").stdout)
    args += shlex.split(plugn("docker-args-process-deploy", app, "dockerfile", tag, capture=True,
                              stdin_text="").stdout)
    args = drop_task_flags(args)
    if os.environ.get("DOKKU_TRACE"):
        args += ["--env", f"DOKKU_TRACE={env('DOKKU_TRACE')}"]
    created = docker("container", "create", *env("DOKKU_GLOBAL_RUN_ARGS").split(" "),
                     f"--label=com.dokku.app-name={app}", *args, f"--label=dokku_phase_script={phase}",
                     image, *script, env_extra=merged_config(app), check=False)
    if created.returncode != 0:
        warn(f"Execution of {phase} task failed: {command}")
        return 1
    cid = created.stdout.strip()
    try:
        plugn("post-container-create", "app", cid, app, phase)
        docker("container", "start", cid, check=False)
        status = docker("container", "wait", cid, check=False).stdout.strip()
        info2(f"Start of {app} {phase} task ({cid[:9]}) output")
        logs = docker("container", "logs", cid, check=False)
        for line in logs.stdout.splitlines():
            verbose(line)
        for line in logs.stderr.splitlines():
            warn(line)
        info2(f"End of {app} {phase} task ({cid[:9]}) output")
        if status != "0":
            warn(f"Execution of {phase} task failed: {command}")
            return 1
        if phase == "predeploy":
            changes = [change for change in (entrypoint, image_config_change(image, "Cmd", "CMD")) if change]
            changes += ["LABEL org.label-schema.schema-version=1.0", "LABEL org.label-schema.vendor=dokku",
                        f"LABEL com.dokku.app-name={app}", "LABEL com.dokku.predeploy-phase=true"]
            docker("container", "commit", *[arg for change in changes for arg in ("--change", change)], cid, image)
        return 0
    finally:
        docker("container", "remove", "--force", cid, check=False)


# Entrypoints constructScript will not hand a command to (tini alone: the shell script runs under it).
NON_SKIPPABLE_ENTRYPOINTS = {f'ENTRYPOINT ["{tini}","--"]' for tini in
                             ("/tini", "/bin/tini", "/usr/bin/tini", "/usr/local/bin/tini")}


def construct_script(command: str, shell: str, entrypoint: str) -> List[str]:
    """plugins/app-json/functions.go constructScript for a Dockerfile image: with an ENTRYPOINT other than
    a bare tini, the command's words (shellquote.Split) go to it — none when they cannot be split, and
    the image's CMD runs; otherwise `SHELL -c 'set -e; set -o pipefail || true; … CMD || exit 1;'`
    (`set -x` under DOKKU_TRACE=1; an absolute command's binary checked to be executable)."""
    if entrypoint and entrypoint not in NON_SKIPPABLE_ENTRYPOINTS:
        try:
            return shlex.split(command.strip())
        except ValueError as error:
            warn(f"Skipping command construction for app with ENTRYPOINT: {error}")
            return []
    script = ["set -e;", "set -o pipefail || true;"]
    if os.environ.get("DOKKU_TRACE") == "1":
        script.append("set -x;")
    if command.startswith("/"):
        binary = command.split(" ")[0]
        script += [f'if [[ ! -x "{binary}" ]]; then', "  echo specified binary is not executable;", "  exit 1;", "fi;"]
    script.append(f"{command} || exit 1;")
    return [shell, "-c", " ".join(script)]


def app_shell(app: str) -> str:
    """plugins/common/common.go GetDokkuAppShell: the scheduler's `shell` property, app then global,
    default /bin/bash."""
    return property_get("scheduler", app, "shell") or property_get("scheduler", "--global", "shell", "/bin/bash")


def image_config_change(image: str, field: str, instruction: str) -> str:
    """plugins/app-json/functions.go getEntrypointFromImage / getCommandFromImage: the Dockerfile image's
    own ENTRYPOINT or CMD as a Dockerfile instruction ("" when it has none; `[]` is one), a `/bin/sh -c
    X` form as `INSTRUCTION X`: what constructScript looks at and the predeploy commit restores."""
    value = json.loads(docker("image", "inspect", "--format", f"{{{{json .Config.{field}}}}}", image).stdout or "null")
    if value is None:
        return ""
    if len(value) == 3 and value[:2] == ["/bin/sh", "-c"]:
        return f"{instruction} {value[2]}"
    return f"{instruction} {json.dumps(value, separators=(',', ':'))}"


TASK_DROPPED = {"--cpus", "--gpus", "--memory", "--memory-reservation", "--memory-swap", "--publish",
                "--publish-all", "--restart", "-p", "-P"}


def drop_task_flags(args: List[str]) -> List[str]:
    """plugins/app-json/functions.go executeScript: these flags and, in their bare form, the next word."""
    kept: List[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in TASK_DROPPED:
            skip = "=" not in arg
            continue
        kept.append(arg)
    return kept


def extracted(plugin: str, app: str, name: str) -> Optional[Path]:
    """The copy a deploy works with (app-json hasAppJSON + getProcessSpecificAppJSONPath, ps hasProcfile +
    getProcessSpecificProcfilePath): none when core-post-extract marked it `<name>.$DOKKU_PID.missing`
    (the source has no such file: the previous deploy's copy no longer counts), else the process-specific
    `<name>.$DOKKU_PID`, else the one the last deploy promoted."""
    directory = lib_root() / "data" / plugin / app
    specific = directory / f"{name}.{env('DOKKU_PID')}"
    if Path(f"{specific}.missing").exists():
        return None
    for path in (specific, directory / name):
        if path.is_file():
            return path
    return None


def app_json(app: str) -> Optional[dict]:
    """plugins/app-json/appjson.go GetAppJSON: the deploy's app.json as ReadAppJSON reads it (None when
    there is none); AppJSONError when Dokku cannot read it."""
    path = extracted("app-json", app, "app.json")
    return appjson.read_app_json(path.read_bytes()) if path is not None else None


def procfile_command(app: str, process_type: str, port: int = 5000) -> str:
    """plugins/ps/triggers.go TriggerProcfileGetCommand → functions.go getProcfileCommand: nothing without
    a Procfile; else `procfile-util show` with the port and the app's merged config as its env file
    (procfile.py); ProcfileError, worded as Dokku words it, when procfile-util fails."""
    path = extracted("ps", app, "Procfile")
    if path is None:
        return ""
    try:
        return procfile.show(path.read_text(), process_type, port, merged_config(app)).strip()
    except procfile.ProcfileError as error:
        raise procfile.ProcfileError(f"Error running procfile-util: {error}")


def registry_post_release_builder(app: str, image: str) -> None:
    """plugins/registry/triggers.go TriggerPostReleaseBuilder: the deprecated pre-deploy, fired with the
    tag; since v0.34.4 only when some plugin ships it, after a warning (before: always, v0.33.8
    plugins/registry/triggers.go). A failure is LogFailWithError: the error printed once more, exit 1."""
    tag = image.split(":")[-1]
    if version() < (0, 25, 1):
        return
    if version() >= (0, 34, 4):
        if not trigger_exists("pre-deploy"):
            return
        warn(DEPRECATED_PRE_DEPLOY)
    from state import go_trigger
    code, error = go_trigger("pre-deploy", app, tag)
    if code:
        log_fail_with_error(error)
