"""The common case of `scheduler-deploy`, answered before the plugin loads: an image whose gate record
says it may start (migrated, nothing to run, migrations disabled, or it went live) starts.

Every `ps:restart`, `ps:scale` and boot of every app passes this hook, so `bin/run` runs it with
`python -S -E` and it loads nothing but built-in modules: `_json`'s scanner and `_socket` in place of
`json`, `re` and `socket`, whose imports cost several times Python's own start (callgrind: `python -S`
20 M instructions, `import json` 29 M more, `import socket` 32 M more).

It can only admit. Whenever it cannot tell for sure — no record, another status, a gate file it cannot
read or that holds anything `policy.parse_records` would refuse, a Docker context or a tcp DOCKER_HOST,
a name sorting after the scheduler, anything unexpected — it exits UNDECIDED and `bin/run` runs the
full trigger (entry/triggers.py `scheduler_deploy`), which refuses and explains, or admits by its
slower rules (a served image without a record, one on the host at the first install).
"""

import _json
import _socket
import os
import sys

from dokku_migrations.common.paths import PLUGIN_DIR
from dokku_migrations.common.rules import DEPLOYING_IMAGE_TRIGGERS, deploying_image, valid_app_name
from dokku_migrations.common.state import GATE_FILE, STATE_DIR
from dokku_migrations.docker.address import API, DEFAULT_SOCKET, path_of
from dokku_migrations.dokku.order import runs_after_scheduler

MIGRATED = "migrated"
NOTHING_TO_RUN = "nothing-to-run"
DISABLED = "disabled"
STARTABLE = (MIGRATED, NOTHING_TO_RUN, DISABLED)
UNDECIDED = 3
JSON_SPACE = " \t\n\r"


class _JSONContext:
    """What `_json.make_scanner` reads off `json.JSONDecoder`: the same parse, strict and plain."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity, as json.loads reads them
    memo: dict = {}


def loads(text: str) -> object:
    """json.loads for a str, or an exception (any: the C scanner's own errors need `json.decoder`)."""
    start = len(text) - len(text.lstrip(JSON_SPACE))
    value, end = _json.make_scanner(_JSONContext())(text, start)  # type: ignore[arg-type]  # duck-typed context
    if text[end:].strip(JSON_SPACE):
        raise ValueError("extra data")
    return value


def check_records(data: object) -> dict:
    """The gate file's records as (status, live, live_at) by image id; ValueError for anything not
    understood, so that a file is never read as fewer records than it holds (policy.parse_records)."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    records = {}
    for image_id, value in data.items():
        if isinstance(value, str):  # the first version stored the status alone
            records[image_id] = (value, False, 0.0)
            continue
        if not isinstance(value, dict) or not isinstance(value.get("status"), str):
            raise ValueError(f"no status for {image_id[:19]}")
        live, live_at = value.get("live", False), value.get("live_at", 0)
        if not isinstance(live, bool) or isinstance(live_at, bool) or not isinstance(live_at, (int, float)):
            raise ValueError(f"a bad value for {image_id[:19]}")
        records[image_id] = (value["status"], live, float(live_at))
    return records


def startable(record: object) -> bool:
    """policy.may_start for a record as check_records gives it."""
    return isinstance(record, tuple) and (record[1] is True or record[0] in STARTABLE)


def engine_socket(env: dict) -> str:
    """The local engine's socket when nothing else could be meant ("" otherwise: the full trigger
    resolves DOCKER_HOST, contexts and TLS as the docker CLI does)."""
    host = env.get("DOCKER_HOST", "")
    if host:
        return host[len("unix://"):] if host.startswith("unix:///") else ""
    if env.get("DOCKER_CONTEXT", ""):
        return ""
    config = env.get("DOCKER_CONFIG") or os.path.join(env.get("HOME", "/"), ".docker")
    try:
        with open(os.path.join(config, "config.json"), "rb") as file:
            if b"currentContext" in file.read():
                return ""
    except FileNotFoundError:
        pass
    except OSError:
        return ""
    return DEFAULT_SOCKET


def printed(plugn: str, *calls: tuple) -> list:
    """What each trigger printed, started all at once, as dokku/host.py `printed` reads them."""
    spawned = []
    for call in calls:
        read_end, write_end = os.pipe()
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, write_end, 1),
                   (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
                   (os.POSIX_SPAWN_CLOSE, read_end), (os.POSIX_SPAWN_CLOSE, write_end)]
        try:
            pid = os.posix_spawnp(plugn, [plugn, "trigger", *call], os.environ, file_actions=actions)
        finally:
            os.close(write_end)
        spawned.append((pid, read_end))
    outputs = []
    for pid, read_end in spawned:
        chunks = []
        while True:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(read_end)
        os.waitpid(pid, 0)
        outputs.append(b"".join(chunks).decode("utf-8", "replace").rstrip("\n"))
    return outputs


def image_id(socket_path: str, image: str) -> str:
    """`GET /images/{name}/json` over the engine's socket: the image's id, or "" when it has none."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(30)
        sock.connect(socket_path)
        sock.sendall(f"GET {API}/images/{path_of(image)}/json HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if head.split(b" ", 2)[1:2] != [b"200"]:
        return ""
    found = loads(body.decode("utf-8"))
    return found.get("Id", "") if isinstance(found, dict) else ""


def decide(argv: list, env: dict, plugin_dir: str) -> int:
    if len(argv) < 2 or not valid_app_name(argv[1]) or runs_after_scheduler(os.path.basename(plugin_dir)):
        return UNDECIDED
    app, tag = argv[1], argv[2] if len(argv) > 2 else ""
    socket_path = engine_socket(env)
    if not socket_path:
        return UNDECIDED
    repository, repo, deployed_tag = printed("plugn", *((name, app) for name in DEPLOYING_IMAGE_TRIGGERS))
    found = image_id(socket_path, deploying_image(app, tag, repository, repo, deployed_tag))
    if not found:
        return UNDECIDED
    lib_root = env.get("DOKKU_LIB_ROOT", "/var/lib/dokku")
    with open(os.path.join(lib_root, STATE_DIR, app, GATE_FILE), "rb") as file:
        records = check_records(loads(file.read().decode("utf-8")))
    return 0 if startable(records.get(found)) else UNDECIDED


def main() -> None:
    """`scheduler-deploy SCHEDULER APP IMAGE_TAG [PROCESS_TYPE]`: exit 0 to admit, else UNDECIDED."""
    try:
        code = decide(sys.argv[1:], dict(os.environ), PLUGIN_DIR)
    except Exception:
        code = UNDECIDED
    sys.exit(code)
