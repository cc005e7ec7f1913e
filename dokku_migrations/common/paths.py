"""Where the plugin's own files are: shared by `install` (root), the triggers (dokku user), the watchdog
and the head start, which reads them before the rest of the plugin is loaded: plain strings, `os` only.
"""

import os

PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
# Linked by `install` only on Dokku < 0.32.0 (see versions.py); untracked, so `git pull` never conflicts.
LEGACY_HOOK = os.path.join(PLUGIN_DIR, "pre-deploy")
LEGACY_TARGET = os.path.join("hooks", "pre-deploy")
# Under $DOKKU_LIB_ROOT, as Dokku keeps plugin properties: one directory per app (run/settings.py).
SETTINGS_DIR = os.path.join("config", "migrations")
