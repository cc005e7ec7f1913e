"""What each end-to-end test spends, counted where it is spent: hosts built, deploys, database servers
started, and `migrations:history` calls through the whole CLI. Counted in the test's own process (Host
and the `try` helpers report here), attached to the test's report, and summed per file at the end of
the run (tests/conftest.py), so a change that makes the suite slower shows in the counts it changes."""

from collections import Counter
from typing import Dict, Sequence

KINDS = ("hosts", "deploys", "databases", "history")
# Commands that take the app through Dokku's release and deploy (a config change only when it restarts).
DEPLOYING = {"git:from-image", "ps:rebuild", "ps:restart", "ps:start", "ps:scale", "deploy"}
REBUILDING = {"apps:rename", "apps:clone"}
RELEASING = {"config:set", "config:unset"}

spent: Counter = Counter()


def count(kind: str, times: int = 1) -> None:
    spent[kind] += times


def command(argv: Sequence[str]) -> None:
    """One `dokku` command: which of the costs it incurs."""
    words = list(argv)
    if words[:1] == ["dokku"]:
        words = words[1:]
    name = ""
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word == "--app":
            skip = True
        elif not word.startswith("--"):
            name = word
            break
    if (name in DEPLOYING or (name in REBUILDING and "--skip-deploy" not in words)
            or (name in RELEASING and not {"--no-restart", "--global"} & set(words))):
        count("deploys")
    elif name == "postgres:create":
        count("databases")
    elif name == "migrations:history":
        count("history")


def take() -> Dict[str, int]:
    """This test's counts, and a fresh start for the next one."""
    taken = {kind: spent[kind] for kind in KINDS}
    spent.clear()
    return taken
