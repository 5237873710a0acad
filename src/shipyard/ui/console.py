"""Where shipyard talks to people: stderr for progress, notes and errors; stdout for results."""

from __future__ import annotations

import sys

from rich.console import Console

# Off a terminal (CI logs, pipes) rich would assume 80 columns and cut image names short.
# No emoji codes: ":name:" in a message stays as typed (and rich skips loading its table).
_WIDE = 200
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False,
              width=None if sys.stderr.isatty() else _WIDE)
out = Console(highlight=False, soft_wrap=True, emoji=False,
              width=None if sys.stdout.isatty() else _WIDE)


def note(message: str) -> None:
    err.print(message, markup=False)


def step(argv_text: str) -> None:
    err.print(f"→ {argv_text}", style="dim", markup=False)


def error(message: str, hint: str | None = None, detail: str = "") -> None:
    err.print(f"error: {message}", style="bold red", markup=False)
    if detail:
        for line in detail.splitlines():
            err.print(f"  | {line}", style="red", markup=False)
    if hint:
        err.print(f"hint: {hint}", style="yellow", markup=False)
