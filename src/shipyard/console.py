"""Where shipyard talks to people: stderr for progress, notes and errors; stdout for results."""

from __future__ import annotations

from rich.console import Console

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


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
