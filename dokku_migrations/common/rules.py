"""Rules the head start applies before the rest of the plugin is loaded, and the run path applies
after it, written once here: Dokku's app-name rule, detection's default rules and where they look.
It loads nothing: the head start (docker/headstart.py) imports it first thing on every deploy.
"""

# Dokku's VerifyAppName (plugins/common/common.go) accepts an existing app under the current rule
# `^[a-z0-9][a-z0-9.-]*$` or the legacy one that also allowed `_`; neither limits the length.
APP_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
APP_NAME_REST = APP_NAME_FIRST | frozenset("._-")

# app.json first: it names this plugin's command explicitly, so it beats a tool's conventional script.
# Composer kills scripts after its own process-timeout (300 s by default): the plugin's `timeout` rules.
DEFAULT_RULES = (
    "app.json:$.migrations.command",
    "package.json:$.scripts.migrate=>npm run migrate",
    "composer.json:$.scripts.migrate=>composer run-script --timeout=0 migrate",
)
# Where a rule's file is looked for after the image's WorkingDir.
DEFAULT_WORKDIR = "/app"


def valid_app_name(app: str) -> bool:
    """Dokku's app name rule, as a character test (`re` is for the run path to load, not this)."""
    return bool(app) and app[0] in APP_NAME_FIRST and all(char in APP_NAME_REST for char in app)


# plugins/common/functions get_deploying_app_image_name: what a start runs is asked of these triggers
# (a registry plugin may name another repository, image repo and tag), each falling back to Dokku's own.
DEPLOYING_IMAGE_TRIGGERS = ("deployed-app-repository", "deployed-app-image-repo", "deployed-app-image-tag")


def image_repo(app: str) -> str:
    """Dokku's image repository of an app (plugins/common/functions get_app_image_repo)."""
    return f"dokku/{app}"


def deploying_image(app: str, tag: str, repository: str, repo: str, deployed_tag: str) -> str:
    """The image a start of TAG runs, from what the DEPLOYING_IMAGE_TRIGGERS printed (in their order)."""
    return f"{repository}{repo or image_repo(app)}:{deployed_tag or tag or 'latest'}"

