"""The `install`/`update` triggers (run as root): the plugin's Python environment (environment.py),
its state directories, the images already on the host (predating.py, once), and which deploy hook
this Dokku gets. Standard library only: it runs before the environment exists. A name the plugin
cannot work under (order.py) is refused before anything is made.

Deploy hook choice (versions.py): `pre-release-builder` is always shipped and runs the migrations
wherever Dokku fires it (0.32.0 and later); `pre-deploy` is a link made only for Dokku older than
0.32.0 (or of unknown version), because Dokku ≥ 0.34.4 warns on every deploy while any plugin ships a
`pre-deploy` file. A Dokku upgrade does not re-run this trigger, so the link can outlive the Dokku
it was made for: the `pre-deploy` trigger then stands aside at run time (triggers.py).
"""

import grp
import os
import pwd
import sys
from pathlib import Path
from typing import Mapping, Optional, Tuple

from dokku_migrations.common.errors import UserError
from dokku_migrations.common.output import info1, warn
from dokku_migrations.common.paths import LEGACY_HOOK, LEGACY_TARGET, PLUGIN_DIR, SETTINGS_DIR
from dokku_migrations.common.state import STATE_DIR
from dokku_migrations.dokku.order import misnamed
from dokku_migrations.dokku.versions import dokku_version, shown, unsupported, wants_legacy_hook
from dokku_migrations.gate import predating
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


def dokku_owner(env: Mapping[str, str]) -> Optional[Tuple[int, int]]:
    """The dokku user's uid and gid, which own the plugin's state (None when not run as root)."""
    if os.geteuid() != 0:
        return None
    user = env.get("DOKKU_SYSTEM_USER", "dokku")
    group = env.get("DOKKU_SYSTEM_GROUP", "dokku")
    try:
        return pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
    except KeyError:
        raise UserError(f"User or group '{user}:{group}' does not exist: is Dokku installed?")


def state_dirs(lib_root: Path, owner: Optional[Tuple[int, int]]) -> None:
    """config/ and data/ for the plugin, owned by the dokku user, closed to everyone else."""
    for directory in (lib_root / SETTINGS_DIR, lib_root / STATE_DIR):
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        if owner is not None:
            os.chown(directory, *owner)


def install(env: Mapping[str, str]) -> None:
    if sys.version_info < MIN_PYTHON:
        raise UserError(f"dokku-migrations needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; "
                        f"this host has {sys.version.split()[0]}")
    wrong_name = misnamed(PLUGIN_DIR)
    if wrong_name:
        raise UserError(wrong_name)
    lib_root = Path(env.get("DOKKU_LIB_ROOT", "/var/lib/dokku"))
    refuse_unsupported_dokku(lib_root)
    if not environment.is_current():
        info1("Installing dokku-migrations' Python environment")
        environment.create()
    compile_package()
    owner = dokku_owner(env)
    state_dirs(lib_root, owner)
    remember_images(lib_root, env, owner)
    info1(choose_deploy_hook(lib_root))


def remember_images(lib_root: Path, env: Mapping[str, str], owner: Optional[Tuple[int, int]]) -> None:
    """The images already here may start without a record (predating.py): listed at the first install."""
    from dokku_migrations.docker.client import Docker
    docker = Docker(env.get("DOCKER_BIN", "docker"), env)
    try:
        note = predating.take(docker, lib_root / STATE_DIR,
                              Path(env.get("DOKKU_ROOT", "/home/dokku")), owner)
    except UserError as error:
        warn(f"The images already on this host could not be listed ({error.message}): until they are, "
             f"restarts refuse an app's image that has no container; once Docker is up, run "
             f"'sudo dokku plugin:install'")
        return
    finally:
        docker.close()
    if note:
        info1(note)


def compile_package() -> None:
    """Byte-compiles the plugin as root: the dokku user cannot write __pycache__ here, and would
    otherwise recompile every module on every deploy."""
    environment.run([str(environment.VENV / "bin" / "python"), "-m", "compileall", "-q",
                     os.path.join(PLUGIN_DIR, "dokku_migrations")])
