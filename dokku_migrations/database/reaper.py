"""A pre-flight's watchdog: a process of its own that removes what the pre-flight started (its
throwaway server, network, containers) if the plugin dies before it could (a SIGKILL, the OOM
killer). Like gate/watchdog.py: the plugin keeps the write end of a pipe; one byte dismisses it, an
end-of-file means the plugin is gone. In a session of its own, with no terminal and `python -S`:
it loads the Engine API client and nothing else. Should it die too, the app's next pre-flight
removes every left-over first (`remove_leftovers`).
"""

from __future__ import annotations

import os
import select
import signal
import sys

from dokku_migrations.common.dismissal import Dismissal

PASSES = 30
PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))


class Reaper(Dismissal):
    """The pre-flight's reaper, dismissed once the pre-flight removed what it started."""


def spawn(label: str, env: dict) -> Reaper:
    """`label` ("key=value") is on everything the pre-flight starts."""
    import subprocess
    read_end, write_end = os.pipe()
    try:
        subprocess.Popen([sys.executable, "-S", "-m", "dokku_migrations.database.reaper", str(read_end), label],
                         pass_fds=(read_end,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True, cwd=PLUGIN_DIR, env=dict(env))
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    return Reaper(write_end)


def remove(engine, label: str) -> int:
    """Every container, then every network, carrying `label`, through the Engine API: how many were found."""
    import json
    query = {"all": "1", "filters": json.dumps({"label": [label]})}
    containers = engine.json("GET", "/containers/json", "listing a pre-flight's containers", query=query) or []
    for container in containers:
        engine.remove(container["Id"])
    networks = engine.json("GET", "/networks", "listing a pre-flight's networks",
                           query={"filters": json.dumps({"label": [label]})}) or []
    for network in networks:
        try:
            engine.request("DELETE", f"/networks/{network['Id']}", "removing a pre-flight's network")
        except Exception:
            pass
    return len(containers) + len(networks)


def main(argv: list[str]) -> int:
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    fd, label = int(argv[0]), argv[1]
    select.select([fd], [], [])
    if os.read(fd, 1):
        return 0
    import time

    from dokku_migrations.docker.engine import Engine
    engine = Engine(os.environ)
    # A Docker call the plugin had under way when it died (a container being created) may still land:
    # passes go on until two in a row find nothing.
    quiet = 0
    for _ in range(PASSES):
        quiet = quiet + 1 if remove(engine, label) == 0 else 0
        if quiet >= 2:
            break
        time.sleep(1.0)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Exception:  # nobody is left to read an error: the app's next pre-flight removes the rest
        sys.exit(1)
