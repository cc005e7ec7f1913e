"""Parsing of `dokku migrations:*` argv into plain requests: pure, one error line on bad input; and
the help, read from help.txt."""

import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from dokku_migrations.common.errors import UserError
from dokku_migrations.common.paths import PLUGIN_DIR

HELP = os.path.join(PLUGIN_DIR, "help.txt")


def help_text() -> str:
    """`migrations:help`: help.txt, the one copy of the text (the `commands` shim prints it without Python)."""
    with open(HELP, encoding="utf-8") as file:
        return file.read().rstrip("\n")


# What `dokku help` lists for the plugin: help.txt's third line, as the shim reads it.
SUMMARY = help_text().split("\n")[2].rstrip(".")


# What each valued flag takes, as help.txt writes it.
VALUE_NAMES = {"--image": "IMAGE", "--limit": "N", "--format": "json", "--app": "APP"}


@dataclass
class Parsed:
    """A command with its positional words and flags (flags without a value map to "")."""

    name: str
    words: List[str] = field(default_factory=list)
    flags: Dict[str, str] = field(default_factory=dict)


def split(argv: Sequence[str], valued: Sequence[str], bare: Sequence[str], prefix_bare: str = "") -> Parsed:
    """Splits argv[1:] into words and known flags; an unknown flag is an error, not a word."""
    parsed = Parsed(argv[0] if argv else "")
    items = list(argv[1:])
    valued = [*valued, "--app"]
    while items:
        item = items.pop(0)
        if item == "--":
            parsed.words += items
            break
        name, has_value, value = item.partition("=")
        if name in valued:
            if not has_value:
                value = items.pop(0) if items and not items[0].startswith("--") else ""
            if not value:
                raise UserError(f"{name} needs a value: write it as '{name} {VALUE_NAMES.get(name, 'VALUE')}' "
                                "(see 'dokku migrations:help')")
            parsed.flags[name] = value
        elif item in bare or (prefix_bare and item.startswith(prefix_bare)):
            parsed.flags[item] = ""
        elif item.startswith("--") and len(item) > 2:
            raise UserError(f"Unknown option {item} for {parsed.name}: see 'dokku migrations:help'")
        else:
            parsed.words.append(item)
    return parsed


def app_from(parsed: Parsed, env_app: Optional[str]) -> str:
    """The app: Dokku's `--app` when given, else the first word.

    `dokku --app shop migrations:set timeout 60` reaches a community plugin as argv
    `migrations:set timeout 60` with DOKKU_APP_NAME=shop (the dokku script re-inserts the app only
    for core plugins), so then no word is the app. A `--app` later in argv is exported the same way
    and also stays in argv, where `split` takes it as a flag.
    """
    app = parsed.flags.get("--app") or env_app
    if app:
        return app
    if parsed.words:
        return parsed.words.pop(0)
    raise UserError(f"Please specify an app to run the command on: dokku {parsed.name} <app>")


def positive_int(name: str, value: str) -> int:
    if not re.fullmatch(r"[0-9]{1,9}", value) or int(value) < 1:
        raise UserError(f"{name} must be a whole number from 1, not '{value}'")
    return int(value)


def output_format(parsed: Parsed, allowed: Sequence[str]) -> str:
    value = parsed.flags.get("--format", allowed[0])
    if value not in allowed:
        raise UserError(f"Invalid --format '{value}': use {' or '.join(allowed)}")
    return value


def no_extra(parsed: Parsed) -> None:
    if parsed.words:
        raise UserError(f"Unexpected argument '{parsed.words[0]}' for {parsed.name}: see 'dokku migrations:help'")
