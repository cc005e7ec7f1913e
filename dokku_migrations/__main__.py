"""Entry point of every shim: `python3 -m dokku_migrations (trigger NAME|command|install|try) ARGS...`;
and of the `dokku-migrations try IMAGE ...` console script that `pip install .` or `pipx install` make.

Maps every failure to one Dokku-style ` !     ` line and an exit code; a traceback is shown
only with DOKKU_TRACE set. Heavy imports happen after dispatch, so `install` (system Python,
no dependencies yet) stays cheap; the head start of a deploy (headstart.py) comes before them all.
"""

from __future__ import annotations

import os
import sys

from dokku_migrations.common.errors import Interrupted, UserError
from dokku_migrations.docker import headstart

MODULE = "python3 -m dokku_migrations"
CONSOLE = "dokku-migrations"  # the console script: `try` only, on a laptop or in CI
CONSOLE_USAGE = (f"usage: {CONSOLE} try IMAGE [--env KEY[=VALUE] ...] [--env-file PATH ...] [--command CMD] "
                 f"[--database TYPE[:VERSION]] [--database-image IMAGE] [--timeout SECONDS]\n(see '{CONSOLE} try "
                 "--help'; on a Dokku host the plugin runs through Dokku: 'dokku migrations:help')")


def dispatch(argv: list[str], prog: str = MODULE) -> None:
    if prog == CONSOLE and argv in (["-h"], ["--help"]):
        print(CONSOLE_USAGE)
        return
    if prog == CONSOLE and (not argv or argv[0] != "try"):
        raise UserError(CONSOLE_USAGE.replace("\n", " "), 2)
    if not argv:
        raise UserError(f"Usage: {MODULE} (trigger NAME|command|install|try) ARGS...")
    kind, rest = argv[0], argv[1:]
    if kind == "install":
        from dokku_migrations.setup.install import install
        install(os.environ)
        return
    from dokku_migrations.common import interrupts
    interrupts.install()
    if kind == "try":
        from dokku_migrations.tryout.main import main as try_main
        try_main(rest, os.environ, f"{prog} try")
        return
    if kind not in ("trigger", "command") or not rest:
        raise UserError(f"Unknown entry point '{kind}'")
    from dokku_migrations.context import Context
    ctx = Context.from_environ(os.environ)
    try:
        if kind == "trigger":
            from dokku_migrations.entry.triggers import TRIGGERS
            if rest[0] not in TRIGGERS:
                raise UserError(f"Unknown trigger {rest[0]}")
            TRIGGERS[rest[0]](ctx, rest[1:], os.environ)
            return
        from dokku_migrations.entry.commands import COMMANDS
        if rest[0] not in COMMANDS:
            raise UserError(f"Unknown command {rest[0]}: see 'dokku migrations:help'",
                            int(os.environ.get("DOKKU_NOT_IMPLEMENTED_EXIT", "10")))
        COMMANDS[rest[0]](ctx, rest, os.environ)
    finally:
        ctx.close()


def main(argv: list[str], prog: str = MODULE) -> int:
    try:
        headstart.begin(argv, os.environ)  # before anything else is loaded: see headstart.py
        dispatch(argv, prog)
    except UserError as error:
        warn(error.message)
        return error.exit_code
    except KeyboardInterrupt:
        warn("Interrupted before anything was started")
        return 130
    except BrokenPipeError:
        return 1
    except Exception as error:  # the last line of defence: one readable line, never a traceback
        if os.environ.get("DOKKU_TRACE"):
            raise
        warn(f"dokku-migrations hit an unexpected error: {type(error).__name__}: {error} "
             "(rerun with DOKKU_TRACE=1 for details)")
        return 1
    finally:
        headstart.discard()
    return 0


def warn(message: str) -> None:
    from dokku_migrations.common.output import warn as fail
    fail(message)


def exit_now(code: int) -> None:
    """Ends the process without the interpreter's teardown of every module it loaded (~20M
    instructions, ~5 ms of every deploy): the plugin closes its own files and waits for its own
    processes, so the output is all there is left to flush. Like the interpreter's own exit, an
    output that cannot be flushed ends the process with 120."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        code = 120
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


def run(argv: list[str], prog: str = MODULE) -> None:
    try:
        status = main(argv, prog)
    except (Interrupted, KeyboardInterrupt):  # a first signal while main was reporting an error or cleaning up
        status = 130
    exit_now(status)


def console() -> None:
    """The `dokku-migrations` console script (pyproject.toml `[project.scripts]`)."""
    run(sys.argv[1:], CONSOLE)


if __name__ == "__main__":
    run(sys.argv[1:])
