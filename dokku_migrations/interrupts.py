"""SIGINT/SIGTERM/SIGHUP/SIGQUIT become one `Interrupted` exception in the main thread, so every `finally`
removes what it started; the signal is also remembered, because Python drops an exception raised
where it cannot propagate (inside a finaliser), and the long waits check for it between slices.

Signal dispositions are process-wide, so this state is too: it lives here and nowhere else.
"""

import signal
from typing import List, Optional

from .errors import Interrupted

# SIGQUIT: `dokku builds:cancel` sends it to the deploy's whole process group.
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_received: List[str] = []


def install() -> None:
    """After the first signal every later one is ignored: a second Ctrl-C cannot cut cleanup short."""
    def handler(number: int, frame: object) -> None:
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        name = signal.Signals(number).name
        _received.append(name)
        raise Interrupted(name)

    for sig in SIGNALS:
        signal.signal(sig, handler)


def received() -> Optional[str]:
    return _received[0] if _received else None


def check() -> None:
    """Raises Interrupted if a signal arrived, even one whose exception was lost."""
    name = received()
    if name:
        raise Interrupted(name)
