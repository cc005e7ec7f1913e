"""The plugin's own Python environment, `.venv` in the plugin directory, made by `install` as root
with the system Python: standard library only (nothing else exists yet).

The first way the host allows: a venv with its own pip (ensurepip); where ensurepip is missing
(Debian and Ubuntu without python3-venv) a venv without pip, filled by the system's pip; with no
pip either, apt-get installs python3.X-venv first. The new environment is built and checked beside
the live one, then swapped in atomically: a trigger starting meanwhile always finds a complete
environment, and a failed build leaves the old one as it was.
"""

import errno
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional

from dokku_migrations.common.errors import UserError
from dokku_migrations.common.output import verbose
from dokku_migrations.common.paths import PLUGIN_DIR

VENV = Path(PLUGIN_DIR) / ".venv"
STAGING = Path(PLUGIN_DIR) / ".venv.new"
STAMP = ".requirements-stamp"
REQUIREMENTS = Path(PLUGIN_DIR) / "requirements.txt"
AT_FDCWD = -100
RENAME_EXCHANGE = 2
# renameat2 refused by the kernel (< 3.15), the filesystem, or across an overlayfs layer
EXCHANGE_REFUSED = {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EXDEV}
RETRY = "then run 'sudo dokku plugin:install'"
NATIVE_SCRIPTS = ("squawk",)  # squawk-cli's wheel ships its linter as a compiled program


def requirements_stamp() -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def is_current() -> bool:
    stamp = VENV / STAMP
    return stamp.is_file() and stamp.read_text() == requirements_stamp() and (VENV / "bin" / "python").exists()


def create() -> None:
    """Builds beside the live environment and swaps the result in; nothing half-written is left."""
    shutil.rmtree(STAGING, ignore_errors=True)
    try:
        build(STAGING)
        check(STAGING)
        (STAGING / STAMP).write_text(requirements_stamp())
        swap_in(STAGING, VENV)
    except OSError as error:
        raise UserError(f"Could not write the plugin's Python environment in {PLUGIN_DIR} ({error}): "
                        f"free some space or fix the permissions there, {RETRY}")
    finally:
        shutil.rmtree(STAGING, ignore_errors=True)


def build(target: Path) -> None:
    """A venv whose ensurepip fails (missing, or disabled by a distribution) is not the end: the
    system's pip fills one made without pip, else apt-get brings python3.X-venv."""
    if has_ensurepip() and run(venv_argv(target)).returncode == 0:
        pip_install([str(target / "bin" / "python"), "-m", "pip"])
        return
    shutil.rmtree(target, ignore_errors=True)
    if has_system_pip():
        verbose("This Python's venv cannot install pip (python3-venv is missing): using the system's pip")
        make_venv(target, "--without-pip")
        install_with_system_pip(target)
        return
    install_venv_package()
    make_venv(target)
    pip_install([str(target / "bin" / "python"), "-m", "pip"])


def has_ensurepip() -> bool:
    return run([sys.executable, "-c", "import ensurepip"]).returncode == 0


def has_system_pip() -> bool:
    return run([sys.executable, "-m", "pip", "--version"]).returncode == 0


def venv_argv(target: Path, *options: str) -> List[str]:
    return [sys.executable, "-m", "venv", *options, str(target)]


def make_venv(target: Path, *options: str) -> None:
    result = run(venv_argv(target, *options))
    if result.returncode != 0:
        raise UserError(f"Could not create the plugin's Python environment ({reason(result)}): "
                        f"run 'sudo apt-get install -y {venv_package()}', {RETRY}")


def pip_install(pip: List[str], *options: str) -> None:
    """Exactly the pinned packages (`--no-deps`), each checked against its hash."""
    result = run([*pip, "install", "--quiet", "--disable-pip-version-check", "--no-input", "--no-deps",
                  "--require-hashes", *options, "-r", str(REQUIREMENTS)])
    if result.returncode != 0:
        raise UserError(f"Could not install the plugin's Python packages (jsonpath-ng, squawk-cli): {reason(result)}; "
                        "check that this host reaches the package index (pypi.org) and that no proxy alters "
                        f"downloads, {RETRY}")


def install_with_system_pip(target: Path) -> None:
    """`--target` puts the packages straight into the new environment's site-packages. It works
    from pip 20 on (Ubuntu 22.04's pip 22.0.2 has no `--python`), and PEP 668 (Ubuntu 24.04) does
    not apply: that guards the system's own site-packages. The console scripts pip writes to
    site-packages/bin would run the system Python, so they go."""
    site = site_packages(target)
    pip_install([sys.executable, "-m", "pip"], "--target", str(site))
    for binary in NATIVE_SCRIPTS:  # a program, not a Python script: it belongs beside the environment's python
        if (site / "bin" / binary).is_file():
            os.replace(site / "bin" / binary, target / "bin" / binary)
    shutil.rmtree(site / "bin", ignore_errors=True)


def site_packages(venv: Path) -> Path:
    """Asked of the environment's own Python (distributions patch where site-packages lives):
    the site-packages directory on its sys.path, inside the environment."""
    result = run([str(venv / "bin" / "python"), "-c",
                  "import os, sys; print(next(p for p in sys.path if p.startswith(sys.prefix + os.sep)"
                  " and os.path.basename(p) == 'site-packages'))"])
    if result.returncode != 0:
        raise UserError(f"The new Python environment has no site-packages directory ({reason(result)}): "
                        f"run 'sudo apt-get install -y {venv_package()}', {RETRY}")
    return Path(result.stdout.strip())


def venv_package() -> str:
    return f"python3.{sys.version_info.minor}-venv"


def install_venv_package() -> None:
    """No ensurepip and no pip: as root with apt-get, python3.X-venv (else python3-venv), refreshing
    the package lists when the first attempt fails (absent or stale lists are common)."""
    package = venv_package()
    apt = shutil.which("apt-get")
    command = f"'sudo apt-get update && sudo apt-get install -y {package}'"
    if not apt or os.geteuid() != 0:
        raise UserError(f"This Python has neither ensurepip nor pip to build the plugin's environment: "
                        f"run {command}, {RETRY}")
    verbose(f"This Python has neither ensurepip nor pip: installing {package} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = apt_install(apt, package, env)
    if result.returncode != 0:
        run([apt, "update", "-q"], env)
        result = apt_install(apt, package, env)
    if result.returncode != 0:
        raise UserError(f"This Python has neither ensurepip nor pip, and apt-get could not install {package} "
                        f"({reason(result)}): run {command}, {RETRY}")
    if not has_ensurepip():
        raise UserError(f"apt-get installed {package}, yet this Python still has no ensurepip: "
                        f"run 'sudo apt-get install --reinstall -y {package}', {RETRY}")


def apt_install(apt: str, package: str, env: Dict[str, str]) -> subprocess.CompletedProcess:
    """python3.X-venv, else python3-venv; waits for a dpkg lock held by unattended-upgrades instead
    of failing at once. A failure reports the first package's error, the one that matters."""
    first = run([apt, "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=120", package], env)
    if first.returncode == 0:
        return first
    other = run([apt, "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=120", "python3-venv"], env)
    return other if other.returncode == 0 else first


def check(target: Path) -> None:
    """The new environment must import the plugin's packages before it replaces a working one."""
    result = run([str(target / "bin" / "python"), "-c", "import jsonpath_ng"])
    if result.returncode != 0:
        raise UserError(f"The new Python environment cannot import its packages ({reason(result)}): "
                        f"the old one is unchanged; run 'sudo dokku plugin:install' again")


def swap_in(staging: Path, live: Path) -> None:
    """Puts `staging` where `live` is without a moment in which neither exists; afterwards
    `staging` holds the old environment (or nothing, on a first install)."""
    if not live.exists():
        os.rename(staging, live)
    elif not exchange(staging, live):
        replace_by_renames(staging, live)


def exchange(first: Path, second: Path) -> bool:
    """Swaps two paths in one step: renameat2(RENAME_EXCHANGE) (Linux ≥ 3.15, glibc ≥ 2.28).
    False when the kernel, the C library or the filesystem refuses it."""
    try:
        import ctypes
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (ImportError, OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in EXCHANGE_REFUSED:
        return False
    raise OSError(code, os.strerror(code), str(second))


def replace_by_renames(staging: Path, live: Path) -> None:
    """The fallback where no exchange is possible: the live environment is renamed aside, then the
    new one renamed in. Triggers starting between the two renames (microseconds, not the length of
    a tree removal) find no environment; if the second rename fails, the old one goes back."""
    aside = live.with_name(live.name + ".old")
    shutil.rmtree(aside, ignore_errors=True)
    os.rename(live, aside)
    try:
        os.rename(staging, live)
    except OSError:
        os.rename(aside, live)
        raise
    os.rename(aside, staging)


def run(argv: List[str], env: Optional[Mapping[str, str]] = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)


def reason(result: subprocess.CompletedProcess) -> str:
    """Why a tool failed, short enough for one line: its last error (pip `ERROR:`, apt `E:`),
    else its last line; first sentence only."""
    lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("ERROR:", "E:"))]
    line = (errors or lines or [f"exit status {result.returncode}"])[-1]
    return line.split(". ")[0].rstrip(".")
