"""Everything a trigger, a command or the watchdog works with, built once from Dokku's environment."""

from dataclasses import dataclass
from typing import Mapping

from .docker import Docker
from .dokku import Dokku
from .gate import Gate
from .history import History
from .settings import SettingsStore


@dataclass(frozen=True)
class Context:
    dokku: Dokku
    docker: Docker
    settings: SettingsStore
    history: History
    gate: Gate

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> "Context":
        dokku = Dokku.from_environ(env)
        data = dokku.lib_root / "data" / "migrations"
        return cls(
            dokku=dokku,
            docker=Docker(dokku.docker_bin, env),
            settings=SettingsStore(dokku.lib_root / "config" / "migrations"),
            history=History(data),
            gate=Gate(data),
        )
