"""Dokku's output conventions (plugins/common/functions): info on stdout, failures on stderr.

Much of what the plugin prints comes from an image: the migration's output, the command its
app.json declares, texts quoted in errors. A control sequence in it would reach the terminal of the
person at `git push` and could hide the failure line that follows (an escape that conceals text,
moves the cursor or clears the screen) or forge a line of Dokku's own (a carriage return or
backspaces over the indent, then `-----> … succeeded`). So every control character but tab and
newline is shown, not obeyed (`\x1b[8m`), and a line of the migration's output, or one it returns
to with a carriage return, always starts with the indent. The history's log keeps the raw bytes.
"""

import re
import sys
from typing import BinaryIO, Optional, TextIO

INFO1 = "-----> "
INFO2 = "=====> "
VERBOSE = "       "
FAIL = " !     "
# C0 but tab, newline and carriage return; DEL; C1 (U+0080-U+009F: U+009B is CSI to some terminals).
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# The same in a UTF-8 byte stream: a C0 byte never occurs inside a multi-byte character, a C1 one is
# \xc2\x80-\xc2\x9f. (A byte 0x80-0x9F standing alone is not UTF-8: a UTF-8 terminal shows U+FFFD.)
CONTROL_BYTES = re.compile(b"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")
C0_BYTES = frozenset([*range(0x00, 0x09), 0x0b, 0x0c, *range(0x0e, 0x20), 0x7f])
# Changes those bytes and no other: a chunk that `translate` leaves equal has none (CPython then even
# hands the chunk itself back, which `!=` sees at once). One pass, no regular expression.
FLAG_C0 = bytes(byte ^ 0x40 if byte in C0_BYTES else byte for byte in range(256))
C1_LEAD = b"\xc2"


def shown(match: "re.Match[str]") -> str:
    return f"\\x{ord(match.group(0)):02x}"


def shown_bytes(match: "re.Match[bytes]") -> bytes:
    return b"\\x%02x" % match.group(0)[-1]


def printable(text: str) -> str:
    """A line of the plugin's own, made safe to print: controls shown, carriage returns too."""
    return CONTROL.sub(shown, text).replace("\r", "\\x0d")


def _emit(stream: TextIO, text: str) -> None:
    """A terminal that went away (the SSH client hung up) must not stop the cleanup that follows.
    A line after the first (an image's text quoting a newline) is indented: never mistaken for one
    of Dokku's own."""
    lines = printable(text).split("\n")
    try:
        stream.write("\n".join(lines[:1] + [VERBOSE + line for line in lines[1:]]) + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


def info1(message: str) -> None:
    _emit(sys.stdout, INFO1 + message)


def info2(message: str) -> None:
    _emit(sys.stdout, INFO2 + message)


def verbose(message: str) -> None:
    _emit(sys.stdout, VERBOSE + message)


def warn(message: str) -> None:
    _emit(sys.stderr, FAIL + message)


class IndentedStream:
    """Copies a byte stream to the terminal indented Dokku-style, its controls shown not obeyed, and to
    a log file raw, as it arrives.

    Works on arbitrary chunks (not lines), so a 50 MB line without a newline still streams
    in bounded memory. It has no `encoding` attribute on purpose: `sh` then hands it raw bytes,
    and a multi-byte character split across two chunks stays intact.
    """

    def __init__(self, terminal: BinaryIO, log: Optional[BinaryIO] = None) -> None:
        self._terminal: Optional[BinaryIO] = terminal
        self._log = log
        self._shown = Shown()
        self._logged_line_end = True  # the log's last byte ends a line
        self.log_error: Optional[OSError] = None

    def write(self, chunk: bytes) -> None:
        """Called from `sh`'s reader thread: an error here must not kill the stream, so it is kept
        (disk full: `log_error`, checked after the run) or dropped (terminal gone)."""
        self._log_raw(chunk)
        self._show(self._shown.convert(chunk))

    def _log_raw(self, data: bytes) -> None:
        if self._log is not None and data:
            try:
                self._log.write(data)
            except OSError as error:
                self.log_error, self._log = error, None
            self._logged_line_end = data.endswith(b"\n")

    def _show(self, data: bytes) -> None:
        if self._terminal is not None and data:
            try:  # flushed at once: a pipe (Dokku's build capture, ssh) would hold 8 KB, or the whole run
                self._terminal.write(data)
                self._terminal.flush()
            except OSError:
                self._terminal = None

    def note(self, text: str) -> None:
        """A line of the plugin's own amid the migration's output, on a line of its own."""
        self._log_raw((b"" if self._logged_line_end else b"\n") + text.encode() + b"\n")
        self._show(self._shown.end_line() + self._shown.convert(printable(text).encode() + b"\n"))

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
        self._show(self._shown.end_line())
        self.flush()


class Shown:
    """What the terminal gets for a stream of chunks: controls shown (`\x1b`), every line — and every
    return to a line's start — indented. The usual chunk has no control at all and takes the fast way:
    one `translate` pass tells (about 10 instructions a byte under callgrind; a regular expression costs
    several times that), then the indenting; a C1 lead byte ending a chunk waits for the next one."""

    def __init__(self, indent: bytes = VERBOSE.encode()) -> None:
        self._indent = indent
        self._held = b""  # a trailing \xc2: the start of a C1 control, or of a plain character
        self._line_start = True  # the next byte starts a line (or follows a carriage return)
        self._fresh = True  # nothing is on the current line yet

    def convert(self, chunk: bytes) -> bytes:
        chunk, self._held = self._held + chunk, b""
        if chunk.translate(FLAG_C0) != chunk or C1_LEAD in chunk:
            if chunk.endswith(C1_LEAD):
                chunk, self._held = chunk[:-1], C1_LEAD
            chunk = CONTROL_BYTES.sub(shown_bytes, chunk)
        return self._indented(chunk)

    def end_line(self) -> bytes:
        """What ends a line in progress (a byte held back, then a newline), if one is."""
        data, self._held = self._indented(self._held), b""
        if self._fresh:
            return data
        self._line_start = self._fresh = True
        return data + b"\n"

    def _indented(self, chunk: bytes) -> bytes:
        if not chunk:
            return b""
        data = indent_chunk(chunk, self._line_start, self._indent)
        self._line_start = chunk.endswith((b"\n", b"\r"))
        self._fresh = chunk.endswith(b"\n")
        return data


def indent_chunk(chunk: bytes, at_line_start: bool, indent: bytes = VERBOSE.encode()) -> bytes:
    """Prefixes every line that starts inside `chunk` with Dokku's 7-space indent; a carriage return
    starts the line again, so it gets the indent again too."""
    if not chunk:
        return chunk
    body = chunk.replace(b"\n", b"\n" + indent)
    if b"\r" in body:
        body = body.replace(b"\r", b"\r" + indent)
    if chunk.endswith((b"\n", b"\r")):
        body = body[: -len(indent)]
    return (indent + body) if at_line_start else body


def duration(seconds: Optional[float]) -> str:
    """`45s`, `1m 02s`, `2h 05m`."""
    if seconds is None:
        return "an unknown time"
    whole = max(int(seconds), 0)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
