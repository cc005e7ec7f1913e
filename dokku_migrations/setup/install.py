"""The `install`/`update` triggers (run as root): the plugin's Python environment (environment.py),
its state directories, and which deploy hook this Dokku gets. Standard library only: it runs before
the environment exists.

Deploy hook choice (versions.py): `pre-release-builder` is always shipped and runs the migrations
wherever Dokku fires it (0.32.0 and later); `pre-deploy` is a link made only for Dokku older than
0.32.0 (or of unknown version), because Dokku ≥ 0.34.4 warns on every deploy while any plugin ships a
`pre-deploy` file. A Dokku upgrade does not re-run this trigger, so the link can outlive the Dokku
it was made for: the `pre-deploy` trigger then stands aside at run time (triggers.py).
"""

import grp
import os
import pwd
import shutil
import sys
from pathlib import Path
from typing import Mapping

from dokku_migrations.common.errors import UserError
from dokku_migrations.common.output import info1
from dokku_migrations.common.paths import LEGACY_HOOK, LEGACY_TARGET, PLUGIN_DIR, SETTINGS_DIR
from dokku_migrations.common.state import STATE_DIR
from dokku_migrations.dokku.versions import dokku_version, shown, unsupported, wants_legacy_hook
from dokku_migrations.setup import environment

MIN_PYTHON = (3, 9)


def refuse_unsupported_dokku(lib_root: Path) -> None:
    """Dokku older than 0.25.1 fires `pre-deploy` where migrations cannot run safely (versions.py)."""
    reason = unsupported(dokku_version(lib_root))
    if reason:
        raise UserError(reason)


def choose_deploy_hook(lib_root: Path) -> str:
    version = dokku_version(lib_root)
    if wants_legacy_hook(version):
        if not Path(LEGACY_HOOK).is_symlink():
            Path(LEGACY_HOOK).unlink(missing_ok=True)
            Path(LEGACY_HOOK).symlink_to(LEGACY_TARGET)
        return f"Dokku {shown(version)}: migrations run from the pre-deploy trigger"
    Path(LEGACY_HOOK).unlink(missing_ok=True)
    return f"Dokku {shown(version)}: migrations run from the pre-release-builder trigger"


def state_dirs(lib_root: Path, env: Mapping[str, str]) -> None:
    """config/ and data/ for the plugin, owned by the dokku user, closed to everyone else."""
    user = env.get("DOKKU_SYSTEM_USER", "dokku")
    group = env.get("DOKKU_SYSTEM_GROUP", "dokku")
    for directory in (lib_root / SETTINGS_DIR, lib_root / STATE_DIR):
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
    refuse_unsupported_dokku(lib_root)
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
                     os.path.join(PLUGIN_DIR, "dokku_migrations")])
