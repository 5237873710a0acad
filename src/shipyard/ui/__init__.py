"""Live per-service progress and summary tables (rich), plain lines when not on a terminal."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.table import Table

from shipyard.ui import console

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

MAX_STATUS = 70


class ServiceProgress:
    """One line per service: spinner, name, elapsed time, the latest thing it said."""

    def __init__(self, stage: str, services: Sequence[str]) -> None:
        self.stage = stage
        self.live = console.err.is_terminal
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        if self.live:  # imported only for a terminal: off one, plain lines need none of it
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(), TextColumn("[bold]{task.fields[service]}"), TimeElapsedColumn(),
                TextColumn("{task.description}"), console=console.err, transient=False,
            )
        self._tasks: dict[str, TaskID] = {}
        self._names = list(services)

    def __enter__(self) -> ServiceProgress:
        if self._progress is not None:
            self._progress.start()
            for name in self._names:
                self._tasks[name] = self._progress.add_task("waiting", service=name, total=1)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, service: str, text: str) -> None:
        text = text.strip()
        if not text:
            return
        if self._progress is not None:
            self._progress.update(self._tasks[service], description=text[:MAX_STATUS])

    def say(self, service: str, text: str) -> None:
        """A status change: shown live, and as a plain line off-terminal."""
        if self.live:
            self.update(service, text)
        else:
            with self._lock:
                console.note(f"[{self.stage}] {service}: {text}")

    def done(self, service: str, text: str) -> None:
        if self._progress is not None:
            self._progress.update(self._tasks[service], description=text, completed=1)
        else:
            self.say(service, text)


@contextmanager
def progress(stage: str, services: Sequence[str]) -> Iterator[ServiceProgress]:
    with ServiceProgress(stage, services) as tracker:
        yield tracker


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    grid = Table(title=title, title_justify="left")
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*row)
    console.out.print(grid)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"  # pragma: no cover
