"""SIGINT/SIGTERM/SIGHUP/SIGQUIT become one `Interrupted` exception in the main thread, so every `finally`
removes what it started; the signal is also remembered, because Python drops an exception raised
where it cannot propagate (inside a finaliser), and the long waits check for it between slices.

Signal dispositions are process-wide, so this state is too: it lives here and nowhere else.
"""

import signal
import threading
from contextlib import contextmanager
from typing import Iterator, List, Optional

from dokku_migrations.common.errors import Interrupted

# SIGQUIT: `dokku builds:cancel` sends it to the deploy's whole process group.
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_received: List[str] = []
_installed: List[bool] = []  # only a process that installed the handlers (not the watchdog) hears again


def _handler(number: int, frame: object) -> None:
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    name = signal.Signals(number).name
    _received.append(name)
    raise Interrupted(name)


def install() -> None:
    """After the first signal every later one is ignored: a second Ctrl-C cannot cut cleanup short."""
    for sig in SIGNALS:
        signal.signal(sig, _handler)
    _installed.append(True)


@contextmanager
def heard_again() -> Iterator[None]:
    """Within it, a further signal raises Interrupted again: a second Ctrl-C during a grace period
    means "kill it now". On leaving, the handlers are as before (ignored after a first signal), so
    the cleanup that follows is never cut short. Only the main thread may set handlers."""
    if not _installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    before, heard = {sig: signal.getsignal(sig) for sig in SIGNALS}, len(_received)
    for sig in SIGNALS:
        signal.signal(sig, _handler)
    try:
        yield
    finally:
        if len(_received) == heard:  # else the handler left every signal ignored: keep it so
            for sig, handler in before.items():
                signal.signal(sig, handler)


def received() -> Optional[str]:
    return _received[0] if _received else None


def check() -> None:
    """Raises Interrupted if a signal arrived, even one whose exception was lost."""
    name = received()
    if name:
        raise Interrupted(name)
