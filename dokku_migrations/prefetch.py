"""A deploy's manifests start coming out of the image before the rest of the plugin is imported.

Reading a manifest out of an image is the engine's slowest answer on the path every deploy takes
(Docker 20.10 re-executes itself for each file it packs, ~35 ms), and importing the plugin is
Python's (~30 ms): started first, the one happens while the other does. This asks for exactly what
detection will ask for (the same settings, rules, image and paths, see plan.decide and
manifest.detect); when it guesses wrong or anything fails, nothing is prefetched and the run reads
the files itself, as it always did. It never raises: every error is the run's to report.
"""

from typing import Sequence

from .context import Context
from .dokku import APP_NAME
from .errors import Interrupted
from .manifest import wanted_paths
from .paths import LEGACY_HOOK


def start(ctx: Context, trigger: str, args: Sequence[str]) -> None:
    """For `pre-release-builder BUILDER_TYPE APP IMAGE`, when it will detect (enabled, no `command`)."""
    if trigger != "pre-release-builder" or len(args) < 3 or not APP_NAME.fullmatch(args[1]) or LEGACY_HOOK.exists():
        return
    app, image = args[1], args[2]
    try:
        settings = ctx.settings.resolved(app)
        if not settings.enabled or settings.get("command"):
            return
        info = ctx.docker.inspect_image(image)
        if info is not None:
            ctx.docker.prefetch(image, wanted_paths(settings.rules, info.workdir), app)
    except Interrupted:
        raise
    except Exception:  # the run meets the same failure again and reports it in its own words
        return
