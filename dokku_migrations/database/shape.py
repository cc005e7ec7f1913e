"""A statement's shape: its keywords, identifiers and punctuation, every literal replaced by `?`.

What a migration or another session is running may carry secrets in its literals (a password in
`ALTER ROLE … PASSWORD '…'`, a token in an `INSERT`), so nothing of a statement is ever shown but its
shape. The reading errs on the side of hiding: comments are dropped whole, a literal that does not end
(the server cuts `pg_stat_activity.query` at `track_activity_query_size`) hides everything after its
start, and a backslash inside a plain quoted string ends the shape there — whether it escapes the
quote depends on the server's settings (PostgreSQL's `standard_conforming_strings`, MySQL's
`NO_BACKSLASH_ESCAPES`), and a wrong guess would show the rest of a literal as if it were SQL.

Pure: text in, text out.
"""

import functools
import re
from typing import List, Optional, Tuple

from dokku_migrations.database.url import MYSQL, POSTGRES

LIMIT = 100  # characters of shape shown: enough to recognise a statement, short enough for one line
HIDDEN = "?"
MORE = "…"
_DOLLAR = r"\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$"
_PARAMETER = re.compile(r"\$[0-9]+")


@functools.cache
def _dollars() -> "re.Pattern[str]":
    """_DOLLAR compiled on first use: its non-ASCII ranges take milliseconds to compile, paid by every
    release that imports the observer, most of which never shape a statement."""
    return re.compile(_DOLLAR)


def shape(sql: str, kind: str = POSTGRES, limit: int = LIMIT) -> str:
    """`UPDATE users SET token = 'x' WHERE id = 4` → `UPDATE users SET token = ? WHERE id = ?`."""
    out: List[str] = []
    size = 0
    i, n = 0, len(sql)
    gap = False
    cut = False
    while i < n and size <= limit:
        char = sql[i]
        token: Optional[str] = None
        if char.isspace():
            gap, i = True, i + 1
            continue
        if sql.startswith("--", i) or (char == "#" and kind == MYSQL):
            end = sql.find("\n", i)
            gap, i = True, (n if end < 0 else end + 1)
            continue
        if sql.startswith("/*", i):
            gap, i = True, _comment_end(sql, i, nested=kind == POSTGRES)
            continue
        if char == "'" or (char == '"' and kind == MYSQL):
            i, cut = _quoted_string(sql, i)
            token = HIDDEN
        elif char == "$" and kind == POSTGRES:
            token, i = _dollar(sql, i)
        elif char == '"' or char == "`":
            token, i = _quoted_identifier(sql, i, char)
        elif _starts_word(char):
            end = _word_end(sql, i)
            word = sql[i:end]
            if kind == POSTGRES and word in ("E", "e") and sql.startswith("'", end):
                i, token = _escape_string_end(sql, end), HIDDEN
            elif kind == POSTGRES and word in ("U", "u") and sql.startswith("&'", end):
                i, cut = _quoted_string(sql, end + 1)
                token = HIDDEN
            elif _prefixes_string(word, kind) and sql.startswith("'", end):  # B'0101', X'1F', N'…', _utf8mb4'…'
                i, cut = _quoted_string(sql, end)
                token = HIDDEN
            else:
                token, i = word, end
        elif char.isdigit() or (char == "." and i + 1 < n and sql[i + 1].isdigit()):
            token, i = HIDDEN, _number_end(sql, i)
        else:
            token, i = char, i + 1
        if gap and out:
            out.append(" ")
            size += 1
        gap = False
        out.append(token)
        size += len(token)
        if cut:
            break
    text = "".join(c if c.isprintable() else " " for c in "".join(out)).rstrip("; ")
    if len(text) > limit:
        return text[:limit].rstrip() + MORE
    return text + MORE if cut else text


def _starts_word(char: str) -> bool:
    return char.isalpha() or char == "_"


def _prefixes_string(word: str, kind: str) -> bool:
    return word.upper() in ("B", "X", "N") or (kind == MYSQL and word.startswith("_"))


def _word_end(sql: str, i: int) -> int:
    """Letters, digits, `_` and `$` (both servers allow `$` inside an unquoted name)."""
    while i < len(sql) and (sql[i].isalnum() or sql[i] in "_$"):
        i += 1
    return i


def _number_end(sql: str, i: int) -> int:
    """`42`, `3.14`, `.5`, `1e-3`, `0x1F`, `1_000` and any letters glued to them: all one literal."""
    n = len(sql)
    while i < n:
        char = sql[i]
        exponent_sign = char in "+-" and sql[i - 1] in "eE" and i + 1 < n and sql[i + 1].isdigit()
        if char.isalnum() or char in "._" or exponent_sign:
            i += 1
        else:
            break
    return i


def _comment_end(sql: str, i: int, nested: bool) -> int:
    """Past a `/* … */` comment (PostgreSQL's nest); an unended one runs to the end."""
    depth, i = 1, i + 2
    while i < len(sql):
        if nested and sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return len(sql)


def _quoted_string(sql: str, i: int) -> Tuple[int, bool]:
    """Past a plain quoted string (doubled quotes inside). Returns (where it ends, whether the shape
    must stop here): an unended string, or a backslash, whose meaning depends on the server."""
    quote = sql[i]
    i += 1
    while i < len(sql):
        char = sql[i]
        if char == "\\":
            return len(sql), True
        if char == quote:
            if sql.startswith(quote, i + 1):
                i += 2
                continue
            return i + 1, False
        i += 1
    return len(sql), True


def _escape_string_end(sql: str, i: int) -> int:
    """Past PostgreSQL's E'…' string, where a backslash always escapes the next character."""
    i += 1
    while i < len(sql):
        char = sql[i]
        if char == "\\":
            i += 2
        elif char == "'":
            if sql.startswith("'", i + 1):
                i += 2
                continue
            return i + 1
        else:
            i += 1
    return len(sql)


def _dollar(sql: str, i: int) -> Tuple[str, int]:
    """`$1` (a parameter, no value in it) stays; `$$…$$` and `$tag$…$tag$` are literals."""
    parameter = _PARAMETER.match(sql, i)
    if parameter:
        return parameter.group(0), parameter.end()
    opening = _dollars().match(sql, i)
    if not opening:
        return "$", i + 1
    closing = sql.find(opening.group(0), opening.end())
    return HIDDEN, (len(sql) if closing < 0 else closing + len(opening.group(0)))


def _quoted_identifier(sql: str, i: int, quote: str) -> Tuple[str, int]:
    """A quoted name is a name: shown as written (doubled quotes inside)."""
    j = i + 1
    while j < len(sql):
        if sql[j] == quote:
            if sql.startswith(quote, j + 1):
                j += 2
                continue
            return sql[i:j + 1], j + 1
        j += 1
    return sql[i:], len(sql)
