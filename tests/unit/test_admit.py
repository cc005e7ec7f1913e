"""gate/admit.py: restarts of an image the gate records as startable are admitted before the plugin
loads, and nothing else ever is."""

import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from dokku_migrations.gate import admit
from dokku_migrations.gate import policy as gates

from .loading import REPO, loaded


# --- loads: json.loads, from the C scanner alone ---------------------------------------------------
@pytest.mark.parametrize("text", ['{"a": {"status": "migrated", "live": true, "live_at": 1.5}}', ' {"a": "x"}\n',
                                  "[]", '{"a": NaN}', '{"a": 1e400}', '"\\u00e9"', "{}"])
def test_loads_reads_what_json_reads(text):
    assert repr(admit.loads(text)) == repr(json.loads(text))


@pytest.mark.parametrize("text", ['{"a": {"sta', "", '{"a": 1} x', '{"a": 1}\x0b', '\ufeff{}', "{'a': 1}",
                                  '{"a": 1,}'])
def test_loads_refuses_what_json_refuses(text):
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises((ValueError, StopIteration, SystemError)):  # the C scanner's own, without json.decoder
        admit.loads(text)


# --- the decision: only what policy.may_start admits ----------------------------------------------
RECORDS = [{"status": status, "live": live} for status in ("migrated", "nothing-to-run", "disabled", "pending",
                                                            "failed", "rolled-back", "unknown", "")
           for live in (True, False)] + ["migrated", "pending", "failed"]


@pytest.mark.parametrize("record", RECORDS, ids=[json.dumps(record) for record in RECORDS])
def test_a_record_is_admitted_exactly_when_the_full_policy_lets_it_start(record):
    data = {"sha256:a": record}
    full = gates.may_start(gates.parse_records(data)["sha256:a"])
    assert admit.startable(admit.check_records(data)["sha256:a"]) == full


def test_an_image_without_a_record_is_left_to_the_full_trigger():
    assert not admit.startable(admit.check_records({"sha256:a": "migrated"}).get("sha256:b"))


# --- where the engine is --------------------------------------------------------------------------
@pytest.mark.parametrize("env,expected", [
    ({"DOCKER_HOST": "unix:///run/user/docker.sock"}, "/run/user/docker.sock"),
    ({"DOCKER_HOST": "tcp://10.0.0.1:2376"}, ""),
    ({"DOCKER_CONTEXT": "remote"}, ""),
])
def test_only_a_local_socket_is_spoken_to(env, expected, tmp_path):
    assert admit.engine_socket({"HOME": str(tmp_path), **env}) == expected


def test_a_docker_config_naming_a_context_is_left_to_the_full_trigger(tmp_path):
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text('{"currentContext": "remote"}')
    assert admit.engine_socket({"HOME": str(tmp_path)}) == ""
    (tmp_path / ".docker" / "config.json").write_text("{}")
    assert admit.engine_socket({"HOME": str(tmp_path)}) == "/var/run/docker.sock"


def serve_once(path: str, reply: bytes, asked: list) -> threading.Thread:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def answer():
        connection, _ = server.accept()
        asked.append(connection.recv(65536))
        connection.sendall(reply)
        connection.close()
        server.close()
    thread = threading.Thread(target=answer)
    thread.start()
    return thread


def test_the_image_id_comes_from_the_engine_by_name(tmp_path):
    asked = []
    body = json.dumps({"Id": "sha256:abc", "RepoTags": ["dokku/shop:latest"]}).encode()
    thread = serve_once(str(tmp_path / "docker.sock"), b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
                        + body, asked)
    assert admit.image_id(str(tmp_path / "docker.sock"), "dokku/shop:latest") == "sha256:abc"
    thread.join()
    assert asked[0].startswith(b"GET /v1.40/images/dokku/shop:latest/json HTTP/1.0\r\n")


def test_an_image_the_engine_does_not_have_has_no_id(tmp_path):
    thread = serve_once(str(tmp_path / "docker.sock"), b'HTTP/1.0 404 Not Found\r\n\r\n{"message": "no such image"}',
                        [])
    assert admit.image_id(str(tmp_path / "docker.sock"), "dokku/shop:latest") == ""
    thread.join()


# --- Dokku's answers ------------------------------------------------------------------------------
def test_the_triggers_are_read_as_bash_reads_them_failed_or_not(tmp_path, monkeypatch):
    plugn = tmp_path / "plugn"
    plugn.write_text('#!/bin/sh\necho "$2:$3"; echo noise >&2; [ "$2" = b ] && exit 1; exit 0\n')
    plugn.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert admit.printed("plugn", ("a", "shop"), ("b", "shop")) == ["a:shop", "b:shop"]


# --- what it costs --------------------------------------------------------------------------------
def test_it_loads_no_module_that_would_cost_more_than_pythons_own_start():
    assert loaded("from dokku_migrations.gate import admit",
                  ("json", "re", "socket", "subprocess", "typing", "pathlib", "enum"), "-S", "-E") == []


def test_anything_unexpected_is_left_to_the_full_trigger(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/missing.sock")
    monkeypatch.setenv("PATH", str(tmp_path))  # no plugn either
    result = subprocess.run([sys.executable, "-S", "-E", "-c", "from dokku_migrations.gate.admit import main; main()",
                             "docker-local", "shop", "latest"], cwd=REPO, env=dict(os.environ))
    assert result.returncode == admit.UNDECIDED
