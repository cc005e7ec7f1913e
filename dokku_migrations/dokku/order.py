"""Where the plugin stands among Dokku's plugins, which its name decides.

plugn runs a trigger's hooks plugin by plugin in name order (dokku/plugn bashenv/plugn.bash `trigger`:
`for plugin in $PLUGIN_PATH/enabled/*`, core and community plugins alike). The gate refuses an image
in `scheduler-deploy` and `scheduler-run` before the scheduler starts it only if its hook comes first:
under a name sorting after `scheduler-docker-local` (the first scheduler by name; `scheduler-k3s`
comes after it), the containers have started before the plugin is asked. No trigger the scheduler
fires before it starts them can stand in (their failures are ignored or shared with every other use),
so such a name is refused: by `install`, and by every release until the plugin is reinstalled.
"""

import os

FIRST_SCHEDULER = "scheduler-docker-local"


def runs_after_scheduler(name: str) -> bool:
    """The glob sorts by the collation of plugn's locale: byte order under C (`LC_ALL=C`), letters and
    digits first, case and punctuation ignored, under glibc's UTF-8 locales. A name sorting after the
    scheduler in either order is refused."""
    def letters(text: str) -> str:
        return "".join(char for char in text.lower() if char.isalnum())

    return name > FIRST_SCHEDULER or letters(name) > letters(FIRST_SCHEDULER)


def misnamed(plugin_dir: str) -> str:
    """The one line saying why the plugin cannot work under its name, and what to do ("" when it can)."""
    name = os.path.basename(plugin_dir)
    if not runs_after_scheduler(name):
        return ""
    url = origin_url(plugin_dir) or "<the URL you installed it from>"
    return (f"dokku-migrations cannot work installed as '{name}': Dokku runs plugins in name order, and "
            f"'{name}' comes after '{FIRST_SCHEDULER}', so restarts would start an unmigrated image before "
            f"the plugin could refuse it. Reinstall it under its own name: sudo dokku plugin:uninstall {name} "
            f"&& sudo dokku plugin:install {url} --name migrations")


def origin_url(plugin_dir: str) -> str:
    """The URL `plugin:install` cloned the plugin from (plugn's `git clone`), when it was cloned."""
    try:
        with open(os.path.join(plugin_dir, ".git", "config"), encoding="utf-8") as config:
            text = config.read()
    except (OSError, ValueError):
        return ""
    section = ""
    for line in (raw.strip() for raw in text.splitlines()):
        if line.startswith("["):
            section = line
        elif section == '[remote "origin"]' and line.partition("=")[0].strip() == "url":
            return line.partition("=")[2].strip()
    return ""
