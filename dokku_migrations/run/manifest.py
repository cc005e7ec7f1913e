"""Detection rules: which manifest file in the image names the migration command, and how.

A rule has one of two forms:
- `file:jsonpath=>command`, e.g. `package.json:$.scripts.migrate=>npm run migrate`: when `file` exists
  in the image and `jsonpath` finds a script there (a non-empty string, or a list of strings as Composer
  allows), `command` runs; what the script says is left to the tool that runs it.
- `file:jsonpath`, e.g. `app.json:$.migrations.command`: the non-empty string found there is the command.
Either way the project opts in from its own files; nothing is run because a framework merely looks present.
Everything here is pure: the caller reads the files out of the image and passes their bytes. Every
deploy of every app comes through here, so values are NamedTuples (a dataclass costs ~0.5 ms to
define) and jsonpath-ng is imported only for a path that is not a plain dotted one.
"""

import json
import posixpath
import re
from functools import cache
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from dokku_migrations.common.errors import UserError
from dokku_migrations.common.rules import DEFAULT_RULES as DEFAULT_RULES  # with the head start's, in rules.py
from dokku_migrations.common.rules import DEFAULT_WORKDIR
from dokku_migrations.run import jsonc

# Where a project declares how to undo its last migrations, for `migrations:rollback`.
ROLLBACK_RULES = ("app.json:$.migrations.rollback",)
MAX_NESTING = 200
# The file Dokku reads as JSON with comments (jsonc.py), wherever a rule finds it.
APP_JSON = "app.json"
# Read by `try` only: a deploy migrates whatever database the app is linked to.
DATABASE_PATH = "$.migrations.database"
# `$` then `.name` steps, a name bare (as jsonpath-ng's lexer reads an identifier) or quoted without escapes.
DOTTED = re.compile(r"""\$(?:\.(?:[A-Za-z_][A-Za-z0-9_-]*|"[^"\\]+"|'[^'\\]+'))+""")
STEP = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_-]*|"[^"\\]+"|'[^'\\]+')""")
RESERVED = ("where", "wherenot", "*")  # jsonpath-ng's words for filters and the wildcard

Finder = Callable[[object], List[object]]


def set_command(app: str) -> str:
    """The way out an error about a broken manifest offers besides fixing it, in a deploy or a run."""
    return f"set the command with 'dokku migrations:set {app} command ...'"


SET_COMMAND = set_command("<app>")  # for a caller that knows no app


class Rule(NamedTuple):
    file: str
    jsonpath: str
    command: str = ""  # empty: the value found at jsonpath is the command

    def __str__(self) -> str:
        return f"{self.file}:{self.jsonpath}=>{self.command}" if self.command else f"{self.file}:{self.jsonpath}"


class Detection(NamedTuple):
    rule: Rule
    path: str
    command: str

    @property
    def source(self) -> str:
        return f"{self.path} {self.rule.jsonpath}"


def parse_rule(text: str) -> Rule:
    """Validates a rule at `migrations:set` time so a bad one never reaches a deploy."""
    if "\n" in text or "\0" in text or "\r" in text:
        raise UserError("A detect rule must be one line")
    left, arrow, command = text.partition("=>")
    if ":" not in left:
        raise UserError(f"Invalid detect rule '{text}': write it as file:jsonpath=>command, or file:jsonpath "
                        "to run the command written there, e.g. 'package.json:$.scripts.migrate=>npm run migrate' "
                        "or 'app.json:$.migrations.command'")
    file, jsonpath = left.split(":", 1)
    file, jsonpath, command = file.strip(), jsonpath.strip(), command.strip()
    if not file or ".." in file.split("/") or file.endswith("/"):
        raise UserError(f"Invalid detect rule '{text}': '{file}' is not a file path inside the image")
    if arrow and not command:
        raise UserError(f"Invalid detect rule '{text}': the command after '=>' is empty; to run the command "
                        "written in the file, leave out the '=>'")
    try:
        finder(jsonpath)
    except Exception as error:
        raise UserError(f"Invalid detect rule '{text}': '{jsonpath}' is not a JSONPath ({error})")
    return Rule(file, jsonpath, command)


def dotted_keys(jsonpath: str) -> Optional[Tuple[str, ...]]:
    """The keys of a plain dotted path (`$.scripts.migrate`, `$.scripts."db:migrate"`), or None for
    any other JSONPath."""
    if not DOTTED.fullmatch(jsonpath):
        return None
    keys = tuple(step[1:-1] if step[0] in "\"'" else step for step in STEP.findall(jsonpath))
    return None if any(key in RESERVED for key in keys) else keys


@cache
def finder(jsonpath: str) -> Finder:
    """What a JSONPath finds in a document, as a list of values; each path is parsed once per process.

    The default rules' paths are plain dotted paths, walked here key by key with jsonpath-ng's own
    answer (a missing key, or a step into something that is not an object, finds nothing). Any
    other path goes to jsonpath-ng, imported only then: importing it and building its parser
    costs a deploy more than all the rest of its Python work.
    """
    keys = dotted_keys(jsonpath)
    if keys is not None:
        return lambda document: walk(document, keys)
    from jsonpath_ng import parse
    parsed = parse(jsonpath)
    return lambda document: [match.value for match in parsed.find(document)]


def walk(document: object, keys: Tuple[str, ...]) -> List[object]:
    value = document
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return []
        value = value[key]
    return [value]


def candidate_paths(rule: Rule, workdir: str) -> List[str]:
    """Where the rule's file may be: absolute as given, else under the image's WorkingDir, then /app."""
    if rule.file.startswith("/"):
        return [posixpath.normpath(rule.file)]
    dirs = [d for d in (workdir, DEFAULT_WORKDIR) if d and d.startswith("/")]
    paths: List[str] = []
    for directory in dirs:
        path = posixpath.normpath(posixpath.join(directory, rule.file))
        if path not in paths:
            paths.append(path)
    return paths


def load_json(path: str, data: bytes, otherwise: str = SET_COMMAND) -> object:
    """Parses a manifest; a broken one stops the deploy rather than silently skipping migrations.
    An app.json is read as Dokku reads it (jsonc.py): comments and trailing commas allowed, a file of
    whitespace only an empty object. (A byte order mark is dropped: Dokku's copy out of an image drops
    it too, plugins/common/docker.go CopyFromImage's dos2unix.)"""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path} in the image is not valid UTF-8: fix it, or {otherwise}")
    if posixpath.basename(path) == APP_JSON:
        if not text.strip():
            return {}
        try:
            text = jsonc.standardize(text)
        except ValueError as error:
            raise UserError(f"{path} in the image is not valid JSON ({error}): fix it, or {otherwise}")
    if nesting_depth(text) > MAX_NESTING:
        raise UserError(f"{path} in the image is nested more than {MAX_NESTING} levels deep: refusing to read it")
    try:
        return json.loads(text, parse_constant=not_json)
    except RecursionError:
        raise UserError(f"{path} in the image is nested too deeply to read")
    except ValueError as error:
        raise UserError(f"{path} in the image is not valid JSON ({error}): fix it, or {otherwise}")


def not_json(word: str) -> object:
    """Python's decoder takes NaN and Infinity; JSON, Go, npm and Composer do not."""
    raise ValueError(f"{word} is not a JSON value")


def nesting_depth(text: str) -> int:
    """Bracket nesting outside JSON strings, counted before parsing so a hostile file cannot
    exhaust the parser's recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def command_from(rule: Rule, path: str, document: object, otherwise: str = SET_COMMAND) -> Optional[str]:
    """The command the rule finds in one manifest; None when its JSONPath finds nothing, or only
    something empty; an error naming the file when what it finds cannot be what the rule expects."""
    fix = f"fix it, or {otherwise}"
    if not rule.command:
        check_shape(rule, path, document, fix)
    matches = finder(rule.jsonpath)(document)
    if not matches:
        return None
    value = matches[0]
    if not rule.command:
        if not isinstance(value, str):
            raise UserError(f"{rule.jsonpath} in {path} must be a command (a string), but it is {kind_of(value)}: "
                            f"{fix}")
        command = value.strip()
        if any(char in command for char in "\0\n\r"):
            raise UserError(f"{rule.jsonpath} in {path} must be a command on one line: {fix}")
        return command or None
    if isinstance(value, str):
        return rule.command if value.strip() else None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return rule.command if any(item.strip() for item in value) else None
    raise UserError(f"{rule.jsonpath} in {path} must be a string or a list of strings, but it is "
                    f"{kind_of(value)}: {fix}")


def check_shape(rule: Rule, path: str, document: object, fix: str) -> None:
    """A rule that reads the command itself from the file names a place the project declares on
    purpose (app.json's `migrations` is this plugin's): something else standing on the way there, as
    `{"migrations": "npm run migrate"}`, is a mistake to stop at, not a project without migrations."""
    keys = dotted_keys(rule.jsonpath)
    if keys is None:
        return
    value, where = document, "it"
    for depth, key in enumerate(keys):
        if not isinstance(value, dict):
            shape = "\"…\""
            for outer in reversed(keys):
                shape = f"{{{json.dumps(outer, ensure_ascii=False)}: {shape}}}"
            raise UserError(f"{path} must be shaped like {shape}, but {where} is {kind_of(value)}: {fix}")
        if key not in value:
            return
        value, where = value[key], "its $." + ".".join(keys[:depth + 1])


def kind_of(value: object) -> str:
    """What a JSON value is, in the words of the JSON a person wrote."""
    if isinstance(value, list):
        odd = [item for item in value if not isinstance(item, str)]
        return f"a list holding {kind_of(odd[0])}" if odd else "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    return "a string"


def wanted_paths(rules: Sequence[Rule], workdir: str) -> List[str]:
    """Every file detection reads, in the order the rules name them: all are read at once."""
    wanted: List[str] = []
    for rule in rules:
        wanted += [path for path in candidate_paths(rule, workdir) if path not in wanted]
    return wanted


def detect(rules: Sequence[Rule], workdir: str, read_files: Callable[[List[str]], Dict[str, Optional[bytes]]],
           otherwise: str = SET_COMMAND) -> Optional[Detection]:
    """The first rule whose file exists and whose JSONPath finds a command; None when none does.
    `otherwise` is what an error about a broken file offers besides fixing it."""
    wanted = wanted_paths(rules, workdir)
    files = read_files(wanted) if wanted else {}
    documents: Dict[str, object] = {}
    for rule in rules:
        for path in candidate_paths(rule, workdir):
            data = files.get(path)
            if data is None:
                continue
            if path not in documents:
                documents[path] = load_json(path, data, otherwise)
            command = command_from(rule, path, documents[path], otherwise)
            if command is not None:
                return Detection(rule=rule, path=path, command=command)
            break
    return None


def app_json_paths(workdir: str) -> List[str]:
    """Where the project's app.json may be, in the order detection looks: WorkingDir, then /app."""
    return candidate_paths(Rule(APP_JSON, DATABASE_PATH), workdir)


def declared_database(workdir: str, files: Mapping[str, Optional[bytes]]) -> Optional[Tuple[str, str]]:
    """(where, value) of `migrations.database` in the first app.json the image has; None when the
    project declares none (an empty string included). The value is left to the caller to judge."""
    for path in app_json_paths(workdir):
        data = files.get(path)
        if data is None:
            continue
        document = load_json(path, data, "name the database with --database TYPE[:VERSION]")
        migrations = document.get("migrations") if isinstance(document, dict) else None
        value = migrations.get("database") if isinstance(migrations, dict) else None
        if value is None:
            return None
        if not isinstance(value, str):
            raise UserError(f"{DATABASE_PATH} in {path} must be a database type and version such as "
                            f"\"mariadb:10.11\" (a string), but it is {kind_of(value)}: fix it, or override it with "
                            "--database TYPE[:VERSION]")
        return (f"{path} {DATABASE_PATH}", value.strip()) if value.strip() else None
    return None
