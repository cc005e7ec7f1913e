"""Everything asked of the Docker engine, through the docker CLI (as Dokku itself does).

Returns plain values and raises UserError with a readable message; no caller sees `sh` errors.
"""

import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import sh

from .errors import UserError

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
PROBE_LABEL = "com.dokku.migrations.probe"


@dataclass(frozen=True)
class ImageInfo:
    ref: str
    id: str
    workdir: str
    entrypoint: List[str]
    labels: Dict[str, str] = field(default_factory=dict)
    env: List[str] = field(default_factory=list)


def explain(error: "sh.ErrorReturnCode", doing: str) -> UserError:
    """Turns a docker CLI failure into one line: what we were doing, and docker's own last words."""
    text = (error.stderr or b"").decode("utf-8", "replace").strip()
    if "Cannot connect to the Docker daemon" in text or "docker daemon is not running" in text.lower():
        return UserError(f"Docker is not reachable while {doing}: is the Docker daemon running?")
    if "permission denied" in text.lower() and "docker.sock" in text:
        return UserError(f"Permission denied on the Docker socket while {doing}: is the dokku user in the docker group?")
    last = text.splitlines()[-1] if text else f"exit {error.exit_code}"
    return UserError(f"Docker failed while {doing}: {last.removeprefix('Error response from daemon: ')}")


class CappedBuffer:
    """Keeps at most `cap` bytes of a stream and remembers that there was more (hostile images)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.overflowed = False

    def write(self, chunk: bytes) -> None:
        if len(self.data) + len(chunk) > self.cap:
            self.overflowed = True
        else:
            self.data += chunk


class Docker:
    """A thin wrapper over the docker CLI; one instance per run."""

    def __init__(self, binary: str = "docker") -> None:
        try:
            self._docker = sh.Command(binary).bake(_tty_out=False, _in="")
        except sh.CommandNotFound:
            raise UserError(f"'{binary}' was not found on PATH: install Docker or set DOCKER_BIN")

    def _run(self, doing: str, *args: str, **kwargs: Any) -> str:
        try:
            return str(self._docker(*args, **kwargs))
        except sh.ErrorReturnCode as error:
            raise explain(error, doing)

    def inspect_image(self, ref: str) -> Optional[ImageInfo]:
        """None when the image does not exist; anything else wrong is an error."""
        try:
            raw = str(self._docker("image", "inspect", "--format", "{{json .}}", ref))
        except sh.ErrorReturnCode as error:
            stderr = (error.stderr or b"").lower()
            if b"invalid reference format" in stderr:
                raise UserError(f"'{ref}' is not a valid image reference")
            if b"no such image" in stderr or b"no such object" in stderr:
                return None
            raise explain(error, f"inspecting image {ref}")
        data = json.loads(raw)
        config = data.get("Config") or {}
        return ImageInfo(
            ref=ref,
            id=data["Id"],
            workdir=config.get("WorkingDir") or "",
            entrypoint=config.get("Entrypoint") or [],
            labels=config.get("Labels") or {},
            env=config.get("Env") or [],
        )

    def read_file(self, image: str, paths: List[str], owner: str = "") -> Dict[str, Optional[bytes]]:
        """Reads small files out of an image without running it (create, copy, remove).

        Symlinks are followed inside the image's own filesystem (`docker cp -L`), never the host's.
        The never-started probe container is labelled with the app it reads for.
        """
        cid = self.create(["--network=none", f"--label={PROBE_LABEL}={owner}", image, "/nonexistent"],
                          doing=f"reading files from {image}")
        try:
            return {path: self._copy_out(cid, path) for path in paths}
        finally:
            self.remove(cid)

    def _copy_out(self, cid: str, path: str) -> Optional[bytes]:
        buffer = CappedBuffer(MAX_MANIFEST_BYTES + 64 * 1024)
        try:
            self._docker("container", "cp", "-L", f"{cid}:{path}", "-", _out=buffer)
        except sh.ErrorReturnCode as error:
            if b"Could not find the file" in (error.stderr or b"") or b"No such" in (error.stderr or b""):
                return None
            if b"not a directory" in (error.stderr or b""):
                return None
            raise explain(error, f"reading {path} from the image")
        if buffer.overflowed:
            raise UserError(f"{path} in the image is larger than the {MAX_MANIFEST_BYTES // (1024 * 1024)} MB "
                            "a manifest may be")
        with tarfile.open(fileobj=io.BytesIO(buffer.data)) as archive:
            member = next(iter(archive.getmembers()), None)
            if member is None or not member.isfile():
                return None
            handle = archive.extractfile(member)
            return handle.read() if handle else None

    def create(self, args: List[str], env: Optional[Mapping[str, str]] = None,
               doing: str = "creating the migration container") -> str:
        """`docker container create`; `env` is the client's environment, where `--env=KEY` finds values.

        If a signal interrupts us while the CLI is still creating, we let it finish and remove what it
        made: otherwise a container could appear after we stopped looking for it.
        """
        kwargs: Dict[str, Any] = {"_env": dict(env)} if env is not None else {}
        process = self._docker("container", "create", *args, _bg=True, _bg_exc=False, **kwargs)
        try:
            process.wait()
        except sh.ErrorReturnCode as error:
            raise explain(error, doing)
        except BaseException:
            try:
                process.wait(timeout=60)
                self.remove(str(process).strip())
            except Exception:
                pass
            raise
        return str(process).strip()

    def start_attached(self, cid: str, out: Any, err: Any) -> "sh.RunningCommand":
        """Starts the container and streams its output; returns the running `docker start --attach`."""
        return self._docker("container", "start", "--attach", cid, _out=out, _err=err, _bg=True,
                            _bg_exc=False, _out_bufsize=65536, _err_bufsize=65536, _ok_code=range(256))

    def outcome(self, cid: str) -> Tuple[int, str]:
        """Exit code, and Docker's error when the container could not even start (e.g. a dead --link)."""
        out = self._run("reading the exit code", "container", "inspect", "--format",
                        "{{.State.ExitCode}} {{.State.Error}}", cid)
        code, _, error = out.strip().partition(" ")
        return int(code), error.strip()

    def kill(self, cid: str) -> None:
        try:
            self._docker("container", "kill", cid)
        except sh.ErrorReturnCode:
            pass

    def remove(self, cid: str) -> None:
        """Force-removes; a container that is already gone is fine."""
        try:
            self._docker("container", "rm", "--force", "--volumes", cid)
        except sh.ErrorReturnCode as error:
            if b"No such container" not in (error.stderr or b""):
                raise explain(error, f"removing container {cid[:12]}")

    def tag(self, source: str, target: str) -> None:
        self._run(f"tagging {target}", "image", "tag", source, target)

    def running_image_ids(self, app: str, exclude_label: str) -> List[str]:
        """Image ids of the app's running containers, newest first (Dokku labels every app container)."""
        ids = self._run("listing the app's containers", "container", "ls", "--quiet",
                        "--filter", f"label=com.dokku.app-name={app}").split()
        if not ids:
            return []
        out = self._run("inspecting the app's containers", "container", "inspect", "--format",
                        f'{{{{.Image}}}} {{{{index .Config.Labels "{exclude_label}"}}}}', *ids)
        images: List[str] = []
        for line in out.splitlines():
            image, _, excluded = line.partition(" ")
            if image and not excluded.strip() and image not in images:
                images.append(image)
        return images

    # --- what `try` needs: a network and a detached PostgreSQL container of its own ---------------
    def pull(self, image: str) -> None:
        self._run(f"pulling {image}", "image", "pull", "--quiet", image)

    def create_network(self, name: str, label: str) -> None:
        self._run("creating the throwaway network", "network", "create", f"--label={label}", name)

    def remove_network(self, name: str) -> None:
        """A network that is already gone is fine."""
        try:
            self._docker("network", "rm", name)
        except sh.ErrorReturnCode as error:
            stderr = error.stderr or b""
            if b"not found" not in stderr and b"No such network" not in stderr:
                raise explain(error, f"removing network {name}")

    def start(self, container: str, doing: str) -> None:
        self._run(doing, "container", "start", container)

    def exec_status(self, container: str, argv: List[str]) -> Tuple[int, str]:
        """Exit code and stderr of a command run in a running container (any exit code is an answer)."""
        try:
            process = self._docker("container", "exec", container, *argv, _ok_code=range(256), _return_cmd=True)
        except sh.ErrorReturnCode as error:  # the client itself died (e.g. Ctrl-C reached it first)
            raise explain(error, "checking whether PostgreSQL is ready")
        return process.exit_code, (process.stderr or b"").decode("utf-8", "replace").strip()

    def state(self, container: str) -> Tuple[str, int]:
        """(`running`/`exited`/..., exit code)."""
        text = self._run("inspecting the PostgreSQL container", "container", "inspect", "--format",
                         "{{.State.Status}} {{.State.ExitCode}}", container).split()
        return text[0], int(text[1])

    def last_log_line(self, container: str) -> str:
        try:
            text = str(self._docker("container", "logs", "--tail", "20", container, _err_to_out=True))
        except sh.ErrorReturnCode:
            return ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def labelled_containers(self, label: str) -> List[str]:
        out = self._run("listing the throwaway containers", "container", "ls", "--all", "--quiet",
                        "--filter", f"label={label}")
        return [line for line in out.split() if line]
