"""The statements a migration sent, read back from a throwaway server's own log, and SQL as text.

Tool-agnostic by construction: whatever the migration tool (node-pg-migrate, Django, Rails, a shell
script), the server logs what reached it. PostgreSQL logs `statement: …` (simple protocol) and
`execute <name>: …` (extended protocol) lines under log_statement=all, written as CSV
(log_destination=csvlog); MySQL/MariaDB's general log, kept in the mysql.general_log table, has a row
per `Query` or `Execute`. Parameters of prepared statements (PostgreSQL's DETAIL lines) are values,
never read.

Pure: parsing and splitting a text into statements (what is shown of one is its shape: shape.py).
"""

import binascii
import csv
import functools
import io
import re
from dataclasses import dataclass
from typing import Iterator, List, Sequence

# csvlog's columns (PostgreSQL 16 docs, 20.8.4 "Using CSV-Format Log Output"); later versions append columns.
PG_SEVERITY, PG_DATABASE, PG_MESSAGE = 11, 2, 13
PG_STATEMENT = re.compile(r"(?:statement|execute [^:]*): (.*)", re.DOTALL)
MYSQL_KINDS = ("Query", "Execute")


@dataclass(frozen=True)
class Token:
    kind: str  # space, comment, string, quoted, word, number, param, punct
    text: str


_TOKEN = r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<string>[EeBbXxNn]?'(?:[^']|'')*(?:'|\Z))
  | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*)?\$)
  | (?P<quoted>"(?:[^"]|"")*(?:"|\Z)|`(?:[^`]|``)*(?:`|\Z))
  | (?P<param>\$[0-9]+|\?)
  | (?P<number>[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+)
  | (?P<word>[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*)
  | (?P<punct>::|<=|>=|<>|!=|.)
"""


@functools.cache
def _tokens() -> "re.Pattern[str]":
    """_TOKEN compiled on first use: compiling its non-ASCII ranges takes milliseconds, and every
    release imports this module (through the observer) whether or not it ever reads a statement."""
    return re.compile(_TOKEN, re.VERBOSE | re.DOTALL)


def tokenize(sql: str) -> Iterator[Token]:
    """SQL as PostgreSQL and MySQL lex it, closely enough to split it and find its tables: quotes, dollar
    quotes and comments are whole tokens (MySQL's double-quoted strings count as identifiers)."""
    tokens = _tokens()
    at = 0
    while at < len(sql):
        match = tokens.match(sql, at)
        assert match is not None  # the last alternative matches any character
        if match.lastgroup in ("dollar", "tag"):
            delimiter = match.group("dollar")
            end = sql.find(delimiter, match.end())
            stop = len(sql) if end < 0 else end + len(delimiter)
            yield Token("string", sql[at:stop])
            at = stop
            continue
        kind = match.lastgroup or "punct"
        yield Token(kind, match.group(kind))
        at = match.end()


def split(sql: str) -> List[str]:
    """The statements in a text, each without its `;`; comments and blank ones dropped."""
    statements: List[str] = []
    current: List[str] = []
    for token in tokenize(sql):
        if token.kind == "punct" and token.text == ";":
            _flush(current, statements)
            current = []
        elif token.kind != "comment":
            current.append(token.text)
    _flush(current, statements)
    return statements


def _flush(parts: List[str], into: List[str]) -> None:
    text = "".join(parts).strip()
    if text:
        into.append(text)


def from_postgres_csv(text: str, database: str) -> List[str]:
    """The statements logged for `database`, in order, from a csvlog file."""
    found: List[str] = []
    for row in csv.reader(io.StringIO(text)):
        if len(row) <= PG_MESSAGE or row[PG_SEVERITY] != "LOG" or row[PG_DATABASE] != database:
            continue
        match = PG_STATEMENT.fullmatch(row[PG_MESSAGE])
        if match:
            found.extend(split(match.group(1)))
    return found


def from_mysql_rows(text: str, own: str) -> List[str]:
    """`thread_id<TAB>command_type<TAB>HEX(argument)` rows of mysql.general_log, in order; the threads
    that sent `own` (the plugin's own sessions announce themselves with it) left out."""
    rows = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) != 3:
            continue
        try:
            argument = binascii.unhexlify(fields[2]).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            continue
        rows.append((fields[0], fields[1], argument))
    mine = {thread for thread, _, argument in rows if argument.strip() == own}
    found: List[str] = []
    for thread, kind, argument in rows:
        if thread not in mine and kind in MYSQL_KINDS:
            found.extend(split(argument))
    return found


def numbered(statements: Sequence[str]) -> str:
    """The statements as one script (for a linter), one after the other, each ending its line with `;`."""
    return "".join(f"{statement};\n" for statement in statements)


def line_starts(statements: Sequence[str]) -> List[int]:
    """The first line (0-based) of each statement in `numbered(statements)`."""
    starts, line = [], 0
    for statement in statements:
        starts.append(line)
        line += statement.count("\n") + 1
    return starts
