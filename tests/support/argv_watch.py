"""Watch every process's command line while something runs: `/proc/*/cmdline`, sampled in a
background thread, as any user of the machine could read it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ArgvWatch:
    needles: tuple[bytes, ...]
    samples: int = 0  # passes over /proc
    processes: set[int] = field(default_factory=set)  # every pid seen
    hits: list[tuple[int, bytes]] = field(default_factory=list)  # (pid, cmdline) with a needle
    commands: set[bytes] = field(default_factory=set)  # every command line seen

    def sample(self) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:  # gone meanwhile, or not ours to read
                continue
            pid = int(entry.name)
            self.processes.add(pid)
            self.commands.add(cmdline)
            if any(needle in cmdline for needle in self.needles):
                self.hits.append((pid, cmdline))
        self.samples += 1

    def saw(self, text: str) -> bool:
        """Some command line seen held TEXT: proof the sampling ran while it lived."""
        return any(text.encode() in cmdline for cmdline in self.commands)


@contextmanager
def watching_argv(*needles: str) -> Iterator[ArgvWatch]:
    """Sample /proc until the block ends; `watch.hits` lists every command line that held a
    needle (and at least two full passes are made, even for a short block)."""
    watch = ArgvWatch(tuple(n.encode() for n in needles))
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set() or watch.samples < 2:
            watch.sample()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        stop.set()
        thread.join(timeout=30)
