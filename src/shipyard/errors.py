"""The few error types shipyard raises, and the exit codes they map to.

Exit codes: 0 success, 1 a step failed, 2 bad input or config (nothing was changed).
"""

from __future__ import annotations

from collections.abc import Sequence

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class ShipyardError(Exception):
    """An expected failure: printed as `error: ...` / `hint: ...`, never as a traceback."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(ShipyardError):
    """Bad input (a flag, a version, a name): refused before anything runs."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """shipyard.toml is missing or invalid; the message names the file and the key."""


class CommandError(ShipyardError):
    """An external command failed; carries what the user needs to see, already redacted."""

    def __init__(
        self,
        message: str,
        *,
        argv: Sequence[str],
        returncode: int | None,
        stderr_tail: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
