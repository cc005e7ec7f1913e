"""The images already on the host when the plugin is first installed: the only images without a
record that may start without having served since (`policy.refusal`). Images Dokku built before the
plugin existed have no record, and some must stay startable with no container of theirs around (an
app scaled to zero, or whose containers were removed).

Why a list taken at the first install, and not a time: an image's `Created` does not say when it
reached the host — pack (CNB) images are dated 1980-01-01 by default, `SOURCE_DATE_EPOCH` builds and
cache hits bring back old dates and old ids — while the list holds exactly the ids that were there.
Taken once, by the first install that reaches Docker (a marker file says it was): a later install
(`plugin:install` of any plugin fires every `install`, `plugin:update` too) must never admit an image
built since, such as one whose build was cancelled before `post-build` recorded it. Written by
`install` as root, owned by the dokku user like the rest of the plugin's state.
"""

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Tuple

from dokku_migrations.common.files import write_atomic
from dokku_migrations.common.rules import valid_app_name
from dokku_migrations.gate.policy import PREDATING

if TYPE_CHECKING:
    from dokku_migrations.docker.client import Docker

TAKEN = ".predating-taken"


def take(docker: "Docker", gate_root: Path, dokku_root: Path, owner: Optional[Tuple[int, int]]) -> str:
    """Lists every existing app's images once; returns what to tell the user ("" when already done).
    Raises UserError when Docker cannot be asked: the next install tries again."""
    marker = gate_root / TAKEN
    if marker.exists():
        return ""
    images = docker.app_image_ids()
    apps = {app: ids for app, ids in images.items() if valid_app_name(app) and (dokku_root / app).is_dir()}
    for app, ids in sorted(apps.items()):
        _write(gate_root / app / PREDATING, json.dumps(sorted(ids)).encode(), owner)
    _write(marker, b"", owner)
    count = sum(len(ids) for ids in apps.values())
    return f"{count} image(s) of {len(apps)} app(s) were here before dokku-migrations: they stay startable"


def _write(path: Path, data: bytes, owner: Optional[Tuple[int, int]]) -> None:
    write_atomic(path, data)
    if owner is not None:
        os.chown(path.parent, *owner)
        os.chown(path, *owner)
