"""How a run ended, in words: the one place for the messages a person at `git push` reads.

Pure: `migrate` (deploys and `migrations:run`) and `tryout` (`try`) both judge a container's
result here, so the same failure reads the same everywhere.
"""

from dataclasses import dataclass

from dokku_migrations.gate import history as records
from dokku_migrations.run.runner import Result

EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Outcome:
    status: str
    message: str = ""  # empty: succeeded
    exit_code: int = 1


def stopped(result: Result, grace: int) -> str:
    """How the container was stopped, for the message: the signal, or SIGKILL after the grace period."""
    if result.stopped_with == "SIGKILL":
        return f"killed with SIGKILL after the {grace}s grace period" if grace else "killed with SIGKILL"
    if result.stopped_with:
        return f"stopped with {result.stopped_with}" + (
            f" (it exited with {result.exit_code})" if result.exit_code is not None else "")
    return "stopped"


def judge(result: Result, command: str, timeout: int, grace: int, logs_hint: str = "",
          longer_hint: str = "", what: str = "Migration command") -> Outcome:
    """`logs_hint` is the command that shows the output again (e.g. `dokku migrations:logs shop 12`);
    `longer_hint` the one that gives the migration more time; `what` names the command that ran."""
    again = f" (again with '{logs_hint}')" if logs_hint else ""
    if result.interrupted:
        return Outcome(records.INTERRUPTED,
                       f"Interrupted by {result.interrupted}: the migration was {stopped(result, grace)} and removed; "
                       f"check what it did in its output{again} before deploying again", EXIT_INTERRUPTED)
    if result.timed_out:
        more = f"; give them longer with '{longer_hint}'" if longer_hint else ""
        return Outcome(records.TIMED_OUT,
                       f"Migrations timed out after {timeout}s and were {stopped(result, grace)}{more}")
    if result.start_error:
        return Outcome(records.FAILED, f"The migration container could not start: {result.start_error}")
    if result.exit_code != 0:
        return Outcome(records.FAILED, f"{what} '{command}' failed with exit code {result.exit_code}: "
                                       f"see the output above{again}")
    return Outcome(records.SUCCEEDED)
