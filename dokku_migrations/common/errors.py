"""One exception type for everything the user must read; `__main__` turns it into one Dokku-style line."""


class UserError(Exception):
    """A failure explained in words for the person at `git push`; never shown as a traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class Interrupted(UserError):
    """SIGINT/SIGTERM arrived; raised in the main thread so every `finally` cleans up."""

    def __init__(self, signame: str) -> None:
        super().__init__(f"Interrupted by {signame}: the migration container was removed", 130)
        self.signame = signame
