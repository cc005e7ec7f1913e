"""A Dokku host for end-to-end tests: the plugin installed the way `plugin:install` installs it,
the `dokku`/`plugn` stand-in around it, and every plugin call made as the `dokku` user."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Set

from dokku_migrations.docker import labels

from . import tally

REPO = Path(__file__).resolve().parent.parent.parent
STANDIN = REPO / "tests" / "standin"
NOT_PLUGIN_FILES = {".git", ".venv", ".venv.new", ".venv.old", "__pycache__", "tests", ".pytest_cache", ".ruff_cache",
                    "bench", "examples", "pre-deploy"}


def plugin_files_only(directory: str, names: List[str]) -> List[str]:
    """What `git clone` would not bring: local environments, caches, the generated pre-deploy link."""
    if Path(directory) == REPO:
        return [name for name in names if name in NOT_PLUGIN_FILES]
    return [name for name in names if name in ("__pycache__",)]
RUN_LABEL = labels.RUN
PROBE_LABEL = labels.PROBE
DATABASE_LABEL = labels.DATABASE
# The plugin's containers and the label naming the app each belongs to: none may outlive its run.
OWNED = ((RUN_LABEL, labels.APP), (PROBE_LABEL, PROBE_LABEL), (DATABASE_LABEL, DATABASE_LABEL))
GLOBAL_RUN_ARGS = "--label=org.label-schema.schema-version=1.0 --label=org.label-schema.vendor=dokku --label=dokku"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def failures(self) -> List[str]:
        """Dokku's ` !     ` lines wherever they went: from Dokku 0.38 a deploy's output goes through
        build capture's `tee` (plugins/common/functions dokku_setup_build_capture), stderr included,
        so the person at `git push` reads them in the one stream."""
        return [line for line in self.output.splitlines() if line.startswith(" !     ")]


def docker(*args: str, check: bool = True, input: Optional[str] = None) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, input=input)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


def image_exists(ref: str) -> bool:
    """`docker image inspect`: one image looked up, where `docker image ls REF` makes Docker 20.10 read
    every image it holds, a cost that grows with each image the suite builds."""
    found = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", ref], capture_output=True)
    return found.returncode == 0


HOSTS: List["Host"] = []


class Host:
    """Layout mirrors a real host: DOKKU_ROOT=home/dokku, DOKKU_LIB_ROOT=var/lib/dokku with plugins
    under it; the plugin directory is root-owned, state belongs to the dokku user."""

    def __init__(self, version: str = "0.38.27", name: str = "migrations") -> None:
        """`name`: the plugin's name, as `plugin:install URL --name NAME` or the URL gives it."""
        tally.count("hosts")
        self.base = Path(tempfile.mkdtemp(prefix="dm-e2e-"))
        os.chmod(self.base, 0o755)
        self.root = self.base / "home" / "dokku"
        self.lib_root = self.base / "var" / "lib" / "dokku"
        self.plugin_path = self.lib_root / "plugins"
        self.available = self.plugin_path / "available"
        self.enabled = self.plugin_path / "enabled"
        self.core_available = self.lib_root / "core-plugins" / "available"
        self.standin = self.base / "standin"
        self.plugin_dir = self.available / name
        self.seen_apps: Set[str] = set()
        for directory in (self.root, self.available, self.enabled, self.core_available,
                          self.lib_root / "data" / "apps", self.lib_root / "config", self.lib_root / "services"):
            directory.mkdir(parents=True, exist_ok=True)
        shutil.copytree(STANDIN, self.standin)
        # Byte code written now, as root: the dokku user cannot write it here, and would otherwise
        # recompile the stand-in in each of the ~50 processes a deploy starts.
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(self.standin)], check=True)
        for plugin in sorted((self.standin / "plugins").iterdir()):
            (self.core_available / plugin.name).symlink_to(plugin)
            (self.enabled / plugin.name).symlink_to(self.core_available / plugin.name)
        shutil.copytree(REPO, self.plugin_dir, ignore=plugin_files_only, symlinks=True)
        (self.enabled / name).symlink_to(self.plugin_dir)
        self.set_version(version)
        # Dokku waits 10 s after starting each process before it checks that it still runs (the checks
        # plugin's global `default-wait` property); the tests' apps start in well under a second, so
        # they set it to 0, the check itself still made (plugins/scheduler-docker-local/check-deploy).
        checks = self.lib_root / "config" / "checks" / "--global"
        checks.mkdir(parents=True)
        (checks / "default-wait").write_text("0")
        HOSTS.append(self)
        subprocess.run(["chown", "-R", "dokku:dokku", str(self.root), str(self.lib_root / "data"),
                        str(self.lib_root / "config"), str(self.lib_root / "services")], check=True)

    @contextlib.contextmanager
    def checks_wait(self, seconds: int) -> Iterator[None]:
        """Dokku's wait before its uptime check, for a deploy whose web process crashes: with the
        tests' 0 the check can look before node has even reached its process.exit()."""
        wait = self.lib_root / "config" / "checks" / "--global" / "default-wait"
        wait.write_text(str(seconds))
        try:
            yield
        finally:
            wait.write_text("0")

    def set_version(self, version: str) -> None:
        (self.lib_root / "VERSION").write_text(version + "\n")

    def env(self) -> Dict[str, str]:
        return {
            "PATH": f"{self.standin / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/home/dokku",
            "USER": "dokku",
            "LANG": "C.UTF-8",
            "DOKKU_ROOT": str(self.root),
            "DOKKU_LIB_ROOT": str(self.lib_root),
            "PLUGIN_PATH": str(self.plugin_path),
            "PLUGIN_AVAILABLE_PATH": str(self.available),
            "PLUGIN_ENABLED_PATH": str(self.enabled),
            "PLUGIN_CORE_AVAILABLE_PATH": str(self.core_available),
            "DOKKU_NOT_IMPLEMENTED_EXIT": "10",
            "DOKKU_GLOBAL_RUN_ARGS": GLOBAL_RUN_ARGS,
            "DOCKER_BIN": "docker",
        }

    def install(self, env: Optional[Dict[str, str]] = None) -> Result:
        """`install` runs as root, as `dokku plugin:install` runs it."""
        return self._run([str(self.plugin_dir / "install")], as_dokku=False, extra_env=env)

    def dokku(self, *args: str, timeout: float = 300, env: Optional[Dict[str, str]] = None) -> Result:
        return self._run(["dokku", *args], timeout=timeout, extra_env=env)

    def dokku_as_root(self, *args: str, env: Optional[Dict[str, str]] = None) -> Result:
        """`plugin:*` commands, which Dokku runs only as root."""
        return self._run(["dokku", *args], as_dokku=False, extra_env=env)

    def trigger(self, name: str, *args: str) -> Result:
        return self._run(["plugn", "trigger", name, *args])

    def spawn(self, *args: str, env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
        """A `dokku` command in the background (for interrupts and concurrency)."""
        tally.command(args)
        self.apps()
        return subprocess.Popen(self._argv(["dokku", *args]), env={**self.env(), **(env or {})},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

    def _argv(self, argv: List[str], as_dokku: bool = True) -> List[str]:
        if not as_dokku:
            return argv
        return ["setpriv", "--reuid=dokku", "--regid=dokku", "--init-groups", "--", *argv]

    def _run(self, argv: List[str], as_dokku: bool = True, timeout: float = 300,
             extra_env: Optional[Dict[str, str]] = None) -> Result:
        if argv[0] == "dokku":
            tally.command(argv)
        self.apps()
        try:
            result = subprocess.run(self._argv(argv, as_dokku), env={**self.env(), **(extra_env or {})},
                                    capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        finally:
            self.apps()
        return Result(result.returncode, result.stdout, result.stderr)

    # --- what the tests look at ---------------------------------------------------------------
    def web_containers(self, app: str) -> List[dict]:
        ids = docker("container", "ls", "-q", "--filter", f"label=com.dokku.app-name={app}",
                     "--filter", "label=com.dokku.process-type=web").split()
        return [json.loads(docker("container", "inspect", "--format", "{{json .}}", cid)) for cid in ids]

    def app_image(self, app: str, image: str) -> str:
        """`image` tagged into the app's Dokku repository, as an admin does before `migrations:run --image`."""
        ref = f"dokku/{app}:{image.rsplit(':', 1)[-1]}"
        docker("image", "tag", image, ref)
        return ref

    def history(self, app: str) -> List[dict]:
        result = self.dokku("migrations:history", app, "--format", "json", "--limit", "1000")
        assert result.code == 0, result.output
        return json.loads(result.stdout)

    def runs(self, app: str) -> List[dict]:
        """The app's run records, newest first, read straight from the plugin's files: what
        `migrations:history --format json` prints, without starting the CLI (for waiting on a run)."""
        directory = self.lib_root / "data" / "migrations" / app / "runs"
        records = []
        for path in directory.glob("*.json") if directory.is_dir() else []:
            try:
                records.append(json.loads(path.read_text() or "null"))
            except (OSError, ValueError):  # pruned meanwhile (records are replaced atomically)
                continue
        return sorted((record for record in records if isinstance(record, dict)), key=lambda record: -record["id"])

    # --- what the host holds, and taking it away -------------------------------------------------
    def apps(self) -> Set[str]:
        """Every app this host has had: the ones there now, and the ones seen before and since destroyed
        or renamed (their containers are still theirs to answer for)."""
        if self.root.is_dir():
            self.seen_apps.update(path.name for path in self.root.iterdir() if path.is_dir())
        return set(self.seen_apps)

    def services(self) -> Set[str]:
        """The containers of its database services (`dokku.<type>.<service>`, as the service plugins name them)."""
        directory = self.lib_root / "services"
        return {f"dokku.{kind.name}.{service.name}" for kind in directory.iterdir() if kind.is_dir()
                for service in kind.iterdir()} if directory.is_dir() else set()

    def remove(self, apps: Set[str], services: Set[str]) -> None:
        """The containers of these apps and services, in one call: a shared host's tests leave no
        servers running for the rest of the session."""
        if not apps and not services:
            return
        doomed = sorted(services)
        for line in docker("container", "ls", "-a", "--filter", "label=com.dokku.app-name",
                           "--format", '{{.ID}} {{.Label "com.dokku.app-name"}}').splitlines():
            cid, _, app = line.partition(" ")
            if app in apps:
                doomed.append(cid)
        if doomed:
            docker("container", "rm", "--force", *doomed, check=False)

    def cleanup(self) -> None:
        """Everything the host made goes; migration containers left behind fail the test that
        cleans up (after they went too)."""
        leftover = leftover_migration_containers([self])
        apps = self.apps()
        self.remove(apps, self.services())
        own = docker("container", "ls", "-aq", "--filter", f"label=dm-e2e={self.base.name}").split()
        if own:
            docker("container", "rm", "--force", *own, check=False)
        tags = [tag for tag in docker("image", "ls", "--filter", "reference=dokku/*", "--format",
                                      "{{.Repository}}:{{.Tag}}").split() if tag.split(":")[0][len("dokku/"):] in apps]
        if tags:
            docker("image", "rm", "--force", *tags, check=False)
        shutil.rmtree(self.base, ignore_errors=True)
        if self in HOSTS:
            HOSTS.remove(self)
        assert not leftover, f"migration containers were left behind: {leftover}"


def built_from(image_id: str) -> str:
    """The image a Dokku-built image was built from: git:from-image commits `FROM <image>` with Dokku's
    alternate-tags label (plugins/git/git-from-image), so the app's image is a new one."""
    tags = docker("image", "inspect", "--format",
                  '{{index .Config.Labels "com.dokku.docker-image-labeler/alternate-tags"}}', image_id)
    return json.loads(tags)[0] if tags else ""


def wait_for(what: str, predicate, timeout: float = 90):
    """The predicate's first truthy value, polled every 0.1 s; a test that waits longer fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def http_get(container: dict, port: int = 5000, path: str = "/", timeout: float = 10) -> str:
    """What a running app container answers, straight on its bridge address."""
    import urllib.request
    address = container["NetworkSettings"]["IPAddress"] or next(
        iter(container["NetworkSettings"]["Networks"].values()))["IPAddress"]
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://{address}:{port}{path}", timeout=2) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def psql(service: str, sql: str, database: Optional[str] = None) -> str:
    """Runs SQL in the service's own container (socket, trusted), as the test's eyes on the database."""
    database = database or service.replace("-", "_").replace(".", "_")
    return docker("container", "exec", f"dokku.postgres.{service}", "psql", "-U", "postgres", "-d", database,
                  "-AtX", "-v", "ON_ERROR_STOP=1", "-c", sql)


def leftover_migration_containers(hosts: Optional[Sequence[Host]] = None) -> List[str]:
    """Migration, probe and database client containers of the apps of these hosts, or of every live one
    (other sessions may run on the same Docker engine at the same time), found in one call."""
    apps = {app for host in (HOSTS if hosts is None else hosts) for app in host.apps()}
    fields = "|".join(f'{{{{.Label "{label}"}}}}|{{{{.Label "{owner}"}}}}' for label, owner in OWNED)
    found = []
    for line in docker("container", "ls", "-a", "--format", "{{.ID}}|" + fields).splitlines():
        cid, *values = line.split("|")
        if any(mark and app in apps for mark, app in zip(values[::2], values[1::2])):
            found.append(cid)
    return found


def processes_with(*words: bytes) -> List[int]:
    """Pids whose argv holds every word (the plugin, or its watchdog, for one app)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if all(word in argv for word in words):
            found.append(int(entry.name))
    return found
