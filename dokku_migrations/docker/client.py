"""Everything asked of the Docker engine: the Engine API (engine.py) for all of it but one call.

`docker container create` of the migration container goes through the docker CLI, which parses the
app's docker options (`--link`, `-v`, `--log-opt`…) exactly as Dokku's own task containers get
them. Returns plain values and raises UserError with a readable message; no caller sees HTTP or
process errors.
"""

import json
import os
import signal
import socket
import subprocess
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from dokku_migrations.common.errors import UserError
from dokku_migrations.docker import headstart, labels
from dokku_migrations.docker.engine import (
    Engine,
    EngineError,
    Hijacked,
    failed,
    not_reachable,
    path_of,
    permission_denied,
)
from dokku_migrations.docker.image import ImageInfo
from dokku_migrations.docker.probe import Probe


class MigrationContainer(NamedTuple):
    """A container this plugin created for a run, as found on the engine."""

    id: str
    run_id: int
    running: bool


class ProbeContainer(NamedTuple):
    """A never-started container reading files out of an image, as found on the engine."""

    id: str
    pid: int  # the process reading through it (0: not labelled)
    created: int  # unix seconds


class Docker:
    """One per process: a thin facade over the engine; the CLI only for `create`."""

    def __init__(self, binary: str, env: Mapping[str, str]) -> None:
        self.binary = binary
        self.env = dict(env)
        self.engine = Engine(env)
        self._probes = headstart.take()  # files already on their way, read for this run

    # --- images -----------------------------------------------------------------------------
    def inspect_image(self, ref: str) -> Optional[ImageInfo]:
        """None when the image does not exist; anything else wrong is an error."""
        try:
            data = self.engine.json("GET", f"/images/{path_of(ref)}/json", f"inspecting image {ref}")
        except EngineError as error:
            if error.status == 404:
                return None
            if error.status == 400 or "invalid reference" in error.message:
                raise UserError(f"'{ref}' is not a valid image reference")
            raise failed(error, f"inspecting image {ref}")
        config = data.get("Config") or {}
        return ImageInfo(
            ref=ref,
            id=data["Id"],
            workdir=config.get("WorkingDir") or "",
            entrypoint=config.get("Entrypoint") or [],
            labels=config.get("Labels") or {},
            env=config.get("Env") or [],
            repo_tags=data.get("RepoTags") or [],
            stop_signal=config.get("StopSignal") or "",
            parent=data.get("Parent") or "",
            layers=tuple((data.get("RootFS") or {}).get("Layers") or ()),
        )

    def tag(self, source: str, target: str) -> None:
        repo, _, tag = target.rpartition(":")
        try:
            self.engine.request("POST", f"/images/{path_of(source)}/tag", f"tagging {target}",
                                query={"repo": repo, "tag": tag})
        except EngineError as error:
            raise failed(error, f"tagging {target}")

    def untag(self, ref: str) -> None:
        """Removes a tag (never the image another tag still holds); a tag that is gone is fine."""
        try:
            self.engine.request("DELETE", f"/images/{path_of(ref)}", f"removing {ref}", query={"noprune": "1"})
        except EngineError as error:
            if error.status not in (404, 409):
                raise failed(error, f"removing {ref}")

    def read_file(self, image: str, paths: List[str], owner: str = "", for_app: bool = True
                  ) -> Dict[str, Optional[bytes]]:
        """Reads small files out of an image without running it (never-started containers, labelled
        with the app they read for, always removed); what headstart.py started is only collected.

        Symlinks are followed inside the image's own filesystem (the engine resolves the link
        target within the container's root), never the host's.
        """
        probe = self._probes.pop((image, tuple(paths), owner), None) or Probe(self.engine, image, paths, owner,
                                                                              for_app)
        return probe.collect()

    # --- the migration container ------------------------------------------------------------
    def create(self, args: List[str], env: Mapping[str, str], env_file: bytes = b"") -> str:
        """`docker container create ARGS`, with `env` as the client's environment (where `--env=KEY`
        finds its value) and `env_file` read by the client from a pipe (`--env-file=/dev/fd/N`).

        If a signal interrupts us while the CLI is still creating, we let it finish and remove what it
        made: otherwise a container could appear after we stopped looking for it.
        """
        read_end = write_end = -1
        argv = [self.binary, "container", "create"]
        if env_file:
            read_end, write_end = os.pipe()
            argv.append(f"--env-file=/dev/fd/{read_end}")
        argv += args
        try:
            process = subprocess.Popen(argv, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, pass_fds=(read_end,) if env_file else (),
                                       start_new_session=True)
        except FileNotFoundError:
            raise UserError(f"'{self.binary}' was not found on PATH: install Docker or set DOCKER_BIN")
        finally:
            if read_end >= 0:
                os.close(read_end)
        writer = threading.Thread(target=_feed, args=(write_end, env_file), daemon=True) if env_file else None
        if writer is not None:
            writer.start()
        try:
            out, err = process.communicate()
        except BaseException:
            try:
                out, _ = process.communicate(timeout=60)
                if out.strip():
                    self.remove(out.decode().strip())
            except Exception:
                pass
            raise
        if process.returncode != 0:
            raise explain(err, process.returncode, "creating the migration container")
        return out.decode().strip()

    def start(self, cid: str) -> str:
        """Starts the container; returns Docker's reason when it cannot start (e.g. a dead --link)."""
        try:
            self.engine.request("POST", f"/containers/{cid}/start", "starting the migration container")
        except EngineError as error:
            if error.status == 404:
                raise failed(error, "starting the migration container")
            return error.message
        return ""

    def attach(self, cid: str) -> Hijacked:
        try:
            return self.engine.stream(f"/containers/{cid}/attach", "attaching to the migration container",
                                      {"stream": "1", "stdout": "1", "stderr": "1"})
        except EngineError as error:
            raise failed(error, "attaching to the migration container")

    def wait(self, cid: str, seconds: float) -> Optional[int]:
        """The container's real exit code once it has stopped; None if it still runs after `seconds`."""
        try:
            data = self.engine.json("POST", f"/containers/{cid}/wait", "waiting for the migration container",
                                    timeout=max(seconds, 0.001))
        except socket.timeout:
            return None
        except EngineError as error:
            raise failed(error, "waiting for the migration container")
        return int(data["StatusCode"])

    def signal(self, cid: str, name: str) -> None:
        """Sends a signal; a container that already stopped or is gone is fine."""
        try:
            self.engine.request("POST", f"/containers/{cid}/kill", f"sending {name} to the migration container",
                                query={"signal": name})
        except EngineError as error:
            if error.status not in (404, 409):
                raise failed(error, f"sending {name} to the migration container")

    def state(self, cid: str) -> Optional[Tuple[bool, Optional[int]]]:
        """(running, exit code), or None when the container is gone; a container that was created and
        never started (its plugin killed in between) has no exit code."""
        try:
            data = self.engine.json("GET", f"/containers/{cid}/json", "inspecting the migration container")
        except EngineError as error:
            if error.status == 404:
                return None
            raise failed(error, "inspecting the migration container")
        state = data.get("State") or {}
        exit_code = None if state.get("Status") == "created" else int(state.get("ExitCode") or 0)
        return bool(state.get("Running")) or state.get("Status") == "restarting", exit_code

    def remove(self, cid: str) -> None:
        """Force-removes; a container that is already gone is fine."""
        self.engine.remove(cid)

    def remove_labelled(self, wanted: List[str]) -> None:
        """Force-removes every container carrying all of the `wanted` labels, running or not."""
        for container in self._containers(wanted, True, "looking for the migration container"):
            self.remove(container["Id"])

    # --- what runs for an app ---------------------------------------------------------------
    def _containers(self, labels: List[str], every: bool, doing: str) -> List[Dict[str, Any]]:
        try:
            return self.engine.json("GET", "/containers/json", doing, query={
                "all": "1" if every else "0", "filters": json.dumps({"label": labels})}) or []
        except EngineError as error:
            raise failed(error, doing)

    def deployed_image_ids(self, app: str, stopped: bool = False) -> List[str]:
        """Image ids of the app's running deploy containers, newest first: what is serving (with
        `stopped`, those stopped too, which include containers that failed their checks).

        Dokku labels the containers its scheduler deploys `com.dokku.container-type=deploy`; `dokku
        run` and cron containers carry other types and say nothing about what went live.
        """
        found = self._containers([f"{labels.APP}={app}", f"{labels.CONTAINER_TYPE}=deploy"], stopped,
                                 "listing the app's containers")
        images: List[str] = []
        for container in sorted(found, key=lambda c: -int(c.get("Created") or 0)):
            image = container.get("ImageID") or ""
            if image and image not in images:
                images.append(image)
        return images

    def app_image_ids(self) -> Dict[str, List[str]]:
        """Every image of a Dokku app on the engine, by app: labelled `com.dokku.app-name` by Dokku's
        builds, or tagged `dokku/<app>:<tag>` (older Dokku labelled nothing)."""
        doing = "listing the apps' images"
        found: Dict[str, List[str]] = {}
        try:
            labelled = self.engine.json("GET", "/images/json", doing,
                                        query={"filters": json.dumps({"label": [labels.APP]})}) or []
            tagged = self.engine.json("GET", "/images/json", doing,
                                      query={"filters": json.dumps({"reference": ["dokku/*"]})}) or []
        except EngineError as error:
            raise failed(error, doing)
        for image in labelled + tagged:
            apps = {(image.get("Labels") or {}).get(labels.APP, "")}
            apps.update(tag.split("/", 1)[1].rsplit(":", 1)[0] for tag in image.get("RepoTags") or []
                        if tag.startswith("dokku/"))
            for app in apps - {""}:
                if image["Id"] not in found.setdefault(app, []):
                    found[app].append(image["Id"])
        return found

    def plugin_containers(self, app: str) -> Tuple[List[MigrationContainer], List[ProbeContainer]]:
        """Every migration and probe container of the app the engine still has, running or not, in one
        listing (every run asks: one call, not two)."""
        found = self._containers([f"{labels.APP}={app}"], True, "looking for left-over migration containers")
        migrations, probes = [], []
        for container in found:
            tags = container.get("Labels") or {}
            if labels.RUN in tags:
                run_id = tags[labels.RUN]
                migrations.append(MigrationContainer(
                    id=container["Id"], run_id=int(run_id) if run_id.isdigit() else 0,
                    running=container.get("State") in ("running", "restarting", "paused")))
            elif tags.get(labels.PROBE) == app:
                pid = tags.get(labels.PROBE_PID, "")
                probes.append(ProbeContainer(container["Id"], int(pid) if pid.isdigit() else 0,
                                             int(container.get("Created") or 0)))
        return migrations, probes

    # --- the database side: a client container on the migration's network ----------------------
    def container(self, ref: str) -> Optional[Dict[str, Any]]:
        """A container's inspect document, or None when there is no such container."""
        try:
            return self.engine.json("GET", f"/containers/{path_of(ref)}/json", f"inspecting container {ref}")
        except EngineError as error:
            if error.status in (400, 404):
                return None
            raise failed(error, f"inspecting container {ref}")

    def network_containers(self, network: str) -> List[str]:
        """Ids of the containers attached to a network (none when it is gone)."""
        try:
            data = self.engine.json("GET", f"/networks/{path_of(network)}", f"inspecting network {network}")
        except EngineError as error:
            if error.status == 404:
                return []
            raise failed(error, f"inspecting network {network}")
        return list((data or {}).get("Containers") or {})

    def images_named(self, repository: str) -> List[Tuple[str, str]]:
        """(tag, image id) of local images of a repository, newest first: never pulled here."""
        try:
            found = self.engine.json("GET", "/images/json", f"listing {repository} images",
                                     query={"filters": json.dumps({"reference": [repository]})}) or []
        except EngineError as error:
            raise failed(error, f"listing {repository} images")
        tags = []
        for image in sorted(found, key=lambda i: -int(i.get("Created") or 0)):
            tags += [(tag, image["Id"]) for tag in image.get("RepoTags") or [] if tag.startswith(repository + ":")]
        return tags

    def database_clients(self, app: str) -> List[str]:
        """The app's database client containers (database/client.py) the engine still has."""
        return [container["Id"] for container in self._containers(
            [f"{labels.DATABASE}={app}"], True, "looking for left-over database clients")]

    def start_attached(self, body: Dict[str, Any], networks: Sequence[str], doing: str) -> Tuple[str, Hijacked]:
        """Creates a container, joins it to `networks`, attaches to its stdin and output, starts it.
        Whatever fails on the way, nothing is left behind."""
        cid = ""
        attach: Optional[Hijacked] = None
        try:
            cid = self.engine.json("POST", "/containers/create", doing, body=body)["Id"]
            for network in networks:
                self.engine.request("POST", f"/networks/{path_of(network)}/connect", doing, body={"Container": cid})
            attach = self.engine.stream(f"/containers/{cid}/attach", doing,
                                        {"stream": "1", "stdin": "1", "stdout": "1", "stderr": "1"})
            self.engine.request("POST", f"/containers/{cid}/start", doing)
            return cid, attach
        except BaseException as error:
            if attach is not None:
                attach.close()
            if cid:
                self.engine.remove(cid)
            if isinstance(error, EngineError):
                raise failed(error, doing)
            raise

    # --- what `try` needs: a network and a detached database container of its own -------------
    def pull(self, image: str) -> None:
        """Pulls an image; the engine reports a failed pull inside its progress stream."""
        repo, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
        try:
            _, _, data = self.engine.request("POST", "/images/create", f"pulling {image}",
                                             query={"fromImage": repo, "tag": tag}, timeout=3600)
        except EngineError as error:
            raise failed(error, f"pulling {image}")
        for line in data.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("error"):
                raise UserError(f"Docker failed while pulling {image}: {event['error']}")

    def create_network(self, name: str, label: str, internal: bool = False,
                       more_labels: Optional[Mapping[str, str]] = None) -> None:
        """`internal`: no route out of the network (a pre-flight's migration must not reach production)."""
        key, _, value = label.partition("=")
        try:
            self.engine.request("POST", "/networks/create", "creating the throwaway network",
                                body={"Name": name, "Labels": {**(more_labels or {}), key: value},
                                      "CheckDuplicate": True,
                                      "Internal": internal})
        except EngineError as error:
            raise failed(error, "creating the throwaway network")

    def remove_network(self, name: str) -> None:
        """A network that is already gone is fine."""
        try:
            self.engine.request("DELETE", f"/networks/{path_of(name)}", f"removing network {name}")
        except EngineError as error:
            if error.status != 404:
                raise failed(error, f"removing network {name}")

    def run_service(self, name: str, image: str, env: Mapping[str, str], label: str, network: str,
                    aliases: Sequence[str], doing: str, command: Sequence[str] = (),
                    more_labels: Optional[Mapping[str, str]] = None) -> None:
        """Creates and starts a detached container; its env goes over the socket, never on argv.
        `command` replaces the image's CMD (the image's entrypoint still runs)."""
        key, _, value = label.partition("=")
        body: Dict[str, Any] = {"Image": image, "Env": [f"{k}={v}" for k, v in env.items()],
                                "Labels": {**(more_labels or {}), key: value},
                                "HostConfig": {"NetworkMode": network},
                                "NetworkingConfig": {"EndpointsConfig": {network: {"Aliases": list(aliases)}}}}
        if command:
            body["Cmd"] = list(command)
        try:
            self.engine.request("POST", "/containers/create", doing, query={"name": name}, body=body)
            self.engine.request("POST", f"/containers/{path_of(name)}/start", doing)
        except EngineError as error:
            raise failed(error, doing)

    def exec_status(self, container: str, argv: List[str], env: Optional[Mapping[str, str]] = None) -> Tuple[int, str]:
        """Exit code and output of a command run in a running container (any exit code is an answer);
        `env` (a password for a client) goes over the socket, never on argv."""
        doing = "running a command in the database container"
        try:
            created = self.engine.json("POST", f"/containers/{path_of(container)}/exec", doing,
                                       body={"Cmd": argv, "AttachStdout": True, "AttachStderr": True,
                                             "Env": [f"{k}={v}" for k, v in (env or {}).items()]})
            _, _, data = self.engine.request("POST", f"/exec/{created['Id']}/start", doing,
                                             body={"Detach": False, "Tty": False}, timeout=60)
            inspected = self.engine.json("GET", f"/exec/{created['Id']}/json", doing)
        except EngineError as error:
            if "executable file not found" in error.message or "no such file" in error.message.lower():
                return 127, error.message
            raise failed(error, doing)
        return int(inspected.get("ExitCode") or 0), demultiplex(data).decode("utf-8", "replace").strip()

    def exec_input(self, container: str, argv: List[str], env: Mapping[str, str], data: bytes, seconds: float,
                   check: Callable[[], None]) -> Tuple[int, str, str]:
        """Runs a command in a running container with `data` on its stdin: (exit code, stdout, stderr).
        `env` travels in the request body; `check` runs between waits (interrupts); past `seconds`
        the command is left to end with the container and a UserError says so."""
        doing = "running a command in the database container"
        try:
            created = self.engine.json("POST", f"/containers/{path_of(container)}/exec", doing,
                                       body={"Cmd": argv, "AttachStdin": True, "AttachStdout": True,
                                             "AttachStderr": True, "Env": [f"{k}={v}" for k, v in env.items()]})
            stream = self.engine.stream(f"/exec/{created['Id']}/start", doing, {}, body={"Detach": False, "Tty": False})
        except EngineError as error:
            if "executable file not found" in error.message or "no such file" in error.message.lower():
                return 127, "", error.message
            raise failed(error, doing)
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + seconds

        def between() -> None:
            check()
            if time.monotonic() >= deadline:
                raise UserError(f"A command in the database container did not finish within {seconds:g}s")

        try:
            try:  # written whole before any output is read: what runs here reads all its input first
                stream.sock.settimeout(max(seconds, 1))
                stream.sock.sendall(data)
                stream.sock.shutdown(socket.SHUT_WR)
            except OSError as error:
                raise UserError(f"Docker's connection dropped while {doing} ({error.strerror or error})")
            for kind, payload in stream.frames(0.1, between):
                (err if kind == 2 else out).extend(payload)
        finally:
            stream.close()
        try:
            inspected = self.engine.json("GET", f"/exec/{created['Id']}/json", doing)
        except EngineError as error:
            raise failed(error, doing)
        code = inspected.get("ExitCode")
        return (int(code) if code is not None else 1), out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def run_client(self, body: Dict[str, Any], networks: Sequence[str], stdin: bytes, seconds: float,
                   check: Callable[[], None], limit: int, doing: str) -> Tuple[bytes, bytes]:
        """Starts a container (AutoRemove) attached, writes `stdin` (values it reads, never in its
        configuration), then collects its stdout and stderr until it exits; removed on every way out.
        Past `seconds`, or over `limit` bytes of output, a UserError."""
        cid, attach = self.start_attached(body, networks, doing)
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + seconds

        def between() -> None:
            check()
            if time.monotonic() >= deadline:
                raise UserError(f"Timed out after {seconds:g}s while {doing}")

        try:
            attach.sock.sendall(stdin)
            for kind, payload in attach.frames(0.1, between):
                (err if kind == 2 else out).extend(payload)
                if len(out) > limit:
                    raise UserError(f"More than {limit // (1024 * 1024)} MB came back while {doing}")
        except OSError as error:
            raise UserError(f"Docker's connection dropped while {doing} ({error.strerror or error})")
        finally:
            attach.close()
            try:
                self.engine.remove(cid)
            except UserError:
                pass  # it removes itself (AutoRemove)
        return bytes(out), bytes(err)

    def labelled_networks(self, label: str) -> List[str]:
        try:
            found = self.engine.json("GET", "/networks", "listing the throwaway networks",
                                     query={"filters": json.dumps({"label": [label]})}) or []
        except EngineError as error:
            raise failed(error, "listing the throwaway networks")
        return [str(network.get("Name") or network.get("Id")) for network in found]

    def last_log_line(self, container: str) -> str:
        try:
            _, _, data = self.engine.request("GET", f"/containers/{path_of(container)}/logs", "reading logs",
                                             query={"stdout": "1", "stderr": "1", "tail": "20"})
        except (EngineError, UserError):
            return ""
        lines = [line.strip() for line in demultiplex(data).decode("utf-8", "replace").splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def labelled_containers(self, label: str) -> List[str]:
        return [container["Id"] for container in self._containers([label], True, "listing the throwaway containers")]

    def close(self) -> None:
        """Discards what was prefetched and never read (its containers removed), then disconnects."""
        while self._probes:
            self._probes.popitem()[1].discard()
        self.engine.close()


def demultiplex(data: bytes) -> bytes:
    """The payloads of Docker's multiplexed stream format (8-byte frame headers), concatenated."""
    out = bytearray()
    while len(data) >= 8:
        size = int.from_bytes(data[4:8], "big")
        out += data[8:8 + size]
        data = data[8 + size:]
    return bytes(out)


def _feed(fd: int, data: bytes) -> None:
    """Writes the env file into its pipe from a thread: the client reads it while starting up."""
    try:
        with os.fdopen(fd, "wb") as pipe:
            pipe.write(data)
    except OSError:
        pass


def explain(stderr: bytes, code: int, doing: str) -> UserError:
    """Turns a docker CLI failure into one line: what we were doing, and docker's own last words."""
    text = (stderr or b"").decode("utf-8", "replace").strip()
    if "Cannot connect to the Docker daemon" in text or "docker daemon is not running" in text.lower():
        return UserError(not_reachable(doing))
    if "permission denied" in text.lower() and "docker.sock" in text:
        return UserError(permission_denied(doing))
    last = text.splitlines()[-1] if text else (
        f"the docker client was killed by {signal.Signals(-code).name}" if code < 0 else f"exit {code}")
    return UserError(f"Docker failed while {doing}: {last.removeprefix('Error response from daemon: ')}")
