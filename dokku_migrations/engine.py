"""The Docker Engine API over its socket, with the standard library only.

Why not the docker CLI: every CLI call is a process of its own (~15-30 ms); the API answers inspect,
create, archive, start, wait and remove in about a millisecond each, and its `wait` is the one
authority on how a container ended — a CLI client that dies early cannot make a running container
look finished. Only `docker container create` of the migration container stays with the CLI, which
parses the app's docker options exactly as Dokku does (see docker.py).

The endpoint is the one the docker CLI of the plugin's own environment would use: DOCKER_HOST
(`unix://` or `tcp://`, TLS with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH), else the current context of
the dokku user's docker config, else the local socket. Never anything from the app's config.
"""

import base64
import hashlib
import http.client
import json
import socket
import ssl
import struct
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple
from urllib.parse import quote, urlencode, urlsplit

from .errors import UserError

API = "/v1.40"
DEFAULT_SOCKET = "/var/run/docker.sock"
CALL_TIMEOUT = 120


class EngineError(Exception):
    """The engine answered with an error status; `status` lets callers treat 404/409 as answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class TooLarge(Exception):
    """A response body over the caller's limit."""


class Unreachable(UserError):
    """No engine at the endpoint: the first thing to check at 2 a.m."""


def endpoint(env: Mapping[str, str]) -> str:
    """DOCKER_HOST, else the docker config's current context, else the default socket."""
    host = env.get("DOCKER_HOST", "")
    if host:
        return host
    context = env.get("DOCKER_CONTEXT", "") or _current_context(env)
    if context and context != "default":
        return _context_host(env, context)
    return "unix://" + DEFAULT_SOCKET


def _config_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("DOCKER_CONFIG") or Path(env.get("HOME", "/")) / ".docker")


def _current_context(env: Mapping[str, str]) -> str:
    try:
        data = json.loads((_config_dir(env) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return str(data.get("currentContext") or "") if isinstance(data, dict) else ""


def _context_host(env: Mapping[str, str], context: str) -> str:
    """Where the docker CLI keeps a context: meta/<sha256 of its name>/meta.json."""
    digest = hashlib.sha256(context.encode()).hexdigest()
    path = _config_dir(env) / "contexts" / "meta" / digest / "meta.json"
    try:
        host = json.loads(path.read_text(encoding="utf-8"))["Endpoints"]["docker"]["Host"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"The docker context '{context}' has no endpoint in {path}: check 'docker context ls'")
    return str(host)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: Optional[float]) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Engine:
    """One client per process; requests on a kept-alive connection, long waits on their own."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.url = endpoint(env)
        self._env = dict(env)
        parts = urlsplit(self.url)
        self._scheme = parts.scheme
        if parts.scheme == "unix":
            self._target = parts.path or DEFAULT_SOCKET
        elif parts.scheme in ("tcp", "http", "https"):
            self._target = parts.netloc
        else:
            raise UserError(f"DOCKER_HOST={self.url} is not supported by dokku-migrations (unix:// or tcp:// "
                            "only): point the dokku user's DOCKER_HOST at the engine's socket")
        self._tls = parts.scheme == "https" or bool(env.get("DOCKER_TLS_VERIFY")) or bool(env.get("DOCKER_TLS"))
        self._conn: Optional[http.client.HTTPConnection] = None

    # --- transport ----------------------------------------------------------------------------
    def _connection(self, timeout: Optional[float]) -> http.client.HTTPConnection:
        if self._scheme == "unix":
            return _UnixConnection(self._target, timeout)
        if self._tls:
            return http.client.HTTPSConnection(self._target, timeout=timeout, context=self._ssl_context())
        return http.client.HTTPConnection(self._target, timeout=timeout)

    def _ssl_context(self) -> ssl.SSLContext:
        certs = Path(self._env.get("DOCKER_CERT_PATH") or _config_dir(self._env))
        context = ssl.create_default_context(cafile=str(certs / "ca.pem") if (certs / "ca.pem").exists() else None)
        if (certs / "cert.pem").exists():
            context.load_cert_chain(str(certs / "cert.pem"), str(certs / "key.pem"))
        if not self._env.get("DOCKER_TLS_VERIFY"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _unreachable(self, error: OSError, doing: str) -> UserError:
        if isinstance(error, PermissionError):
            return Unreachable(permission_denied(doing))
        return Unreachable(f"{not_reachable(doing)} ({self.url})")

    def request(self, method: str, path: str, doing: str, query: Optional[Mapping[str, Any]] = None,
                body: Any = None, timeout: Optional[float] = None,
                limit: Optional[int] = None) -> Tuple[int, Dict[str, str], bytes]:
        """One call; an error status raises EngineError with the engine's own message.

        Without `timeout` the call uses the kept-alive connection (short calls); with one, a
        connection of its own, so a long `wait` never holds up the others. A body longer than
        `limit` raises TooLarge without being read whole (hostile images).
        """
        url = API + path + ("?" + urlencode(query) if query else "")
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        shared = timeout is None
        for attempt in (1, 2):
            if shared and self._conn is None:
                self._conn = self._connection(CALL_TIMEOUT)
            conn = self._conn if shared and self._conn is not None else self._connection(timeout)
            try:
                conn.request(method, url, body=payload, headers=headers)
                response = conn.getresponse()
                data = response.read(limit + 1) if limit is not None else response.read()
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as error:
                self._drop(conn)
                if attempt == 1 and shared and method in ("GET", "HEAD"):
                    continue  # a kept-alive connection the engine had closed
                raise self._unreachable(error, doing)
            except socket.timeout:
                self._drop(conn)
                raise
            except (OSError, http.client.HTTPException) as error:
                self._drop(conn)
                raise self._unreachable(error if isinstance(error, OSError) else ConnectionError(), doing)
            except BaseException:
                self._drop(conn)  # an interrupt halfway through a call leaves the connection unusable
                raise
            if limit is not None and len(data) > limit:
                self._drop(conn)
                raise TooLarge(limit)
            if not shared or response.will_close:
                self._drop(conn)
            if response.status >= 400:
                raise EngineError(response.status, _message(data) or f"HTTP {response.status}")
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        raise AssertionError("unreachable")

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        if conn is self._conn:
            self._conn = None

    def json(self, method: str, path: str, doing: str, **kwargs: Any) -> Any:
        status, _, data = self.request(method, path, doing, **kwargs)
        return json.loads(data) if data else None

    def stream(self, path: str, doing: str, query: Mapping[str, Any]) -> "Hijacked":
        """A hijacked connection (attach): the raw byte stream of a container's output."""
        conn = self._connection(None)
        try:
            conn.connect()
            sock = conn.sock
            request = (f"POST {API}{path}?{urlencode(query)} HTTP/1.1\r\nHost: docker\r\n"
                       "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n")
            sock.sendall(request.encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("closed before the response")
                head += chunk
        except OSError as error:
            conn.close()
            raise self._unreachable(error, doing)
        header, _, rest = head.partition(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        if status not in (101, 200):
            conn.close()
            raise EngineError(status, _message(rest) or f"HTTP {status}")
        return Hijacked(sock, rest)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def not_reachable(doing: str) -> str:
    return f"Docker is not reachable while {doing}: is the Docker daemon running?"


def permission_denied(doing: str) -> str:
    return f"Permission denied on the Docker socket while {doing}: is the dokku user in the docker group?"


def _message(data: bytes) -> str:
    try:
        parsed = json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace").strip()
    return str(parsed.get("message", "")) if isinstance(parsed, dict) else ""


def path_of(name: str) -> str:
    """An image or container name as a URL path segment (`dokku/shop:latest` keeps its slash)."""
    return quote(name, safe="/:@")


class Hijacked:
    """Docker's multiplexed output stream (no TTY): 8-byte frame headers, then payload."""

    def __init__(self, sock: socket.socket, buffered: bytes) -> None:
        self.sock = sock
        self._buffer = bytearray(buffered)
        self.closed = False

    def frames(self, slice_seconds: float, between: Callable[[], None]) -> Iterator[Tuple[int, bytes]]:
        """(stream, payload) frames until the engine closes the stream; `between` runs at least every
        `slice_seconds`, output or not (timeouts and interrupts are checked there)."""
        self.sock.settimeout(slice_seconds)
        checked = time.monotonic()
        while True:
            while len(self._buffer) >= 8:
                kind, size = struct.unpack(">BxxxL", self._buffer[:8])
                if len(self._buffer) < 8 + size:
                    break
                payload = bytes(self._buffer[8:8 + size])
                del self._buffer[:8 + size]
                yield kind, payload
            if time.monotonic() - checked >= slice_seconds:
                between()
                checked = time.monotonic()
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.close()
                return
            self._buffer += chunk

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass


def decode_stat(header: str) -> Dict[str, Any]:
    """X-Docker-Container-Path-Stat: base64 JSON with the file's mode and resolved link target."""
    try:
        value = json.loads(base64.b64decode(header))
    except (ValueError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}

