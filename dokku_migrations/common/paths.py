"""Where the plugin's own files are: shared by `install` (root) and the triggers (dokku user)."""

from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parents[2]
# Linked by `install` only on Dokku < 0.32.0 (see versions.py); untracked, so `git pull` never conflicts.
LEGACY_HOOK = PLUGIN_DIR / "pre-deploy"
LEGACY_TARGET = Path("hooks") / "pre-deploy"
