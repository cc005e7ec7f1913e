"""A database client container that reaches the database exactly as the migration does.

It runs the database's own image (its psql, mariadb or mysql client) with the networking of the
migration container — the same `--link`s, networks (attach-post-create ones included), extra hosts
and DNS — so whatever the migration can reach, it can; nothing runs on the host, and no client needs
installing there. The connection's values travel over the container's stdin, never on an argv or in
the container's configuration (`docker inspect` shows neither), and a request is one line of SQL
answered by the client's output and an end marker.

The container lives as long as its stdin: when the plugin goes away in any way (a SIGKILL
included) the attach connection closes, the shell reads end-of-file and exits, and Docker removes
it (AutoRemove). `close()` removes it at once all the same.
"""

import os
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from dokku_migrations.common.errors import UserError
from dokku_migrations.database.url import MYSQL, POSTGRES, Target, environment
from dokku_migrations.docker import labels
from dokku_migrations.docker.client import Docker
from dokku_migrations.docker.engine import Hijacked

SLICE = 0.1
# Read the connection's variables (NAME=VALUE lines, then an empty one), then answer requests. The
# client is looked up once; a missing one answers every request with 127.
SCRIPT = r"""
while IFS= read -r line && [ -n "$line" ]; do export "$line"; done
if [ "$1" = postgres ]; then client=$(command -v psql); else
  client=$(command -v mariadb || command -v mysql); fi
while IFS= read -r request; do
  if [ -z "$client" ]; then code=127; echo "no database client in this image";
  elif [ "$1" = postgres ]; then
    printf '%s\n' "$request" | "$client" -X -A -t -q -F "$(printf '\t')" -v ON_ERROR_STOP=1 2>&1; code=$?
  else
    printf '%s\n' "$request" | "$client" -N -B --connect-timeout=5 --protocol=TCP -h "$MYSQL_HOST" \
      -P "$MYSQL_TCP_PORT" -u "$MYSQL_USER" ${MYSQL_DATABASE:+"--database=$MYSQL_DATABASE"} 2>&1; code=$?
  fi
  echo "@@$2 $code"
done
"""
OFFICIAL = {POSTGRES: ("postgres",), MYSQL: ("mariadb", "mysql")}


class Unobservable(Exception):
    """Why the database cannot be seen: said once, and the run goes on."""


class _Waited(Exception):
    """A poll's time is up: not a failure, the answer may still come."""


class Session:
    """One client container, opened for a run, answering requests until closed.

    Requests may be sent without waiting for their answer (what the migration is doing is asked
    while its output streams, and must never hold that up): the client answers them in order, so
    the answer to the latest one is whatever follows the last end marker still owed."""

    def __init__(self, docker: Docker, cid: str, attach: Hijacked, marker: str) -> None:
        self.docker = docker
        self.cid = cid
        self._attach = attach
        self._end = b"@@" + marker.encode() + b" "
        self._received = bytearray()
        self._unanswered = 0
        self.closed = False

    @property
    def busy(self) -> bool:
        """A request sent is still unanswered."""
        return self._unanswered > 0

    def ask(self, sql: str, seconds: float, check: Callable[[], None]) -> Tuple[int, str]:
        """Sends one line of SQL; returns the client's exit code and output. `check` runs between
        waits (interrupts); past `seconds`, Unobservable."""
        self.send(sql)
        answer = self.poll(seconds, check)
        if answer is None:
            raise Unobservable("the database did not answer in time")
        return answer

    def send(self, sql: str) -> None:
        """Sends one line of SQL and returns at once."""
        if self.closed:
            raise Unobservable("the database client is gone")
        try:
            self._attach.sock.sendall(sql.replace("\n", " ").encode("utf-8") + b"\n")
        except OSError as error:
            raise Unobservable(f"the database client went away ({error.strerror or error})")
        self._unanswered += 1

    def poll(self, seconds: float, check: Callable[[], None]) -> Optional[Tuple[int, str]]:
        """The answer to the latest request, once every request sent is answered (earlier answers
        are read and dropped); None when `seconds` pass first."""
        answer = self._answer()
        if answer is not None or not self._unanswered:
            return answer
        end = time.monotonic() + seconds

        def between() -> None:
            check()
            if time.monotonic() >= end:
                raise _Waited()

        try:
            for _, payload in self._attach.frames(min(SLICE, max(seconds, 0.005)), between):
                self._received += payload
                answer = self._answer()
                if answer is not None:
                    return answer
        except _Waited:
            return None
        raise Unobservable("the database client exited")

    def _answer(self) -> Optional[Tuple[int, str]]:
        while self._unanswered:
            at = self._received.find(self._end)
            line_end = self._received.find(b"\n", at) if at >= 0 else -1
            if line_end < 0:
                return None
            code = bytes(self._received[at + len(self._end):line_end]).strip()
            text = self._received[:at].decode("utf-8", "replace")
            del self._received[:line_end + 1]
            self._unanswered -= 1
            if not self._unanswered:
                return (int(code) if code.isdigit() else 1), text
        return None

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._attach.close()
        try:
            self.docker.remove(self.cid)
        except UserError:
            pass  # it removes itself once its stdin is closed (AutoRemove)


def networking(migration: Dict[str, Any]) -> Tuple[Dict[str, Any], List[str], List[str]]:
    """From the migration container's inspect document: the HostConfig parts that decide what it
    reaches, the other networks it joined (attach-post-create), and its links as `name:alias`."""
    host = migration.get("HostConfig") or {}
    mode = host.get("NetworkMode") or "default"
    config: Dict[str, Any] = {"NetworkMode": mode}
    links = [_link(link) for link in host.get("Links") or []]
    if links:
        config["Links"] = links
    for key in ("ExtraHosts", "Dns", "DnsOptions", "DnsSearch"):
        if host.get(key):
            config[key] = host[key]
    joined = list((migration.get("NetworkSettings") or {}).get("Networks") or {})
    primary = "bridge" if mode == "default" else mode
    others = [network for network in joined if network != primary and not mode.startswith("container:")]
    return config, others, links


def _link(link: str) -> str:
    """Docker shows `/dokku.postgres.db:/app-x/dokku-postgres-db`; it takes `dokku.postgres.db:dokku-postgres-db`."""
    name, _, alias = link.partition(":")
    return f"{name.lstrip('/')}:{alias.rsplit('/', 1)[-1]}" if alias else name.lstrip("/")


def server_image(docker: Docker, target: Target, links: List[str], networks: List[str]) -> Optional[str]:
    """The image of the container that serves `target.host`: the link whose alias it is (dokku-postgres,
    dokku-mysql, dokku-mariadb link that way), a container of that name, or one with that alias on a
    network the migration shares."""
    for link in links:
        name, _, alias = link.partition(":")
        if target.host in (name, alias):
            found = docker.container(name)
            if found:
                return str(found.get("Image") or "") or None
    found = docker.container(target.host)
    if found:
        return str(found.get("Image") or "") or None
    for network in networks:
        for cid in docker.network_containers(network)[:50]:
            found = docker.container(cid)
            joined = ((found or {}).get("NetworkSettings") or {}).get("Networks") or {}
            aliases = (joined.get(network) or {}).get("Aliases") or []
            dns = (joined.get(network) or {}).get("DNSNames") or []
            if found and target.host in list(aliases) + list(dns):
                return str(found.get("Image") or "") or None
    return None


def client_image(docker: Docker, app: str, target: Target, setting: str, links: List[str],
                 networks: List[str]) -> Tuple[str, str]:
    """The image whose client talks to the database, and where it came from: the `database-image`
    setting, the server's own image, else the newest local official image (never pulled during a
    deploy: a registry's delay or absence must not hold it up)."""
    if setting:
        return setting, "the database-image setting"
    image = server_image(docker, target, links, networks)
    if image:
        return image, f"the image of the container serving {target.host}"
    for repository in OFFICIAL[target.kind]:
        tags = docker.images_named(repository)
        if tags:
            return tags[0][1], f"the local image {tags[0][0]}"
    wanted = "postgres:16" if target.kind == POSTGRES else "mariadb:11.4"
    raise Unobservable(f"no image with a {target.kind} client was found for {target.host}: pull one ('docker pull "
                       f"{wanted}') or name one ('dokku migrations:set {app} database-image {wanted}')")


def reap(docker: Docker, app: str) -> int:
    """Removes the app's client containers a dead plugin left (they end with their stdin, which
    Docker closes when the plugin's connection goes: this is the backstop). Called holding the app's
    run lock, so none belongs to a live run. Returns how many there were."""
    found = docker.database_clients(app)
    for cid in found:
        docker.remove(cid)
    return len(found)


def open_session(docker: Docker, app: str, target: Target, image: str, migration: Dict[str, Any]) -> Session:
    """Starts the client container beside the migration and hands it the connection's values."""
    host_config, others, _ = networking(migration)
    host_config.update({"AutoRemove": True, "Memory": 128 * 1024 * 1024})
    marker = "dm-" + os.urandom(8).hex()  # secrets.token_hex, without loading OpenSSL for it
    body = {"Image": image, "Entrypoint": ["/bin/sh", "-c", SCRIPT, "dokku-migrations-database"],
            "Cmd": [target.kind, marker], "User": "", "WorkingDir": "/", "Labels": {labels.DATABASE: app},
            "OpenStdin": True, "StdinOnce": True, "AttachStdin": True, "AttachStdout": True,
            "AttachStderr": True, "Tty": False, "HostConfig": host_config}
    cid, attach = docker.start_attached(body, others, "starting the database client container")
    session = Session(docker, cid, attach, marker)
    values = environment(target) or {}
    lines = "".join(f"{name}={value}\n" for name, value in values.items())
    try:
        attach.sock.sendall(lines.encode("utf-8") + b"\n")
    except OSError as error:
        session.close()
        raise Unobservable(f"the database client went away ({error.strerror or error})")
    return session
