"""Which images have had their migrations applied, so a failed release can never go live later.

Dokku leaves `dokku/<app>:latest` on the new image when a release fails, and `ps:restart`,
`ps:scale` and `dokku deploy` start that tag without any release trigger. We remember, per
app and image id, how its migrations went; the `scheduler-deploy` trigger (which all of those
commands pass through) refuses an image whose migrations failed.
"""

import json
import os
import tempfile
from pathlib import Path
from typing import Dict, Optional

MIGRATED = "migrated"
NOTHING_TO_RUN = "nothing-to-run"
FAILED = "failed"
REMEMBERED = 100


class Gate:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, app: str) -> Path:
        return self.root / app / "images.json"

    def _read(self, app: str) -> Dict[str, str]:
        try:
            data = json.loads(self._path(app).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def status(self, app: str, image_id: str) -> Optional[str]:
        return self._read(app).get(image_id)

    def mark(self, app: str, image_id: str, status: str) -> None:
        """Newest last; only the last REMEMBERED images are kept."""
        if not image_id:
            return
        data = self._read(app)
        data.pop(image_id, None)
        data[image_id] = status
        kept = dict(list(data.items())[-REMEMBERED:])
        path = self._path(app)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".images.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(kept, out)
            os.replace(temp, path)
        except BaseException:
            os.unlink(temp)
            raise


def migrated_value(status: Optional[str]) -> str:
    """What `migrations:report` shows for the image tagged latest."""
    if status in (MIGRATED, NOTHING_TO_RUN):
        return "true"
    if status == FAILED:
        return "false"
    return "unknown"
