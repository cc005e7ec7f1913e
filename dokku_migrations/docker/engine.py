"""The Docker Engine API over its socket, with the standard library only.

Why not the docker CLI: every CLI call is a process of its own (~15-30 ms); the API answers inspect,
create, archive, start, wait and remove in about a millisecond each, and its `wait` is the one
authority on how a container ended — a CLI client that dies early cannot make a running container
look finished. Only `docker container create` of the migration container stays with the CLI, which
parses the app's docker options exactly as Dokku does (see docker.py).

Why not http.client: importing it (with the email parser it reads headers with, and ssl) costs
more than everything else a deploy with nothing to migrate does in Python. The engine speaks
plain HTTP/1.1, so the few lines of it used here are written out below; ssl is imported only for
a TLS endpoint. For the same reason this module imports no more than socket and json when it
loads (no typing, pathlib or urllib at run time): headstart.py talks to the engine through it
before anything else of the plugin is loaded.

The endpoint is the one the docker CLI of the plugin's own environment would use: DOCKER_HOST
(`unix://` or `tcp://`, TLS with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH), else the current context of
the dokku user's docker config, else the local socket. Never anything from the app's config.
"""

from __future__ import annotations

import binascii
import json
import os
import socket
import struct
import time

from dokku_migrations.common.errors import UserError
from dokku_migrations.docker.address import API, DEFAULT_SOCKET, escape, path_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from typing import Any, Callable, Iterator, Mapping, Sequence

    Answer = tuple[int, dict[str, str], bytes]
    Call = tuple[str, str, Mapping[str, Any], Any]  # method, path, query, JSON body

CALL_TIMEOUT = 120
MAX_LINE = 65536
BODYLESS = (204, 304)


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


class Malformed(ConnectionError):
    """Something that is not an HTTP answer came back (or it stopped halfway)."""


def endpoint(env: Mapping[str, str]) -> str:
    """DOCKER_HOST, else the docker config's current context, else the default socket."""
    host = env.get("DOCKER_HOST", "")
    if host:
        return host
    context = env.get("DOCKER_CONTEXT", "") or _current_context(env)
    if context and context != "default":
        return _context_host(env, context)
    return "unix://" + DEFAULT_SOCKET


def _config_dir(env: Mapping[str, str]) -> str:
    return env.get("DOCKER_CONFIG") or os.path.join(env.get("HOME", "/"), ".docker")


def _read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def _current_context(env: Mapping[str, str]) -> str:
    try:
        data = _read_json(os.path.join(_config_dir(env), "config.json"))
    except (OSError, ValueError):
        return ""
    return str(data.get("currentContext") or "") if isinstance(data, dict) else ""


def _context_host(env: Mapping[str, str], context: str) -> str:
    """Where the docker CLI keeps a context: meta/<sha256 of its name>/meta.json."""
    import hashlib
    digest = hashlib.sha256(context.encode()).hexdigest()
    path = os.path.join(_config_dir(env), "contexts", "meta", digest, "meta.json")
    try:
        host = _read_json(path)["Endpoints"]["docker"]["Host"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"The docker context '{context}' has no endpoint in {path}: check 'docker context ls'")
    return str(host)


class _Connection:
    """One HTTP/1.1 connection: a request, then its whole response; kept alive if the engine allows."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = bytearray()

    def send(self, method: str, url: str, payload: bytes | None) -> None:
        head = f"{method} {url} HTTP/1.1\r\nHost: docker\r\n"
        if payload is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        elif method in ("POST", "PUT", "PATCH"):
            head += "Content-Length: 0\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + (payload or b""))

    def receive(self, method: str, limit: int | None) -> tuple[int, dict[str, str], bytes, bool]:
        """(status, headers with lowercase names, body, whether the engine closes the connection).
        A body is read up to `limit` + 1 bytes at most."""
        status_line = self._line(first=True)
        try:
            version, code = status_line.split(b" ", 2)[:2]
            status = int(code)
        except ValueError:
            raise Malformed(f"not an HTTP status line: {status_line[:80]!r}")
        headers: dict[str, str] = {}
        while True:
            line = self._line()
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        closes = version != b"HTTP/1.1" or headers.get("connection", "").lower() == "close"
        most = None if limit is None else limit + 1
        if method == "HEAD" or status in BODYLESS or 100 <= status < 200:
            body = b""
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._chunked(most)
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise Malformed("bad Content-Length")
            body = self._exactly(length if most is None else min(length, most))
        else:
            body, closes = self._until_closed(most), True
        return status, headers, body, closes or (most is not None and len(body) >= most)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self._buffer += chunk
        return bool(chunk)

    def _line(self, first: bool = False) -> bytes:
        while True:
            end = self._buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[:end + 2]
                return line
            if len(self._buffer) > MAX_LINE:
                raise Malformed("header line too long")
            if not self._fill():
                if first and not self._buffer:
                    raise ConnectionResetError("the engine closed the connection before answering")
                raise Malformed("the answer stopped halfway")

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            if not self._fill():
                raise Malformed("the answer stopped halfway")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _chunked(self, most: int | None) -> bytes:
        body = bytearray()
        while most is None or len(body) < most:
            try:
                size = int(self._line().split(b";", 1)[0], 16)
            except ValueError:
                raise Malformed("bad chunk size")
            if size == 0:
                while self._line():  # trailers
                    pass
                break
            body += self._exactly(size)
            self._exactly(2)
        return bytes(body if most is None else body[:most])

    def _until_closed(self, most: int | None) -> bytes:
        while (most is None or len(self._buffer) < most) and self._fill():
            pass
        data = bytes(self._buffer if most is None else self._buffer[:most])
        self._buffer.clear()
        return data

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Engine:
    """One client per process; requests on a kept-alive connection, long waits on their own."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.url = endpoint(env)
        self._env = dict(env)
        self._conn: _Connection | None = None
        scheme, _, rest = self.url.partition("://")
        scheme = scheme.lower()
        self._tls = scheme == "https" or bool(env.get("DOCKER_TLS_VERIFY")) or bool(env.get("DOCKER_TLS"))
        if scheme == "unix" and rest.startswith("/") and not any(char in rest for char in "?#"):
            self._target: str | tuple[str, int] = rest  # the usual case, read without loading urllib
            return
        from urllib.parse import urlsplit
        parts = urlsplit(self.url)
        if parts.scheme == "unix":
            self._target = parts.path or DEFAULT_SOCKET
        elif parts.scheme in ("tcp", "http", "https"):
            try:
                port = parts.port
            except ValueError:
                port = None
            self._target = (parts.hostname or "localhost", port or (443 if self._tls else 80))
        else:
            raise UserError(f"DOCKER_HOST={self.url} is not supported by dokku-migrations (unix:// or tcp:// "
                            "only): point the dokku user's DOCKER_HOST at the engine's socket")

    # --- transport ----------------------------------------------------------------------------
    def _socket(self, timeout: float | None) -> socket.socket:
        if isinstance(self._target, str):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(self._target)
            except BaseException:
                sock.close()
                raise
            return sock
        sock = socket.create_connection(self._target, timeout=timeout)
        if not self._tls:
            return sock
        try:
            return self._ssl_context().wrap_socket(sock, server_hostname=self._target[0])
        except BaseException:
            sock.close()
            raise

    def _ssl_context(self) -> ssl.SSLContext:
        import ssl
        certs = self._env.get("DOCKER_CERT_PATH") or _config_dir(self._env)
        ca, cert, key = (os.path.join(certs, name) for name in ("ca.pem", "cert.pem", "key.pem"))
        context = ssl.create_default_context(cafile=ca if os.path.exists(ca) else None)
        if os.path.exists(cert):
            context.load_cert_chain(cert, key)
        if not self._env.get("DOCKER_TLS_VERIFY"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _unreachable(self, error: OSError, doing: str) -> UserError:
        if isinstance(error, PermissionError):
            return Unreachable(permission_denied(doing))
        return Unreachable(f"{not_reachable(doing)} ({self.url})")

    def request(self, method: str, path: str, doing: str, query: Mapping[str, Any] | None = None,
                body: Any = None, timeout: float | None = None, limit: int | None = None) -> Answer:
        """One call; an error status raises EngineError with the engine's own message.

        Without `timeout` the call uses the kept-alive connection (short calls); with one, a
        connection of its own, so a long `wait` never holds up the others. A body longer than
        `limit` raises TooLarge without being read whole (hostile images).
        """
        url = API + path + ("?" + _query(query) if query else "")
        payload = json.dumps(body).encode() if body is not None else None
        shared = timeout is None
        for attempt in (1, 2):
            conn = self._conn if shared else None
            try:
                if conn is None:
                    conn = _Connection(self._socket(CALL_TIMEOUT if shared else timeout))
                    if shared:
                        self._conn = conn
                conn.send(method, url, payload)
                status, headers, data, closes = conn.receive(method, limit)
            except (ConnectionResetError, BrokenPipeError) as error:
                self._drop(conn)
                if attempt == 1 and shared and method in ("GET", "HEAD"):
                    continue  # a kept-alive connection the engine had closed
                raise self._unreachable(error, doing)
            except socket.timeout:
                self._drop(conn)
                raise
            except OSError as error:
                self._drop(conn)
                raise self._unreachable(error, doing)
            except BaseException:
                self._drop(conn)  # an interrupt halfway through a call leaves the connection unusable
                raise
            if not shared or closes:
                self._drop(conn)
            return _answer(status, headers, data, limit)
        raise AssertionError("unreachable")

    def send(self, calls: Sequence[Call], doing: str, limit: int | None = None) -> Pending:
        """Sends calls one after the other on a connection of their own, without waiting: the engine
        works on them (in order) while the caller does something else; `Pending.answers` reads them."""
        conn: _Connection | None = None
        try:
            conn = _Connection(self._socket(CALL_TIMEOUT))
            for method, path, query, body in calls:
                url = API + path + ("?" + _query(query) if query else "")
                conn.send(method, url, json.dumps(body).encode() if body is not None else None)
        except OSError as error:
            if conn is not None:
                conn.close()
            raise self._unreachable(error, doing)
        return Pending(self, conn, [method for method, *_ in calls], doing, limit)

    def _drop(self, conn: _Connection | None) -> None:
        if conn is None:
            return
        conn.close()
        if conn is self._conn:
            self._conn = None

    def json(self, method: str, path: str, doing: str, **kwargs: Any) -> Any:
        status, _, data = self.request(method, path, doing, **kwargs)
        return json.loads(data) if data else None

    def stream(self, path: str, doing: str, query: Mapping[str, Any], body: Any = None) -> Hijacked:
        """A hijacked connection (attach, exec start): the raw byte stream of a container's output,
        and its stdin when one was asked for."""
        sock: socket.socket | None = None
        payload = json.dumps(body).encode() if body is not None else b""
        try:
            sock = self._socket(None)
            request = (f"POST {API}{path}{'?' + _query(query) if query else ''} HTTP/1.1\r\nHost: docker\r\n"
                       "Connection: Upgrade\r\nUpgrade: tcp\r\n"
                       f"{'Content-Type: application/json' + chr(13) + chr(10) if payload else ''}"
                       f"Content-Length: {len(payload)}\r\n\r\n")
            sock.sendall(request.encode() + payload)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("closed before the response")
                head += chunk
        except OSError as error:
            if sock is not None:
                sock.close()
            raise self._unreachable(error, doing)
        header, _, rest = head.partition(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        if status not in (101, 200):
            sock.close()
            raise EngineError(status, _message(rest) or f"HTTP {status}")
        return Hijacked(sock, rest)

    def remove(self, cid: str) -> None:
        """Force-removes a container; one that is already gone (or going) is fine."""
        try:
            self.request("DELETE", f"/containers/{path_of(cid)}", f"removing container {cid[:12]}",
                         query={"force": "1", "v": "1"})
        except EngineError as error:
            if error.status != 404 and "already in progress" not in error.message:
                raise failed(error, f"removing container {cid[:12]}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Pending:
    """Calls sent by `Engine.send`, their answers not read yet."""

    def __init__(self, engine: Engine, conn: _Connection, methods: list[str], doing: str,
                 limit: int | None) -> None:
        self._engine = engine
        self._conn = conn
        self._methods = methods
        self._doing = doing
        self._limit = limit

    def answers(self) -> list[Answer | EngineError | TooLarge]:
        """One per call, in order: an error status or a body over the limit in place of its answer
        (the calls after a body over the limit are then not read); a dead engine or a timeout raise."""
        answers: list[Answer | EngineError | TooLarge] = []
        try:
            for method in self._methods:
                status, headers, data, _ = self._conn.receive(method, self._limit)
                try:
                    answers.append(_answer(status, headers, data, self._limit))
                except EngineError as error:
                    answers.append(error)
                except TooLarge as error:
                    answers.append(error)
                    break
        except socket.timeout:
            raise
        except OSError as error:
            raise self._engine._unreachable(error, self._doing)
        finally:
            self._conn.close()
        return answers


def failed(error: EngineError, doing: str) -> UserError:
    return UserError(f"Docker failed while {doing}: {error.message}")


def not_reachable(doing: str) -> str:
    return f"Docker is not reachable while {doing}: is the Docker daemon running?"


def permission_denied(doing: str) -> str:
    return f"Permission denied on the Docker socket while {doing}: is the dokku user in the docker group?"


def _answer(status: int, headers: dict[str, str], data: bytes, limit: int | None) -> Answer:
    if limit is not None and len(data) > limit:
        raise TooLarge(limit)
    if status >= 400:
        raise EngineError(status, _message(data) or f"HTTP {status}")
    return status, headers, data


def _message(data: bytes) -> str:
    try:
        parsed = json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace").strip()
    return str(parsed.get("message", "")) if isinstance(parsed, dict) else ""


def _query(query: Mapping[str, Any]) -> str:
    return "&".join(f"{escape(str(key))}={escape(str(value))}" for key, value in query.items())


class Hijacked:
    """Docker's multiplexed output stream (no TTY): 8-byte frame headers, then payload."""

    def __init__(self, sock: socket.socket, buffered: bytes) -> None:
        self.sock = sock
        self._buffer = bytearray(buffered)
        self.closed = False

    def frames(self, slice_seconds: float, between: Callable[[], None]) -> Iterator[tuple[int, bytes]]:
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


def decode_stat(header: str) -> dict[str, Any]:
    """X-Docker-Container-Path-Stat: base64 JSON with the file's mode and resolved link target."""
    try:
        value = json.loads(binascii.a2b_base64(header))
    except (ValueError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}

