"""Per-app and global settings: parsing and validation are pure; storage is one file per key.

Layout follows Dokku's plugin properties: $DOKKU_LIB_ROOT/config/migrations/<app>/<key>, with
`--global` as the app name for global values. A value is validated before anything is written,
and written atomically, so a bad `set` changes nothing.
"""

import re
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

from dokku_migrations.common.errors import UserError
from dokku_migrations.run.manifest import DEFAULT_RULES, Rule, parse_rule

GLOBAL = "--global"
# Patterns, compiled (and cached by `re`) when a value is first validated: a deploy only reads.
SIZE = r"[1-9][0-9]*[bkmg]?"
CPUS = r"0\.[0-9]*[1-9][0-9]*|[1-9][0-9]*(?:\.[0-9]+)?"
DIGITS = r"[0-9]{1,9}"
LOCK_SECONDS = r"[0-9]{1,4}(?:\.[0-9]{1,3})?"


def parse_bool(value: str) -> str:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise UserError(f"'{value}' is not a boolean: use true or false")
    return lowered


def parse_seconds(value: str) -> str:
    if not re.fullmatch(DIGITS, value):
        raise UserError(f"'{value}' is not a number of seconds: use a whole number, 0 for no timeout")
    return str(int(value))


def parse_grace(value: str) -> str:
    if not re.fullmatch(DIGITS, value) or int(value) > 3600:
        raise UserError(f"'{value}' is not a grace period: use a whole number of seconds from 0 to 3600")
    return str(int(value))


def parse_quiet_after(value: str) -> str:
    if not re.fullmatch(DIGITS, value) or int(value) > 86400:
        raise UserError(f"'{value}' is not a number of seconds of silence: use a whole number from 0 (never) to 86400")
    return str(int(value))


def parse_lock_timeout(value: str) -> str:
    """Seconds to the millisecond (PostgreSQL's unit); empty or 0 turns it off."""
    if not value.strip():
        return "0"
    if not re.fullmatch(LOCK_SECONDS, value) or float(value) > 3600:
        raise UserError(f"'{value}' is not a lock timeout: use seconds from 0.001 to 3600 (e.g. 5 or 0.5), "
                        "0 to let a migration wait for its locks")
    return f"{float(value):.3f}".rstrip("0").rstrip(".")


def parse_lock_retries(value: str) -> str:
    if not re.fullmatch(DIGITS, value) or int(value) > 20:
        raise UserError(f"'{value}' is not a number of retries: use a whole number from 0 to 20")
    return str(int(value))


def parse_keep(value: str) -> str:
    if not re.fullmatch(DIGITS, value) or not 1 <= int(value) <= 100000:
        raise UserError(f"'{value}' is not a number of runs to keep: use a whole number from 1")
    return str(int(value))


def parse_command(value: str) -> str:
    if not value.strip():
        raise UserError("The command is empty: give a command, or omit the value to unset it")
    if any(char in value for char in "\0\n\r"):
        raise UserError("The command must be one line")
    return value.strip()


def parse_memory(value: str) -> str:
    if not re.fullmatch(SIZE, value, re.IGNORECASE):
        raise UserError(f"'{value}' is not a memory size: use a number with b, k, m or g, e.g. 512m")
    return value.lower()


def parse_cpus(value: str) -> str:
    if not re.fullmatch(CPUS, value):
        raise UserError(f"'{value}' is not a number of CPUs: use a positive number, e.g. 0.5 or 2")
    return value


def parse_env_key(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise UserError(f"'{value}' is not a config key: use a name like DATABASE_URL")
    return value


def parse_image(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}", value):
        raise UserError(f"'{value}' is not an image reference: use a name like postgres:16")
    return value


OFF, WARN, BLOCK = "off", "warn", "block"  # the `preflight` modes (run/preflight.py)


def parse_preflight(value: str) -> str:
    lowered = value.strip().lower()
    if lowered not in (OFF, WARN, BLOCK):
        raise UserError(f"'{value}' is not a pre-flight mode: use off, warn or block")
    return lowered


def parse_rules(value: str) -> str:
    """Rules are stored one per line; each is checked as `set` receives it."""
    rules = [line for line in value.split("\n") if line.strip()]
    if not rules:
        raise UserError("No detect rule given: use file:jsonpath=>command or file:jsonpath")
    return "\n".join(str(parse_rule(rule)) for rule in rules)


class Key(NamedTuple):
    """A setting: its name, default and validation (what it means is said in help.txt)."""

    name: str
    default: str
    parse: Callable[[str], str]


KEYS: Dict[str, Key] = {key.name: key for key in (
    Key("enabled", "true", parse_bool),
    Key("command", "", parse_command),
    Key("rollback-command", "", parse_command),
    Key("timeout", "1800", parse_seconds),
    Key("grace", "10", parse_grace),
    Key("quiet-after", "30", parse_quiet_after),
    Key("detect", "\n".join(DEFAULT_RULES), parse_rules),
    Key("keep", "20", parse_keep),
    Key("memory", "", parse_memory),
    Key("cpus", "", parse_cpus),
    Key("database-url-key", "DATABASE_URL", parse_env_key),
    Key("database-image", "", parse_image),
    # off by default: a pre-flight starts a second database server beside production on every deploy
    # (memory, seconds); an app opts in. See help.txt and the README's "Pre-flight".
    Key("preflight", "off", parse_preflight),
    # On by default: the outage it prevents (every query of the app on a table stalled behind a queued ALTER
    # TABLE for as long as some long transaction lasts) is worse than a deploy that stops and says why. 5 s
    # bounds that stall well under the 60 s Dokku's nginx waits for an answer (proxy-read-timeout: dokku/dokku
    # v0.38.27 plugins/nginx-vhosts/nginx_vhosts.go ComputedProxyReadTimeout), yet lets an ALTER through behind
    # ordinary short transactions; 3 retries, 5, 10 and 20 s apart, outlast most reports and backups while
    # adding about a minute at most (database/locktimeout.py).
    Key("lock-timeout", "5", parse_lock_timeout),
    Key("lock-retries", "3", parse_lock_retries),
)}


def key_named(name: str) -> Key:
    if name not in KEYS:
        raise UserError(f"Unknown setting '{name}': use one of {', '.join(KEYS)}")
    return KEYS[name]


class Resolved(NamedTuple):
    """Effective values for one app, each with where it came from (app, global, default)."""

    values: Dict[str, Tuple[str, str]]

    def get(self, name: str) -> str:
        return self.values[name][0]

    @property
    def enabled(self) -> bool:
        return self.get("enabled") == "true"

    @property
    def timeout(self) -> int:
        return int(self.get("timeout"))

    @property
    def grace(self) -> int:
        return int(self.get("grace"))

    @property
    def quiet_after(self) -> int:
        return int(self.get("quiet-after"))

    @property
    def lock_timeout(self) -> float:
        return float(self.get("lock-timeout"))

    @property
    def lock_retries(self) -> int:
        return int(self.get("lock-retries"))

    @property
    def keep(self) -> int:
        return int(self.get("keep"))

    @property
    def rules(self) -> List[Rule]:
        return [parse_rule(line) for line in self.get("detect").split("\n") if line.strip()]


def resolve(app_values: Dict[str, str], global_values: Dict[str, str]) -> Resolved:
    values: Dict[str, Tuple[str, str]] = {}
    for name, key in KEYS.items():
        if name in app_values:
            values[name] = (app_values[name], "app")
        elif name in global_values:
            values[name] = (global_values[name], "global")
        else:
            values[name] = (key.default, "default")
    return Resolved(values)


def stored_value(key: Key, raw: str, path: Path, scope: str) -> str:
    """A value read from disk, checked as `migrations:set` checks it."""
    try:
        return key.parse(raw.rstrip("\n"))
    except UserError as error:
        where = "--global" if scope == GLOBAL else scope
        raise UserError(f"Setting {key.name} in {path} is not valid: {error.message}; set it again with "
                        f"'dokku migrations:set {where} {key.name} VALUE', or unset it with "
                        f"'dokku migrations:set {where} {key.name}'") from None


class SettingsStore:
    """Files under $DOKKU_LIB_ROOT/config/migrations; readable and writable by the dokku user only."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, scope: str) -> Path:
        return self.root / scope

    def read(self, scope: str) -> Dict[str, str]:
        """Every value set for the scope, as `set` would have stored it. A file holds what Dokku's own
        tools put there too: a trailing newline (`echo true > …`, Dokku's list properties; Dokku's
        `prop get-all` and bash's `$(…)` drop it) is not part of the value. Anything else a key would
        refuse is refused here too, naming the file: a mistyped `enabled` must never read as false."""
        values: Dict[str, str] = {}
        directory = self._dir(scope)
        for name, key in KEYS.items():
            path = directory / name
            try:
                raw = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as error:
                why = getattr(error, "strerror", None) or "not UTF-8 text"
                raise UserError(f"Could not read setting {name} ({why}): check {path}")
            values[name] = stored_value(key, raw, path, scope)
        return values

    def resolved(self, app: str) -> Resolved:
        return resolve(self.read(app), self.read(GLOBAL))

    def set(self, scope: str, name: str, value: Optional[str]) -> Optional[str]:
        """Validates, then writes atomically (or removes the key when value is None)."""
        key = key_named(name)
        path = self._dir(scope) / name
        if value is None:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            return None
        parsed = key.parse(value)
        from dokku_migrations.common.files import write_atomic  # a deploy only reads settings: it starts without this
        try:
            write_atomic(path, parsed.encode("utf-8"))
        except OSError as error:
            raise UserError(f"Could not save setting {name} ({error.strerror}): nothing was changed")
        return parsed

    def copy(self, old: str, new: str) -> None:
        import shutil
        if self._dir(old).is_dir():
            shutil.copytree(self._dir(old), self._dir(new), dirs_exist_ok=True)

    def delete(self, app: str) -> None:
        import shutil
        shutil.rmtree(self._dir(app), ignore_errors=True)
