"""`dokku plugin:uninstall <plugin name>`: leave nothing of the plugin's behind, and say what that means.

Removed: every app's settings and history (run records and their output), the gate's records,
the plugin's lock files (all under its config/ and data/ directories), and the
`dokku/<app>:migrations-failed` tags. An app whose `latest` image was never migrated is named
first: once the plugin is gone, nothing stops `ps:restart` from starting that image.
"""

import shutil
from typing import List, Set

from dokku_migrations.common import output
from dokku_migrations.common.errors import UserError
from dokku_migrations.common.rules import valid_app_name
from dokku_migrations.context import Context
from dokku_migrations.gate import policy as gates


def known_apps(ctx: Context) -> List[str]:
    apps: Set[str] = set()
    for root in (ctx.history.root, ctx.settings.root):
        if root.is_dir():
            apps.update(p.name for p in root.iterdir() if p.is_dir() and valid_app_name(p.name))
    return sorted(apps)


def remove_everything(ctx: Context) -> None:
    """Docker being down must not stop an uninstall: the files go all the same, and the user is
    told which tags are left."""
    apps = known_apps(ctx)
    try:
        for app in apps:
            repo = ctx.dokku.image_repo(app)
            latest = ctx.docker.inspect_image(f"{repo}:latest")
            if latest is not None and gates.refusal(ctx.gate, ctx.docker, app, latest.id):
                output.warn(f"{repo}:latest was never migrated; without this plugin 'dokku ps:restart {app}' would "
                            f"start it: deploy a fixed image, or point latest back at the running image")
            ctx.docker.untag(f"{repo}:{gates.FAILED_TAG}")
    except UserError as error:
        output.warn(f"{error.message}; so the images were not checked and the dokku/<app>:{gates.FAILED_TAG} tags "
                    f"are left: remove them with 'docker image rm' once Docker is back")
    for root in (ctx.history.root, ctx.settings.root):
        shutil.rmtree(root, ignore_errors=True)
    output.info1(f"Removed dokku-migrations' settings, run history and image tags ({len(apps)} apps)")
