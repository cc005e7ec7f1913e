"""The `install`/`update` triggers (run as root): the plugin's Python environment, its state
directories, and which deploy hook this Dokku gets. Standard library only: it runs before the
environment exists.

Deploy hook choice (versions.py): `pre-release-builder` is always shipped and runs the migrations
wherever Dokku fires it (0.32.0 and later); `pre-deploy` is a link made only for Dokku older than
0.32.0 (or of unknown version), because Dokku ≥ 0.34.4 warns on every deploy while any plugin ships a
`pre-deploy` file. A Dokku upgrade does not re-run this trigger, so the link can outlive the Dokku
it was made for: the `pre-deploy` trigger then stands aside at run time (triggers.py).
"""

import grp
import hashlib
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Optional

from .errors import UserError
from .output import info1, verbose
from .paths import LEGACY_HOOK, LEGACY_TARGET, PLUGIN_DIR
from .versions import dokku_version, shown, unsupported, wants_legacy_hook

VENV = PLUGIN_DIR / ".venv"
REQUIREMENTS = PLUGIN_DIR / "requirements.txt"
MIN_PYTHON = (3, 9)


def refuse_unsupported_dokku(lib_root: Path) -> None:
    """Dokku older than 0.25.1 fires `pre-deploy` where migrations cannot run safely (versions.py)."""
    reason = unsupported(dokku_version(lib_root))
    if reason:
        raise UserError(reason)


def choose_deploy_hook(lib_root: Path) -> str:
    version = dokku_version(lib_root)
    if wants_legacy_hook(version):
        if not LEGACY_HOOK.is_symlink():
            LEGACY_HOOK.unlink(missing_ok=True)
            LEGACY_HOOK.symlink_to(LEGACY_TARGET)
        return f"Dokku {shown(version)}: migrations run from the pre-deploy trigger"
    LEGACY_HOOK.unlink(missing_ok=True)
    return f"Dokku {shown(version)}: migrations run from the pre-release-builder trigger"


def requirements_stamp() -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def environment_is_current() -> bool:
    stamp = VENV / ".requirements-stamp"
    return stamp.is_file() and stamp.read_text() == requirements_stamp() and (VENV / "bin" / "python").exists()


def create_environment() -> None:
    """Builds the venv beside the plugin, then swaps it in: a failed install leaves the old one intact."""
    staging = PLUGIN_DIR / ".venv.new"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        make_venv(staging)
        pip_install(staging)
        (staging / ".requirements-stamp").write_text(requirements_stamp())
        shutil.rmtree(VENV, ignore_errors=True)
        os.replace(staging, VENV)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def make_venv(target: Path) -> None:
    """With pip when the system has ensurepip; else without, and pip comes from the system's pip."""
    attempt = run([sys.executable, "-m", "venv", str(target)])
    if attempt.returncode == 0:
        return
    shutil.rmtree(target, ignore_errors=True)
    if run([sys.executable, "-m", "pip", "--version"]).returncode == 0:
        if run([sys.executable, "-m", "venv", "--without-pip", str(target)]).returncode == 0:
            return
    apt = shutil.which("apt-get")
    package = f"python3.{sys.version_info.minor}-venv"
    if apt and os.geteuid() == 0:
        verbose(f"Python's venv module is incomplete here; installing {package}")
        for name in (package, "python3-venv"):
            if run([apt, "install", "-y", "-q", name], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}).returncode == 0:
                break
        if run([sys.executable, "-m", "venv", str(target)]).returncode == 0:
            return
    raise UserError(f"Could not create a Python environment: install {package} "
                    f"(sudo apt-get install -y {package}) and run 'sudo dokku plugin:install' again")


def pip_install(target: Path) -> None:
    python = str(target / "bin" / "python")
    if run([python, "-m", "pip", "--version"]).returncode == 0:
        pip = [python, "-m", "pip"]
    else:
        pip = [sys.executable, "-m", "pip", "--python", python]
    result = run(pip + ["install", "--quiet", "--disable-pip-version-check", "--no-input", "--no-deps",
                        "--require-hashes", "-r", str(REQUIREMENTS)])
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise UserError("Could not install the plugin's Python packages (sh, jsonpath-ng): "
                        f"{detail[-1] if detail else 'pip failed'}; check network access to the package index")


def run(argv, env: Optional[Mapping[str, str]] = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, env=env)


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
    refuse_unsupported_dokku(lib_root)
    if not environment_is_current():
        info1("Installing dokku-migrations' Python environment")
        create_environment()
    compile_package()
    state_dirs(lib_root, env)
    info1(choose_deploy_hook(lib_root))


def compile_package() -> None:
    """Byte-compiles the plugin as root: the dokku user cannot write __pycache__ here, and would
    otherwise recompile every module on every deploy."""
    run([str(VENV / "bin" / "python"), "-m", "compileall", "-q", str(PLUGIN_DIR / "dokku_migrations")])
