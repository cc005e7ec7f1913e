"""`procfile-util show`, which Dokku's ps plugin runs for `procfile-get-command` (dokku/dokku v0.38.27
plugins/ps/functions.go getProcfileCommand: `procfile-util show --procfile PATH --process-type TYPE
--default-port PORT --env-file ENVFILE`, the env file being `config-export APP false true envfile`).
Dokku pins dokku/procfile-util v0.20.8 (contrib/dependencies.json); this follows v0.20.7, the newest
tag at hand: procfile/parse.go ParseProcfile (not strict), commands/show.go Run and commands/main.go
expandEnv, with Go's os.Expand. Standard library only."""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Tuple

WS = "[\t\n\f\r ]"  # RE2's \s
OLD_COMMAND = re.compile(rf"^([A-Za-z0-9_-]+){WS}*:{WS}*(.+)$")
HASH_COMMENT = re.compile(rf"^(.*){WS}#.+$")
SLASH_COMMENT = re.compile(rf"^(.*){WS}//.+$")


class ProcfileError(Exception):
    pass


def parse(text: str) -> List[Tuple[str, str]]:
    """ParseProcfile(text, ":", strict=false): (name, command) pairs sorted by name."""
    entries: Dict[str, str] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r").strip()
        if not line or line.startswith("#") or line.startswith("//"):
            continue
        match = OLD_COMMAND.match(line)
        if match is None:
            raise ProcfileError(f"invalid line in procfile, line {number}")
        name, command = match.group(1), match.group(2)
        if len(name) > 63:
            raise ProcfileError(f"process name over 63 characters, line {number}")
        if name in entries:
            raise ProcfileError(f"process names must be unique, line {number}")
        comment = HASH_COMMENT.match(command) or SLASH_COMMENT.match(command)
        command = (comment.group(1) if comment else command).strip()
        if command.startswith("#") or command.startswith("//"):
            raise ProcfileError(f"comment specified in place of command, line {number}")
        if not command:
            raise ProcfileError(f"no command specified, line {number}")
        entries[name] = command
    if not entries:
        raise ProcfileError("no entries found in Procfile")
    return sorted(entries.items())


def show(text: str, process_type: str, default_port: int, env: Dict[str, str]) -> str:
    """show.go Run: the entry's command expanded (expandEnv with an env file and no --allow-getenv:
    the file's values, else PS and PORT, else nothing; `$(` is replaced by `${EXPENV_PARENTHESIS}`
    first, which then expands to nothing as well)."""
    command = dict(parse(text)).get(process_type)
    if command is None:
        raise ProcfileError("No matching process entry found")

    def lookup(key: str) -> str:
        if key in env:
            return env[key]
        return {"PS": process_type, "PORT": str(default_port)}.get(key, "")

    return go_expand(command.replace("$(", "${EXPENV_PARENTHESIS}"), lookup)


def go_expand(text: str, mapping: Callable[[str], str]) -> str:
    """Go's os.Expand: `$NAME` and `${NAME}` replaced, `$` before a shell special character takes that
    one character, bad syntax (`${}`, an unclosed `${`) is dropped, any other `$` is kept."""
    out: List[str] = []
    i = j = 0
    while j < len(text):
        if text[j] == "$" and j + 1 < len(text):
            out.append(text[i:j])
            name, width = shell_name(text[j + 1:])
            if name == "" and width > 0:
                pass
            elif name == "":
                out.append("$")
            else:
                out.append(mapping(name))
            j += width
            i = j + 1
        j += 1
    return "".join(out) + text[i:]


def shell_name(text: str) -> Tuple[str, int]:
    special = "*#$@!?-0123456789"
    if text[0] == "{":
        if len(text) > 2 and text[1] in special and text[2] == "}":
            return text[1:2], 3
        for index in range(1, len(text)):
            if text[index] == "}":
                return ("", 2) if index == 1 else (text[1:index], index + 1)
        return "", 1
    if text[0] in special:
        return text[0], 1
    index = 0
    while index < len(text) and (text[index] == "_" or text[index].isascii() and text[index].isalnum()):
        index += 1
    return text[:index], index
