"""The engine client's HTTP/1.1, against a fake engine on a unix socket answering canned responses."""

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, List

import pytest

from dokku_migrations.docker.engine import Engine, EngineError, TooLarge, Unreachable, path_of


def ok(body: bytes, status: str = "200 OK") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def chunked(*chunks: bytes) -> bytes:
    body = b"".join(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for chunk in chunks)
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n"


class FakeEngine:
    """Accepts connections; `answer(request_head)` gives the bytes to send back, or None to hang up."""

    def __init__(self, path: Path, answer: Callable[[bytes], bytes]) -> None:
        self.path = str(path)
        self.answer = answer
        self.requests: List[bytes] = []
        self.connections = 0
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(8)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            try:
                self._answer_all(conn)
            except OSError:
                pass  # the client hung up (it read no further than it wanted)

    def _answer_all(self, conn: socket.socket) -> None:
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, data = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(data) < length:
                data += conn.recv(65536)
            data = data[length:]
            self.requests.append(head)
            reply = self.answer(head)
            if reply is None:
                return
            conn.sendall(reply)
            if reply.startswith(b"HTTP/1.0"):
                return  # HTTP/1.0: the end of the body is the end of the connection

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def serve(tmp_path):
    fakes = []

    def start(answer):
        fake = FakeEngine(tmp_path / f"docker{len(fakes)}.sock", answer)
        fakes.append(fake)
        return fake, Engine({"DOCKER_HOST": f"unix://{fake.path}"})

    yield start
    for fake in fakes:
        fake.close()


def test_short_calls_share_one_kept_alive_connection(serve):
    fake, engine = serve(lambda head: ok(b'{"Id": "abc"}'))
    assert engine.json("GET", "/images/x/json", "inspecting") == {"Id": "abc"}
    assert engine.json("GET", "/images/y/json", "inspecting") == {"Id": "abc"}
    assert fake.connections == 1
    assert fake.requests[0].startswith(b"GET /v1.40/images/x/json HTTP/1.1\r\n")


def test_a_chunked_body_is_read_whole(serve):
    _, engine = serve(lambda head: chunked(b'{"a":', b' 1}'))
    assert engine.json("GET", "/x", "asking") == {"a": 1}


def test_a_body_that_ends_with_the_connection_is_read_whole(serve):
    _, engine = serve(lambda head: b"HTTP/1.0 200 OK\r\n\r\n[1, 2]")
    assert engine.json("GET", "/x", "asking") == [1, 2]


def test_a_json_body_is_sent_with_its_length(serve):
    fake, engine = serve(lambda head: b"HTTP/1.1 204 No Content\r\n\r\n")
    engine.request("POST", "/containers/create", "creating", body={"Image": "a"})
    assert b"Content-Length: 14" in fake.requests[0] and b"Content-Type: application/json" in fake.requests[0]


def test_an_error_status_raises_with_the_engines_message(serve):
    _, engine = serve(lambda head: ok(b'{"message": "No such image"}', "404 Not Found"))
    with pytest.raises(EngineError) as error:
        engine.request("GET", "/images/x/json", "inspecting")
    assert (error.value.status, error.value.message) == (404, "No such image")


def test_a_body_over_the_limit_is_refused(serve):
    _, engine = serve(lambda head: chunked(b"x" * 100, b"y" * 100))
    with pytest.raises(TooLarge):
        engine.request("GET", "/x", "asking", limit=150)


def test_a_get_is_asked_again_when_the_engine_closed_the_kept_alive_connection(serve):
    answers = iter([ok(b"1"), None, ok(b"2")])
    fake, engine = serve(lambda head: next(answers))
    assert engine.json("GET", "/x", "asking") == 1
    assert engine.json("GET", "/x", "asking") == 2
    assert fake.connections == 2


def test_a_call_with_a_timeout_gives_up_with_socket_timeout(serve):
    _, engine = serve(lambda head: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    with pytest.raises(socket.timeout):
        engine.request("POST", "/containers/x/wait", "waiting", timeout=0.2)


def test_no_engine_is_told_in_one_line(tmp_path):
    engine = Engine({"DOCKER_HOST": f"unix://{tmp_path}/missing.sock"})
    with pytest.raises(Unreachable, match="Docker is not reachable while inspecting"):
        engine.request("GET", "/x", "inspecting")


def test_sent_calls_are_all_asked_before_any_answer_is_read(serve):
    arrived = threading.Barrier(3, timeout=5)

    def answer(head):
        arrived.wait()  # no answer until all three are in: if sending waited for answers, this never ends
        path = head.split(b" ")[1].decode()
        return ok(b"{}", "404 Not Found") if "b" in path else ok(json.dumps(path).encode())

    _, engine = serve(answer)
    pending = [engine.send([("GET", path, query, None)], "reading")
               for path, query in (("/a", {}), ("/b", {}), ("/c", {"path": "/x y"}))]
    a, b, c = (answers[0] for answers in (each.answers() for each in pending))
    assert json.loads(a[2]) == "/v1.40/a"
    assert isinstance(b, EngineError) and b.status == 404
    assert json.loads(c[2]) == "/v1.40/c?path=%2Fx%20y"


def test_calls_sent_on_one_connection_are_answered_in_order(serve):
    fake, engine = serve(lambda head: ok(json.dumps(head.split(b" ")[1].decode()).encode()))
    answers = engine.send([("POST", "/one", {}, {"x": 1}), ("GET", "/two", {}, None), ("DELETE", "/three", {}, None)],
                          "asking").answers()
    assert [json.loads(answer[2]) for answer in answers] == ["/v1.40/one", "/v1.40/two", "/v1.40/three"]
    assert fake.connections == 1


def test_a_body_over_the_limit_ends_the_answers_of_its_connection(serve):
    _, engine = serve(lambda head: ok(b"x" * 100))
    answers = engine.send([("GET", "/a", {}, None), ("GET", "/b", {}, None)], "asking", limit=50).answers()
    assert len(answers) == 1 and isinstance(answers[0], TooLarge)


@pytest.mark.parametrize("name", ["dokku/shop:latest", "registry.example.com:5000/a/b@sha256:0f", "x y/é+%?#&="])
def test_names_in_paths_are_escaped_as_urllib_would(name):
    from urllib.parse import quote
    assert path_of(name) == quote(name, safe="/:@")


def test_loading_the_engine_client_loads_no_typing_pathlib_or_urllib():
    code = ("import sys; import dokku_migrations.docker.engine; "
            "print(sorted(m for m in ('typing', 'pathlib', 'urllib.parse', 'http.client') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.strip() == "[]"
