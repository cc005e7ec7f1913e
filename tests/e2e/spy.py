"""Every way the plugin reaches Docker, recorded whole: a `docker` first on PATH that logs each
invocation's argv before running the real one, and a proxy on a socket of its own (DOCKER_HOST)
that keeps every byte clients send the engine, for the docker CLI and the plugin's Engine API
client alike. Nothing is sampled, so nothing short-lived slips through. The proxy can also cut
connections, as a dying client or a dropped connection would, and, by rule, refuse a request (the
engine going away as it arrives, as when dockerd restarts) or hold it back (an engine too slow to
get to it before the client is killed)."""

import os
import re
import shutil
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Tuple

REQUEST_LINE = re.compile(rb"^(GET|HEAD|POST|PUT|DELETE) (\S+) HTTP/1\.[01]\r$", re.MULTILINE)
WRAPPER = """#!/bin/sh
# Logs this invocation's argv (NUL-separated, one invocation per record), then runs the real docker.
for arg in "$@"; do printf '%s\\0' "$arg"; done >>"{log}"
printf '\\n' >>"{log}"
exec {docker} "$@"
"""


Rule = Callable[[bytes, bool], bool]  # (a request line, whether a docker CLI sent it) -> applies?


@dataclass
class Connection:
    sockets: List[socket.socket]
    sent: bytearray = field(default_factory=bytearray)
    forwarded: int = 0  # how much of `sent` went on to the engine
    checked: int = 0  # where the next request line to check starts, at the earliest
    held: bool = False  # nothing more goes to the engine

    @property
    def from_cli(self) -> bool:
        return b"User-Agent: Docker-Client/" in self.sent

    @property
    def targets(self) -> List[bytes]:
        """Method and URL of every request on the connection."""
        return [match.group(0) for match in REQUEST_LINE.finditer(bytes(self.sent))]


class DockerSpy:
    def __init__(self, directory: Path, engine_socket: str = "/var/run/docker.sock") -> None:
        self.directory = directory
        self.engine_socket = engine_socket
        self.connections: List[Connection] = []
        self.rules: List[Tuple[str, Rule]] = []
        directory.mkdir(mode=0o755)
        self.log = directory / "argv.log"
        self.log.touch(mode=0o666)
        os.chmod(self.log, 0o666)
        bin_dir = directory / "bin"
        bin_dir.mkdir(mode=0o755)
        wrapper = bin_dir / "docker"
        wrapper.write_text(WRAPPER.format(log=self.log, docker=shutil.which("docker")))
        os.chmod(wrapper, 0o755)
        self.socket_path = directory / "docker.sock"
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(self.socket_path))
        os.chmod(self.socket_path, 0o666)
        self.server.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def env(self, path: str) -> Dict[str, str]:
        """What a command runs with to be seen: the wrapper first on PATH, the proxy as the engine."""
        return {"PATH": f"{self.directory / 'bin'}:{path}", "DOCKER_HOST": f"unix://{self.socket_path}"}

    def invocations(self) -> List[List[bytes]]:
        records = self.log.read_bytes().split(b"\n")
        return [record.split(b"\0")[:-1] for record in records if record]

    def cut(self, target: bytes) -> int:
        """Shuts down every open connection that sent a request for `target` (e.g. b"/attach?");
        returns how many."""
        cut = 0
        for connection in self.connections:
            if any(target in line for line in connection.targets) and connection.sockets:
                for sock in connection.sockets:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                connection.sockets = []
                cut += 1
        return cut

    def refuse(self, rule: Rule) -> None:
        """From now on a connection sending a request the rule applies to is shut down before the engine
        sees that request."""
        self.rules.append(("refuse", rule))

    def hold(self, rule: Rule) -> None:
        """From now on such a request, and all that follows it on its connection, never reaches the
        engine, while the connection stays open."""
        self.rules.append(("hold", rule))

    def close(self) -> None:
        self.server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.engine_socket)
            connection = Connection([client, upstream])
            self.connections.append(connection)
            threading.Thread(target=self._requests, args=(connection, client, upstream), daemon=True).start()
            threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()

    def _requests(self, connection: Connection, client: socket.socket, upstream: socket.socket) -> None:
        """Client to engine: kept whole; each request line checked against the rules before it goes on."""
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                connection.sent.extend(data)
                if self._apply_rules(connection):
                    return
                if not connection.held and len(connection.sent) > connection.forwarded:
                    upstream.sendall(bytes(connection.sent[connection.forwarded:]))
                    connection.forwarded = len(connection.sent)
        except OSError:
            pass
        finally:
            _shut(upstream, client)

    def _apply_rules(self, connection: Connection) -> bool:
        """Forwards up to a held request; shuts down on a refused one (then True)."""
        for match in REQUEST_LINE.finditer(bytes(connection.sent), connection.checked):
            connection.checked = match.end()
            for action, rule in list(self.rules):
                if not rule(match.group(0), connection.from_cli):
                    continue
                if action == "refuse":
                    for sock in connection.sockets:
                        _shut_both(sock)
                    connection.sockets = []
                    return True
                if not connection.held and match.start() > connection.forwarded:
                    connection.sockets[1].sendall(bytes(connection.sent[connection.forwarded:match.start()]))
                    connection.forwarded = match.start()
                connection.held = True
        return False


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        _shut(target, source)


def _shut(target: socket.socket, source: socket.socket) -> None:
    for sock, how in ((target, socket.SHUT_WR), (source, socket.SHUT_RD)):
        try:
            sock.shutdown(how)
        except OSError:
            pass


def _shut_both(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
