"""Dokku's app.json, read and written as its Go code does (dokku/dokku v0.38.27
plugins/app-json/appjson.go): ReadAppJSON parses the file as HuJSON (tailscale/hujson parse.go: `//`
comments ended by a newline, `/* */` comments, a trailing comma in objects and arrays), then
json.Unmarshal fills the AppJSON struct (keys matched exactly, else case-insensitively; unknown keys
dropped; a value of the wrong JSON type is an error); app-json-get-content prints json.Marshal of
that struct. A parser of its own, independent of the plugin's reader, so a test can catch that one.
Standard library only."""

from __future__ import annotations

import json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional, Tuple

    Type = Any  # "string" | "bool" | "int" | ("ptr"|"slice"|"map", Type) | ("struct", fields) | "envvar"


def struct(*fields: Tuple[str, Type, bool]) -> tuple:
    """A Go struct: (json name, type, omitempty) in declaration order, which json.Marshal keeps."""
    return ("struct", fields)


HEALTHCHECK = struct(
    ("attempts", "int", True), ("command", ("slice", "string"), True), ("content", "string", True),
    ("httpHeaders", ("slice", struct(("name", "string", True), ("value", "string", True))), True),
    ("initialDelay", "int", True), ("listening", "bool", True), ("name", "string", True), ("path", "string", True),
    ("port", "int", True), ("scheme", "string", True), ("timeout", "int", True), ("type", "string", True),
    ("uptime", "int", True), ("wait", "int", True), ("warn", "bool", True),
    ("onFailure", ("ptr", struct(("command", ("slice", "string"), True), ("url", "string", True))), True))
AUTOSCALING = struct(
    ("cooldown_period_seconds", ("ptr", "int"), True), ("max_quantity", ("ptr", "int"), True),
    ("min_quantity", ("ptr", "int"), True), ("polling_interval_seconds", ("ptr", "int"), True),
    ("triggers", ("slice", struct(("name", "string", True), ("type", "string", True),
                                  ("metadata", ("map", "string"), True))), True))
APP_JSON = struct(
    ("buildpacks", ("slice", struct(("url", "string", False))), False),
    ("cron", ("slice", struct(("command", "string", False), ("maintenance", "bool", False),
                              ("schedule", "string", False), ("concurrency_policy", "string", False))), False),
    ("env", ("map", "envvar"), True),
    ("formation", ("map", struct(("autoscaling", ("ptr", AUTOSCALING), False), ("quantity", ("ptr", "int"), False),
                                 ("max_parallel", ("ptr", "int"), False),
                                 ("service", ("ptr", struct(("exposed", "bool", False))), False))), False),
    ("healthchecks", ("map", ("slice", HEALTHCHECK)), False),
    ("scripts", struct(("dokku", struct(("predeploy", "string", False), ("postdeploy", "string", False)), False),
                       ("postdeploy", "string", False)), False))
# EnvVarValue: a string is its Value (EnvVarValue.UnmarshalJSON), else an object of these.
ENV_VAR = struct(("description", "string", True), ("value", "string", True), ("required", ("ptr", "bool"), True),
                 ("generator", "string", True), ("sync", "bool", True))


class AppJSONError(Exception):
    pass


def read_app_json(data: bytes) -> dict:
    """appjson.go ReadAppJSON on the bytes of an extracted app.json."""
    if not data.decode("utf-8", "replace").strip():
        return zero(APP_JSON)
    try:
        document = HuJSON(data).parse()
    except AppJSONError as error:
        raise AppJSONError(f"Cannot parse app.json as jsonc: {error}")
    try:
        return decode(document, APP_JSON, "AppJSON")
    except AppJSONError as error:
        raise AppJSONError(f"Cannot parse app.json: {error}")


def marshal(app_json: dict) -> str:
    """encoding/json Marshal of an AppJSON."""
    return encode(app_json, APP_JSON)


# ----- tailscale/hujson parse.go: Parse, parseNext, parseNextTrimmed, consumeExtra -------------------
class HuJSON:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def fail(self, message: str) -> AppJSONError:
        line = self.data.count(b"\n", 0, self.at) + 1
        column = self.at - (self.data.rfind(b"\n", 0, self.at) + 1) + 1
        return AppJSONError(f"hujson: line {line}, column {column}: {message}")

    def parse(self) -> Any:
        value = self.next_value()
        if self.at < len(self.data):
            raise self.fail(f"invalid character {self.shown()} after top-level value")
        return value

    def shown(self) -> str:
        return repr(self.data[self.at:self.at + 1].decode("utf-8", "replace"))

    def extra(self) -> None:
        """Whitespace and comments; a comment must end (`//` with a newline) and be valid UTF-8."""
        while self.at < len(self.data):
            char = self.data[self.at:self.at + 1]
            if char in (b" ", b"\t", b"\r", b"\n"):
                self.at += 1
            elif self.data.startswith(b"//", self.at) or self.data.startswith(b"/*", self.at):
                end = self.data.find(b"\n" if self.data[self.at + 1] == ord("/") else b"*/", self.at + 2)
                if end < 0:
                    raise self.fail("parsing comment: unexpected EOF")
                end += 1 if self.data[self.at + 1] == ord("/") else 2
                try:
                    self.data[self.at:end].decode("utf-8")
                except UnicodeDecodeError:
                    raise self.fail("invalid UTF-8 in comment")
                self.at = end
            else:
                return

    def next_value(self, closing: bytes = b"") -> Any:
        """parseNext: a value with the extras before and after it; `closing` is the bracket that may
        end the composite instead (parseNextTrimmed's errInvalidObjectEnd / errInvalidArrayEnd)."""
        self.extra()
        if self.at >= len(self.data):
            raise self.fail("parsing value: unexpected EOF")
        if closing and self.data[self.at:self.at + 1] == closing:
            return CLOSED
        value = self.trimmed()
        self.extra()
        return value

    def trimmed(self) -> Any:
        """parseNextTrimmed."""
        char = self.data[self.at:self.at + 1]
        if char == b"{":
            self.at += 1
            members: List[Tuple[str, Any]] = []
            while True:
                name = self.next_value(b"}")
                if name is CLOSED:
                    self.at += 1
                    return dict(members)
                if not isinstance(name, Str):
                    raise self.fail("invalid character at start of object name")
                self.expect(b":", "after object name")
                members.append((str(name), self.next_value()))
                if self.separator(b"}", "after object value (expecting ',' or '}')"):
                    return dict(members)
        if char == b"[":
            self.at += 1
            elements: List[Any] = []
            while True:
                element = self.next_value(b"]")
                if element is CLOSED:
                    self.at += 1
                    return elements
                elements.append(element)
                if self.separator(b"]", "after array value (expecting ',' or ']')"):
                    return elements
        if char in (b"}", b"]"):
            raise self.fail(f"invalid character {self.shown()} at start of value")
        return self.string() if char == b'"' else self.literal()

    def expect(self, char: bytes, where: str) -> None:
        if self.at >= len(self.data):
            raise self.fail(f"parsing object {where}: unexpected EOF")
        if self.data[self.at:self.at + 1] != char:
            raise self.fail(f"invalid character {self.shown()} {where}")
        self.at += 1

    def separator(self, closing: bytes, where: str) -> bool:
        """After a member or element: `,` (more may follow, or the closing bracket: a trailing comma)
        or the closing bracket itself (True)."""
        if self.at >= len(self.data):
            raise self.fail("unexpected EOF")
        char = self.data[self.at:self.at + 1]
        if char == b",":
            self.at += 1
            return False
        if char == closing:
            self.at += 1
            return True
        raise self.fail(f"invalid character {self.shown()} {where}")

    def string(self) -> Str:
        start, escaped = self.at, False
        self.at += 1
        while True:
            if self.at >= len(self.data):
                raise self.fail("parsing string: unexpected EOF")
            char = self.data[self.at]
            if escaped:
                escaped = False
            elif char == ord("\\"):
                escaped = True
            elif char == ord('"'):
                self.at += 1
                literal = self.data[start:self.at].decode("utf-8", "replace")  # Go keeps going on bad UTF-8
                try:
                    return Str(json.loads(literal))
                except ValueError:
                    self.at = start
                    raise self.fail(f"invalid literal: {literal}")
            self.at += 1

    def literal(self) -> Any:
        start = self.at
        while self.at < len(self.data) and (chr(self.data[self.at]).isalnum() and self.data[self.at] < 128
                                            or self.data[self.at] in b"-+."):
            self.at += 1
        literal = self.data[start:self.at].decode()
        if not literal:
            raise self.fail(f"invalid character {self.shown()} at start of value")
        if literal in ("NaN", "Infinity", "-Infinity"):  # Python's decoder takes them, Go's json.Valid does not
            self.at = start
            raise self.fail(f"invalid literal: {literal}")
        try:
            return json.loads(literal)
        except ValueError:
            self.at = start
            raise self.fail(f"invalid literal: {literal}")


class Str(str):
    """A JSON string as parsed (an object name must be one)."""


CLOSED = object()


# ----- encoding/json Unmarshal into the AppJSON struct --------------------------------------------
def zero(kind: Type) -> Any:
    if kind == "string":
        return ""
    if kind == "bool":
        return False
    if kind == "int":
        return 0
    if kind == "envvar":
        return zero(ENV_VAR)
    if kind[0] == "struct":
        return {name: zero(field) for name, field, _ in kind[1]}
    return None  # a nil pointer, slice or map


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return f"number {json.dumps(value)}"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def decode(value: Any, kind: Type, where: str) -> Any:
    """json.Unmarshal's rules for these types: null leaves a value as it is (nil for a pointer,
    slice or map), anything of another JSON type is an UnmarshalTypeError."""
    if value is None:
        return zero(kind)
    if kind == "envvar":
        return {**zero(ENV_VAR), "value": str(value)} if isinstance(value, str) else decode(value, ENV_VAR, where)
    expected = {"string": str, "bool": bool, "int": int}.get(kind) if isinstance(kind, str) else \
        {"struct": dict, "map": dict, "slice": list}.get(kind[0])
    if kind == "int" and isinstance(value, bool) or expected is not None and not isinstance(value, expected):
        raise AppJSONError(f"json: cannot unmarshal {json_kind(value)} into Go struct field {where} of type "
                           f"{go_type(kind)}")
    if isinstance(kind, str):
        return str(value) if kind == "string" else value
    if kind[0] == "ptr":
        return decode(value, kind[1], where)
    if kind[0] == "slice":
        return [decode(item, kind[1], where) for item in value]
    if kind[0] == "map":
        return {str(key): decode(item, kind[1], where) for key, item in value.items()}
    fields = kind[1]
    result = zero(kind)
    for key, item in value.items():
        field = next((f for f in fields if f[0] == key), None) or \
            next((f for f in fields if f[0].casefold() == str(key).casefold()), None)
        if field is not None:
            result[field[0]] = decode(item, field[1], f"{where}.{field[0]}")
    return result


def go_type(kind: Type) -> str:
    if isinstance(kind, str):
        return {"int": "int", "envvar": "appjson.EnvVarValue"}.get(kind, kind)
    return {"ptr": "*", "slice": "[]", "map": "map[string]"}.get(kind[0], "struct ") + \
        ("{...}" if kind[0] == "struct" else go_type(kind[1]))


# ----- encoding/json Marshal ----------------------------------------------------------------------
def encode(value: Any, kind: Type) -> str:
    if kind == "envvar":
        return encode(value, ENV_VAR)
    if kind == "string":
        text = json.dumps(value, ensure_ascii=False)
        for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                             ("\u2029", "\\u2029")):
            text = text.replace(char, escape)  # HTML-safe, as Marshal escapes by default
        return text
    if kind == "bool":
        return "true" if value else "false"
    if kind == "int":
        return str(value)
    if kind[0] != "struct" and value is None:
        return "null"
    if kind[0] == "ptr":
        return encode(value, kind[1])
    if kind[0] == "slice":
        return "[" + ",".join(encode(item, kind[1]) for item in value) + "]"
    if kind[0] == "map":
        return "{" + ",".join(f"{encode(key, 'string')}:{encode(value[key], kind[1])}" for key in sorted(value)) + "}"
    parts = []
    for name, field, omitempty in kind[1]:
        if omitempty and empty(value[name], field):
            continue
        parts.append(f"{encode(name, 'string')}:{encode(value[name], field)}")
    return "{" + ",".join(parts) + "}"


def empty(value: Any, kind: Type) -> bool:
    """omitempty: false, 0, "", a nil pointer, an empty slice or map; a struct is never empty."""
    if kind == "envvar" or not isinstance(kind, str) and kind[0] == "struct":
        return False
    if not isinstance(kind, str) and kind[0] == "ptr":
        return value is None
    if isinstance(value, (list, dict)):
        return not value
    return value is None or value is False or value == "" or (type(value) is int and value == 0)


def predeploy(app_json: Optional[dict]) -> str:
    """appjson.go getPhaseScript for `predeploy`: empty without an app.json."""
    return (app_json or zero(APP_JSON))["scripts"]["dokku"]["predeploy"]
