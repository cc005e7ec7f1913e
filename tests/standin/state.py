"""What every part of the stand-in shares: Dokku's paths, its version, plugin properties, app config,
Dokku's log formats, and the two ways Dokku calls a trigger (bash `plugn trigger`, Go
`common.CallPlugnTrigger`). Standard library only. See README.md."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

# A trigger is a process of its own, dozens of them to a deploy: what a hook does not use is not
# imported (typing, subprocess, threading, shutil cost more than most hooks' work; see README.md).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from typing import IO, Dict, List, NoReturn, Optional, TextIO, Tuple

    Version = Tuple[int, int, int]


def env(name: str) -> str:
    return os.environ[name]


def root() -> Path:
    return Path(env("DOKKU_ROOT"))


def lib_root() -> Path:
    return Path(env("DOKKU_LIB_ROOT"))


def enabled_plugins() -> List[Path]:
    """plugn's `for plugin in $PLUGIN_PATH/enabled/*` (dokku/plugn bashenv/plugn.bash trigger)."""
    return sorted(Path(env("PLUGIN_ENABLED_PATH")).iterdir())


def version() -> Version:
    """plugins/common/functions dokku_version: STABLE_VERSION, else VERSION."""
    for name in ("STABLE_VERSION", "VERSION"):
        path = lib_root() / name
        if path.is_file():
            match = re.search(r"(\d+)\.(\d+)\.(\d+)", path.read_text())
            if match:
                return int(match.group(1)), int(match.group(2)), int(match.group(3))
    return 0, 38, 27


def builds_plugin() -> bool:
    """The builds plugin (records, build capture, builds:cancel) exists since v0.38.0
    (plugins/common/functions dokku_setup_build_capture, plugins/builds)."""
    return version() >= (0, 38, 0)


# ----- Dokku's log formats (plugins/common/functions dokku_log_*, plugins/common/log.go) -----------
def emit(stream: IO[str], text: str) -> None:
    stream.write(text + "\n")
    stream.flush()


def info1(message: str) -> None:
    emit(sys.stdout, f"-----> {message}")


def info2(message: str) -> None:
    emit(sys.stdout, f"=====> {message}")


def verbose(message: str) -> None:
    emit(sys.stdout, f"       {message}")


def warn(message: str) -> None:
    emit(sys.stderr, f" !     {message}")


def fail(message: str, code: int = 1) -> NoReturn:
    """dokku_log_fail / common.LogFail (exit 1; DOKKU_FAIL_EXIT_CODE for verify_app_name's 20)."""
    warn(message)
    sys.exit(code)


def log_fail_with_error(error: str, code: int = 1) -> NoReturn:
    """plugins/common/log.go LogFailWithError: ` !     <err>` (nothing when the text is empty), then exit."""
    if error != "":
        sys.stderr.write(f" !     {error}\n")
        sys.stderr.flush()
    sys.exit(code)


# ----- app names (plugins/common/common.go IsValidAppName, IsValidAppNameOld, VerifyAppName) --------
# Go's regexp: `$` is the end of the text (no (?m)), never before a final newline as Python's `$`
# is: hence fullmatch.
NEW_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")
OLD_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
NAME_RULE = ("App name must begin with lowercase alphanumeric character, and may only contain lowercase "
             "alphanumerics, dots, and hyphens")


def app_dir(app: str) -> Path:
    return root() / app


def is_valid_app_name(app: str) -> Optional[str]:
    """plugins/common/common.go IsValidAppName: the error text, or None."""
    if app == "":
        return "Please specify an app to run the command on"
    return None if NEW_NAME.fullmatch(app) else NAME_RULE


def verify_app_name(app: str) -> Tuple[Optional[str], int]:
    """plugins/common/common.go VerifyAppName: the new or the old rule, then the app's directory;
    AppDoesNotExist exits 20 (plugins/common/common.go AppDoesNotExist.ExitCode)."""
    if app == "":
        return "Please specify an app to run the command on", 1
    if not NEW_NAME.fullmatch(app) and not OLD_NAME.fullmatch(app):
        return NAME_RULE, 1
    if not app_dir(app).is_dir():
        return f"App {app} does not exist", 20
    return None, 0


def verify_app_name_bash(app: str) -> None:
    """plugins/common/functions verify_app_name: `common --quiet verify-app-name` (VerifyAppName, its
    message hidden), and whatever it refused: `DOKKU_FAIL_EXIT_CODE=20 dokku_log_fail "App $APP does
    not exist"`."""
    if verify_app_name(app)[0]:
        fail(f"App {app} does not exist", 20)


# ----- plugin properties (plugins/common/property-functions fn-plugin-property-*) -------------------
def property_path(plugin: str, app: str, key: str) -> Path:
    """plugins/common/properties.go PropertyGet: $DOKKU_LIB_ROOT/config/<plugin>/<app>/<key>."""
    return lib_root() / "config" / plugin / app / key


def property_get(plugin: str, app: str, key: str, default: str = "") -> str:
    path = property_path(plugin, app, key)
    return path.read_text() if path.is_file() else default


def property_get_computed(plugin: str, app: str, key: str, default: str) -> str:
    """The usual report.go `reportComputed*`: app value, else `--global` value, else the default."""
    return property_get(plugin, app, key) or property_get(plugin, "--global", key) or default


def property_write(plugin: str, app: str, key: str, value: str) -> None:
    path = property_path(plugin, app, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value)


def property_delete(plugin: str, app: str, key: str) -> None:
    property_path(plugin, app, key).unlink(missing_ok=True)


# ----- app config (plugins/config: ENV per app, ENV global; stored as JSON here, see README) ---------
def config_path(app: str) -> Path:
    return lib_root() / "config" / app / "ENV.json"


def read_config(app: str) -> Dict[str, str]:
    path = config_path(app)
    return json.loads(path.read_text()) if path.exists() else {}


def write_config(app: str, values: Dict[str, str]) -> None:
    """plugins/config/config.go SetMany: the env file is written with mode 0600."""
    path = config_path(app)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values))
    os.chmod(path, 0o600)


def merged_config(app: str) -> Dict[str, str]:
    """plugins/config/environment.go LoadMergedAppEnv: the app's values over the global ones, keys sorted."""
    merged = {**read_config("--global"), **read_config(app)}
    return {key: merged[key] for key in sorted(merged)}


# ----- docker -----------------------------------------------------------------------------------
def docker(*args: str, check: bool = True, env_extra: Optional[Dict[str, str]] = None,
           input_text: Optional[str] = None) -> subprocess.CompletedProcess:
    import subprocess
    result = subprocess.run([os.environ.get("DOCKER_BIN", "docker"), *args], capture_output=True, text=True,
                            env={**os.environ, **(env_extra or {})}, input=input_text,
                            stdin=None if input_text is not None else subprocess.DEVNULL, close_fds=False)
    if check and result.returncode != 0:
        fail(f"docker {' '.join(args[:2])} failed: {(result.stderr or '').strip()}")
    return result


def image_exists(image: str) -> bool:
    return docker("image", "inspect", image, check=False).returncode == 0


# ----- triggers ---------------------------------------------------------------------------------
def plugn(name: str, *args: str, capture: bool = False,
          stdin_text: Optional[str] = None) -> subprocess.CompletedProcess:
    """`plugn trigger NAME ARGS` from a bash script: stdin, stdout and stderr inherited, unless the
    script captures with `$(…)` or feeds it with `: |` (empty stdin)."""
    import subprocess
    return subprocess.run(["plugn", "trigger", name, *args], text=True, input=stdin_text,
                          stdout=subprocess.PIPE if capture else None, close_fds=False)


def go_trigger(name: str, *args: str) -> Tuple[int, str]:
    """plugins/common/plugn.go CallPlugnTrigger with StreamStdio (plugins/common/exec.go
    CallExecCommandWithContext): output streams to this process's stdout/stderr while stderr is also
    kept; a non-zero exit becomes the error `errors.New(stderr)`. Stdin is not given (no TTY here).
    Before v0.34.0 Go plugins used the deprecated PlugnTrigger (v0.33.8 plugins/common/subprocess.go),
    whose error reads `exit status N`."""
    import subprocess
    import threading
    process = subprocess.Popen(["plugn", "trigger", name, *args], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=False)
    kept: List[bytes] = []
    out = threading.Thread(target=_copy, args=(process.stdout, sys.stdout, None))
    err = threading.Thread(target=_copy, args=(process.stderr, sys.stderr, kept))
    out.start()
    err.start()
    out.join()
    err.join()
    code = process.wait()
    if code == 0:
        return 0, ""
    if version() < (0, 34, 0):
        return code, f"exit status {code}"
    return code, b"".join(kept).decode("utf-8", "replace")


def go_trigger_quiet(name: str, *args: str) -> Tuple[int, str, str]:
    """plugins/common/plugn.go CallPlugnTrigger without streaming: (exit code, stdout, error), the
    error being the captured stderr (`exit status N` before v0.34.0, as go_trigger)."""
    import subprocess
    result = subprocess.run(["plugn", "trigger", name, *args], stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, close_fds=False)
    if result.returncode == 0:
        return 0, result.stdout, ""
    error = f"exit status {result.returncode}" if version() < (0, 34, 0) else result.stderr
    return result.returncode, result.stdout, error


def _copy(source: IO[bytes], target: TextIO, kept: Optional[List[bytes]]) -> None:
    for chunk in iter(lambda: source.read1(65536), b""):  # type: ignore[attr-defined]
        if kept is not None:
            kept.append(chunk)
        target.buffer.write(chunk)
        target.flush()


def remove_tree(path: Path) -> None:
    """`rm -rf`."""
    import shutil
    shutil.rmtree(path, ignore_errors=True)


def copy_tree(source: Path, target: Path) -> None:
    """`cp -r` into a directory that may exist."""
    import shutil
    shutil.copytree(source, target, dirs_exist_ok=True)


def token_hex(size: int) -> str:
    """Random hex, as Dokku's `openssl rand -hex` / Go's crypto/rand ids."""
    return os.urandom(size).hex()


def bash_random() -> int:
    """bash's `$RANDOM`: 0 to 32767."""
    return int.from_bytes(os.urandom(2), "big") & 0x7FFF


def trigger_exists(name: str) -> bool:
    """plugins/common/subprocess.go PlugnTriggerExists: some enabled plugin other than 20_events has the
    file (a glob: a dangling link counts, the executable bit is not checked)."""
    return any(os.path.lexists(plugin / name) for plugin in enabled_plugins() if plugin.name != "20_events")
