"""Dokku's output conventions (plugins/common/functions): info on stdout, failures on stderr."""

import sys
from typing import BinaryIO, Optional, TextIO

INFO1 = "-----> "
INFO2 = "=====> "
VERBOSE = "       "
FAIL = " !     "


def _emit(stream: TextIO, text: str) -> None:
    """A terminal that went away (the SSH client hung up) must not stop the cleanup that follows."""
    try:
        stream.write(text + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


def info1(message: str) -> None:
    _emit(sys.stdout, INFO1 + message)


def info2(message: str) -> None:
    _emit(sys.stdout, INFO2 + message)


def verbose(message: str) -> None:
    _emit(sys.stdout, "\n".join(VERBOSE + line for line in message.splitlines() or [""]))


def warn(message: str) -> None:
    _emit(sys.stderr, FAIL + message)


class IndentedStream:
    """Copies a byte stream to the terminal indented Dokku-style, and to a log file, as it arrives.

    Works on arbitrary chunks (not lines), so a 50 MB line without a newline still streams
    in bounded memory. It has no `encoding` attribute on purpose: `sh` then hands it raw bytes,
    and a multi-byte character split across two chunks stays intact.
    """

    def __init__(self, terminal: BinaryIO, log: Optional[BinaryIO] = None) -> None:
        self._terminal: Optional[BinaryIO] = terminal
        self._log = log
        self._at_line_start = True
        self.log_error: Optional[OSError] = None

    def write(self, chunk: bytes) -> None:
        """Called from `sh`'s reader thread: an error here must not kill the stream, so it is kept
        (disk full: `log_error`, checked after the run) or dropped (terminal gone)."""
        if self._log is not None:
            try:
                self._log.write(chunk)
            except OSError as error:
                self.log_error, self._log = error, None
        if self._terminal is not None:
            try:  # flushed at once: a pipe (Dokku's build capture, ssh) would hold 8 KB, or the whole run
                self._terminal.write(indent_chunk(chunk, self._at_line_start))
                self._terminal.flush()
            except OSError:
                self._terminal = None
        if chunk:
            self._at_line_start = chunk.endswith(b"\n")

    def note(self, text: str) -> None:
        """A line of the plugin's own amid the migration's output, on a line of its own."""
        if not self._at_line_start:
            self.write(b"\n")
        self.write(text.encode() + b"\n")

    def flush(self) -> None:
        if self._log is not None:
            try:
                self._log.flush()
            except OSError as error:
                self.log_error, self._log = error, None
        if self._terminal is not None:
            try:
                self._terminal.flush()
            except OSError:
                self._terminal = None

    def finish(self) -> None:
        """Ends a last line that had no newline, so Dokku's next message starts on its own line."""
        if not self._at_line_start and self._terminal is not None:
            try:
                self._terminal.write(b"\n")
            except OSError:
                self._terminal = None
            self._at_line_start = True
        self.flush()


def indent_chunk(chunk: bytes, at_line_start: bool) -> bytes:
    """Prefixes every line that starts inside `chunk` with Dokku's 7-space indent."""
    if not chunk:
        return chunk
    prefix = VERBOSE.encode()
    body = chunk.replace(b"\n", b"\n" + prefix)
    if chunk.endswith(b"\n"):
        body = body[: -len(prefix)]
    return (prefix + body) if at_line_start else body
