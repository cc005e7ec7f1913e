"""The `install`/`update` triggers (run as root): the plugin's Python environment (environment.py),
its state directories, and which deploy hook this Dokku gets. Standard library only: it runs before
the environment exists.

Deploy hook choice: Dokku ≥ 0.34.4 warns on every deploy when any plugin ships a `pre-deploy`
file, and fires `pre-release-builder` (since 0.32.0) anyway; older Dokku needs `pre-deploy`.
So `pre-release-builder` is always shipped, and `pre-deploy` is a link that exists only on
Dokku < 0.34.4 (or an unknown version); while it exists, `pre-release-builder` stands aside.
Exactly one of them runs migrations on any Dokku.
"""

import grp
import os
import pwd
import re
import shutil
import sys
from pathlib import Path
from typing import Mapping, Optional, Tuple

from . import environment
from .errors import UserError
from .output import info1
from .paths import LEGACY_HOOK, LEGACY_TARGET, PLUGIN_DIR

DEPRECATED_SINCE = (0, 34, 4)
MIN_PYTHON = (3, 9)


def parse_version(text: str) -> Optional[Tuple[int, int, int]]:
    """`0.35.12`, `v0.34.4-3-gabc`, `dokku version 0.30.0` → a tuple; `~master (date)` → None."""
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None


def dokku_version(lib_root: Path) -> Optional[Tuple[int, int, int]]:
    """Where the `dokku version` command reads it: STABLE_VERSION, then VERSION."""
    for name in ("STABLE_VERSION", "VERSION"):
        try:
            return parse_version((lib_root / name).read_text())
        except OSError:
            continue
    return None


def wants_legacy_hook(version: Optional[Tuple[int, int, int]]) -> bool:
    """An unknown version gets the legacy hook: a deprecation warning beats migrations never running."""
    return version is None or version < DEPRECATED_SINCE


def choose_deploy_hook(lib_root: Path) -> str:
    version = dokku_version(lib_root)
    shown = ".".join(map(str, version)) if version else "unknown"
    if wants_legacy_hook(version):
        if not LEGACY_HOOK.is_symlink():
            LEGACY_HOOK.unlink(missing_ok=True)
            LEGACY_HOOK.symlink_to(LEGACY_TARGET)
        return f"Dokku {shown}: migrations run from the pre-deploy trigger"
    LEGACY_HOOK.unlink(missing_ok=True)
    return f"Dokku {shown}: migrations run from the pre-release-builder trigger"


def state_dirs(lib_root: Path, env: Mapping[str, str]) -> None:
    """config/ and data/ for the plugin, owned by the dokku user, closed to everyone else."""
    user = env.get("DOKKU_SYSTEM_USER", "dokku")
    group = env.get("DOKKU_SYSTEM_GROUP", "dokku")
    for directory in (lib_root / "config" / "migrations", lib_root / "data" / "migrations"):
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        if os.geteuid() == 0:
            try:
                shutil.chown(directory, pwd.getpwnam(user).pw_name, grp.getgrnam(group).gr_name)
            except KeyError:
                raise UserError(f"User or group '{user}:{group}' does not exist: is Dokku installed?")


def install(env: Mapping[str, str]) -> None:
    if sys.version_info < MIN_PYTHON:
        raise UserError(f"dokku-migrations needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; "
                        f"this host has {sys.version.split()[0]}")
    lib_root = Path(env.get("DOKKU_LIB_ROOT", "/var/lib/dokku"))
    if not environment.is_current():
        info1("Installing dokku-migrations' Python environment")
        environment.create()
    compile_package()
    state_dirs(lib_root, env)
    info1(choose_deploy_hook(lib_root))


def compile_package() -> None:
    """Byte-compiles the plugin as root: the dokku user cannot write __pycache__ here, and would
    otherwise recompile every module on every deploy."""
    environment.run([str(environment.VENV / "bin" / "python"), "-m", "compileall", "-q",
                     str(PLUGIN_DIR / "dokku_migrations")])
