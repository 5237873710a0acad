"""Machine-wide CPU use, read from /proc/stat, to see how busy the machine was."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class CpuMeter:
    """Machine-wide CPU use over a block (from /proc/stat): how many cores were busy on average,
    our work and everybody else's (the docker engine and other processes on this machine)."""

    cores: float = float("nan")

    @staticmethod
    def snapshot() -> tuple[int, int]:
        # user nice system idle iowait irq softirq steal (guest time is already in user)
        line = Path("/proc/stat").read_text().split("\n", 1)[0]
        fields = [int(x) for x in line.split()[1:9]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields) - idle, sum(fields)


@contextmanager
def cpu_meter() -> Iterator[CpuMeter]:
    meter = CpuMeter()
    busy0, total0 = CpuMeter.snapshot()
    try:
        yield meter
    finally:
        busy1, total1 = CpuMeter.snapshot()
        if total1 > total0:
            meter.cores = (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1)


def background_cores(seconds: float = 1.5) -> float:
    """Cores busy while the bench itself does nothing."""
    with cpu_meter() as meter:
        time.sleep(seconds)
    return meter.cores
