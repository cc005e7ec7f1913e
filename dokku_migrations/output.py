"""Dokku's output conventions (plugins/common/functions): info on stdout, failures on stderr."""

import sys
from typing import BinaryIO, Optional

INFO1 = "-----> "
INFO2 = "=====> "
VERBOSE = "       "
FAIL = " !     "


def info1(message: str) -> None:
    print(INFO1 + message, flush=True)


def info2(message: str) -> None:
    print(INFO2 + message, flush=True)


def verbose(message: str) -> None:
    for line in message.splitlines() or [""]:
        print(VERBOSE + line, flush=True)


def warn(message: str) -> None:
    print(FAIL + message, file=sys.stderr, flush=True)


class IndentedStream:
    """Copies a byte stream to the terminal indented Dokku-style, and to a log file, as it arrives.

    Works on arbitrary chunks (not lines), so a 50 MB line without a newline still streams
    in bounded memory. It has no `encoding` attribute on purpose: `sh` then hands it raw bytes,
    and a multi-byte character split across two chunks stays intact.
    """

    def __init__(self, terminal: BinaryIO, log: Optional[BinaryIO] = None) -> None:
        self._terminal = terminal
        self._log = log
        self._at_line_start = True

    def write(self, chunk: bytes) -> None:
        if self._log is not None:
            self._log.write(chunk)
        self._terminal.write(indent_chunk(chunk, self._at_line_start))
        if chunk:
            self._at_line_start = chunk.endswith(b"\n")

    def flush(self) -> None:
        if self._log is not None:
            self._log.flush()
        self._terminal.flush()

    def finish(self) -> None:
        """Ends a last line that had no newline, so Dokku's next message starts on its own line."""
        if not self._at_line_start:
            self._terminal.write(b"\n")
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
