"""The plugin's end of the pipe to a guard process (gate/watchdog.py beside a migration,
database/reaper.py beside a pre-flight): one byte dismisses the guard; the plugin's death closes the
pipe instead, and the guard's read of an end-of-file is what sets it to work. Standard library only:
the guards run with `python -S` and load as little as they can."""

import os

DISMISS = b"d"


class Dismissal:
    def __init__(self, write_end: int) -> None:
        self._write_end = write_end

    def dismiss(self) -> None:
        """The work ended under the plugin's eyes: the guard has nothing to do. Said once."""
        if self._write_end < 0:
            return
        try:
            os.write(self._write_end, DISMISS)
        except OSError:
            pass
        finally:
            os.close(self._write_end)
            self._write_end = -1
