"""Everything a trigger, a command or the watchdog works with, built from Dokku's environment.

Each part is built (and its module imported) when first used: `migrations:set`, `post-delete` or
the renames never talk to Docker, so they never load docker.py or build a client.
"""

from functools import cached_property
from typing import TYPE_CHECKING, Dict, Mapping

from dokku_migrations.common.paths import SETTINGS_DIR
from dokku_migrations.common.state import STATE_DIR
from dokku_migrations.dokku.host import Dokku

if TYPE_CHECKING:
    from dokku_migrations.docker.client import Docker
    from dokku_migrations.gate.history import History
    from dokku_migrations.gate.policy import Gate
    from dokku_migrations.run.settings import SettingsStore


class Context:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env: Dict[str, str] = dict(env)
        self.dokku = Dokku.from_environ(env)
        self._data = self.dokku.lib_root / STATE_DIR

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> "Context":
        return cls(env)

    @cached_property
    def docker(self) -> "Docker":
        from dokku_migrations.docker.client import Docker
        return Docker(self.dokku.docker_bin, self._env)

    @cached_property
    def settings(self) -> "SettingsStore":
        from dokku_migrations.run.settings import SettingsStore
        return SettingsStore(self.dokku.lib_root / SETTINGS_DIR)

    @cached_property
    def history(self) -> "History":
        from dokku_migrations.gate.history import History
        return History(self._data)

    @cached_property
    def gate(self) -> "Gate":
        from dokku_migrations.gate.policy import Gate
        return Gate(self._data)

    def close(self) -> None:
        """Ends what was started for the run and left unused (manifests the head start asked for)."""
        if "docker" in self.__dict__:
            self.docker.close()
