"""Dokku versions and what each fires around a deploy: pure, standard library only (read by
`install` as root and by the triggers).

- ≤ 0.24: `pre-deploy` fires from the docker-local scheduler, on every `ps:restart` and `ps:scale`
  too: migrations would run on each restart. Unsupported.
- 0.25.0: `pre-deploy` fires from `release_and_deploy` before the release build. Unsupported.
- 0.25.1 – 0.31.x: `pre-deploy` fires once per release, from the registry plugin's
  `post-release-builder`; `pre-release-builder` does not exist yet. The plugin needs its
  `pre-deploy` link.
- ≥ 0.32.0: `pre-release-builder` fires in every builder's release; the registry still fires
  `pre-deploy` afterwards (from 0.34.4 only when some plugin ships it, with a deprecation warning).
  The plugin runs from `pre-release-builder`; a `pre-deploy` link left from an older Dokku stands aside.
"""

import re
from pathlib import Path
from typing import Optional, Tuple

Version = Tuple[int, int, int]

OLDEST_SUPPORTED: Version = (0, 25, 1)
PRE_RELEASE_BUILDER_SINCE: Version = (0, 32, 0)
DEPLOY_LOCK_IN_DATA_SINCE: Version = (0, 34, 0)


def parse_version(text: str) -> Optional[Version]:
    """`0.35.12`, `v0.34.4-3-gabc`, `dokku version 0.30.0` → a tuple; `~master (date)` → None."""
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None


def dokku_version(lib_root: Path) -> Optional[Version]:
    """Where Dokku reads its own version (plugins/common/functions dokku_version): STABLE_VERSION,
    then VERSION."""
    for name in ("STABLE_VERSION", "VERSION"):
        try:
            return parse_version((lib_root / name).read_text())
        except OSError:
            continue
    return None


def shown(version: Optional[Version]) -> str:
    return ".".join(map(str, version)) if version else "unknown"


def unsupported(version: Optional[Version]) -> str:
    """Why this Dokku cannot run the plugin correctly, or "" when it can (an unknown version can)."""
    if version is None or version >= OLDEST_SUPPORTED:
        return ""
    if version < (0, 25, 0):
        why = "it fires pre-deploy on every ps:restart and ps:scale, so migrations would run on each restart"
    else:
        why = "it fires pre-deploy before the release image is built"
    return (f"dokku-migrations needs Dokku {shown(OLDEST_SUPPORTED)} or newer, and this host runs Dokku "
            f"{shown(version)}: {why}; upgrade Dokku, then run 'sudo dokku plugin:install'")


def wants_legacy_hook(version: Optional[Version]) -> bool:
    """`install` links `pre-deploy` where `pre-release-builder` does not exist (or may not): a
    deprecation warning beats migrations never running."""
    return version is None or version < PRE_RELEASE_BUILDER_SINCE


def pre_deploy_runs_migrations(version: Optional[Version], last_trigger: str) -> bool:
    """Decided at every deploy, since a Dokku upgrade never re-runs a community plugin's `install`
    (debian/postinst runs `plugin:install --core`): a link made for an old Dokku may outlive it. Where
    `pre-release-builder` fires it has run the migrations already. An unknown version is judged by
    what this host has done: once `pre-release-builder` has run a migration here, it always fires."""
    if version is not None:
        return version < PRE_RELEASE_BUILDER_SINCE
    return last_trigger != "pre-release-builder"


def deploy_lock_in_data_dir(version: Optional[Version], data_dir_exists: bool) -> bool:
    """Dokku 0.34.0 moved the deploy lock from `$DOKKU_ROOT/<app>/` to `$DOKKU_LIB_ROOT/data/apps/<app>/`
    (plugins/common/functions acquire_app_deploy_lock, plugins/apps getLockPath), and from then writes
    its holder in it. Only 0.34.0 and later make that directory (apps `post-create` and `install`), so it
    tells an unknown version."""
    return version >= DEPLOY_LOCK_IN_DATA_SINCE if version is not None else data_dir_exists
