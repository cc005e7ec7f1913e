#!/usr/bin/python3
"""The stand-in's entry points (see README.md): the `dokku` script and every core plugin's trigger
file. Standard library only."""

from __future__ import annotations

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from state import env, fail, warn  # noqa: E402

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, NoReturn

# `dokku` lines 183-189: commands of core plugins get the --app value put back in front of their
# arguments; the stand-in's own commands are all core-plugin commands but dokku-postgres's and dokku-mariadb's.
COMMUNITY = ("postgres", "mariadb")


def act_like_bash() -> None:
    """Dokku's `dokku` script, plugn's bash and the trigger scripts are bash: bash ignores SIGQUIT
    (its foreground children still die of it) and dies of SIGPIPE. On SIGINT, a bash waiting for a
    foreground command waits for it to end, and dies of SIGINT only if the command did (bash(1),
    SIGNALS: "wait for the command to finish"; see call()). A Python handler that does nothing is
    reset to the default in every child at exec, as bash's ignore is."""
    signal.signal(signal.SIGQUIT, lambda number, frame: None)
    signal.signal(signal.SIGINT, lambda number, frame: None)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def call(argv: List[str]) -> int:
    """A foreground command, waited for as bash waits: a command that died of SIGINT takes the
    script with it; one that handled it (and exited) lets the script go on with its exit code."""
    import subprocess
    code = subprocess.call(argv, close_fds=False)
    if code == -signal.SIGINT:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return code


def parse_args(argv: List[str]) -> None:
    """plugins/common/functions parse_args: global flags anywhere in argv are exported. `--app` sets
    `skip` before the flags are collected, so its `--app=VALUE` branch is never reached: the flags
    get a bare `--app`, its value none. DOKKU_GLOBAL_FLAGS is set only when empty (`-z`)."""
    flags = []
    skip = False
    for index, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg == "--quiet":
            os.environ["DOKKU_QUIET_OUTPUT"] = "1"
        elif arg == "--trace":
            os.environ["DOKKU_TRACE"] = "1"
        elif arg == "--force":
            os.environ["DOKKU_APPS_FORCE_DELETE"] = "1"
        elif arg == "--app":
            os.environ["DOKKU_APP_NAME"] = argv[index + 1] if index + 1 < len(argv) else ""
            skip = True
        if arg.startswith("--"):
            flags.append(arg)
    if not os.environ.get("DOKKU_GLOBAL_FLAGS"):
        os.environ["DOKKU_GLOBAL_FLAGS"] = " ".join(flags)


def strip_leading_flags(argv: List[str]) -> List[str]:
    """`dokku` lines 71-87: only when the first argument is a flag, leading flags (`--app X` with its
    value; `--version` kept) are removed."""
    if not argv or not argv[0].startswith("--"):
        return argv
    rest = list(argv)
    kept = []
    while rest:
        arg = rest[0]
        if arg == "--version":
            kept.append(rest.pop(0))
        elif arg == "--app":
            del rest[:2]
        elif arg.startswith("--"):
            rest.pop(0)
        else:
            break
    return kept + rest


def dokku(argv: List[str]) -> NoReturn:
    """The `dokku` script: environment, global flags, build capture for git-hook/ps:rebuild/ps:restart
    (line 191), then the command: a core command here, else the community plugins' dispatch."""
    import commands
    import deploy
    act_like_bash()
    os.environ.setdefault("DOKKU_PID", str(os.getpid()))
    os.environ.setdefault("DOKKU_NOT_IMPLEMENTED_EXIT", "10")
    os.environ.setdefault("DOKKU_VALID_EXIT", "0")
    os.environ.setdefault("DOKKU_API_VERSION", "1")
    os.environ.setdefault("DOKKU_GLOBAL_RUN_ARGS", "--label=org.label-schema.schema-version=1.0 "
                          "--label=org.label-schema.vendor=dokku --label=dokku")
    os.environ.setdefault("DOCKER_BIN", "docker")
    parse_args(argv)
    argv = strip_leading_flags(argv)
    if not argv:
        fail("usage: dokku COMMAND")
    command = commands.find(argv[0])
    if command is None or argv[0].split(":")[0] in COMMUNITY:
        if command is not None:
            command(*argv[1:])  # type: ignore[operator]
            sys.exit(0)
        plugin_command(argv)
    args = argv[1:]
    if os.environ.get("DOKKU_APP_NAME"):
        args = [env("DOKKU_APP_NAME"), *args]
    if argv[0] in ("git-hook", "ps:rebuild", "ps:restart") and args:
        deploy.setup_build_capture(args[0], argv[0])
    command(*args)  # type: ignore[operator]
    sys.exit(0)


def plugin_command(argv: List[str]) -> NoReturn:
    """`dokku` execute_dokku_cmd: <ns>/subcommands/default, <ns>/subcommands/<sub>; else EVERY
    enabled plugin's `commands` in name order: 10 means not mine, any other non-zero code ends Dokku
    with that code, and 0 does not stop the loop (dokku lines 195-226)."""
    namespace, _, sub = argv[0].partition(":")
    from pathlib import Path
    enabled = Path(env("PLUGIN_ENABLED_PATH"))
    candidates = [enabled / namespace / "subcommands" / "default", enabled / namespace / "subcommands" / argv[0]]
    candidates += [enabled / namespace / "subcommands" / sub] if sub else []
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            sys.exit(call([str(candidate), *argv]))
    implemented = False
    for plugin in sorted(enabled.iterdir()):
        script = plugin / "commands"
        if not (script.is_file() and os.access(script, os.X_OK)):
            continue
        code = call([str(script), *argv])
        if code == int(env("DOKKU_NOT_IMPLEMENTED_EXIT")):
            continue
        implemented = True
        if code != int(env("DOKKU_VALID_EXIT")):
            sys.exit(code)
    if not implemented:
        warn(f"`{' '.join(argv)}` is not a dokku command.")
        warn("See `dokku help` for a list of available commands.")
        sys.exit(1)
    sys.exit(0)


def trigger(plugin: str, name: str, args: List[str]) -> None:
    """A core plugin's trigger file (a bash script in Dokku)."""
    act_like_bash()
    import triggers
    triggers.run_trigger(plugin, name, args)


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--trigger":
        trigger(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        dokku(sys.argv[1:])
