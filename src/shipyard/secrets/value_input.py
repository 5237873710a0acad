"""Where `secrets-set` gets a value: stdin, or a hidden prompt when stdin is a terminal.

Never argv: every user of the machine can read a process's command line in /proc. One line
ending at the end of piped input is dropped, so `echo "$VALUE" |` and `printf %s "$VALUE" |`
store the same value.
"""

from __future__ import annotations

import getpass
import sys
from typing import TextIO

from shipyard.errors import UsageError
from shipyard.exec.redaction import MIN_SECRET_LENGTH


def without_final_newline(text: str) -> str:
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def checked(value: str, name: str) -> str:
    """The value, or UsageError (exit 2) saying why it cannot be a secret (never showing it)."""
    if not value:
        raise UsageError(f"no value for {name}: the input was empty",
                         hint=f'pipe it in: printf %s "$VALUE" | invoke secrets-set {name} '
                              "--env ENV (or run it on a terminal for a hidden prompt)")
    if len(value) < MIN_SECRET_LENGTH:
        raise UsageError(f"the value for {name} is too short to be masked in output",
                         hint=f"a secret needs at least {MIN_SECRET_LENGTH} characters")
    return value


def read_value(name: str, stdin: TextIO | None = None) -> str:
    """The value for NAME from stdin (piped) or a hidden prompt (a terminal)."""
    stream = sys.stdin if stdin is None else stdin
    if stream is None or stream.closed:
        raise UsageError(f"no value for {name}: stdin is closed",
                         hint=f'pipe it in: printf %s "$VALUE" | invoke secrets-set {name} ...')
    if stream.isatty():
        return checked(getpass.getpass(f"value for {name} (not shown): "), name)
    return checked(without_final_newline(stream.read()), name)
