"""A scan of N images, cold (`--rescan`) and reused (the remembered verdicts), side by side."""

from __future__ import annotations

from dataclasses import dataclass, field

from .app import App
from .basics import fmt, median

SCAN_REUSE_NOTE = "reusing the scan of"


@dataclass
class ScanTimes:
    n: int
    version: str
    cold: list[float] = field(default_factory=list)
    reused: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def scan_times(app: App, version: str, repeats: int) -> ScanTimes:
    """`invoke scan --version V --rescan` then `invoke scan --version V`, per repetition, in
    an app whose images of V are built; checks each run did what it says."""
    times = ScanTimes(app.n, version)
    app.invoke("scan", "--version", version)  # not timed: the first scan of these images
    for _ in range(repeats):
        cold = app.invoke("scan", "--version", version, "--rescan")
        times.cold.append(cold.seconds)
        if SCAN_REUSE_NOTE in cold.err:
            times.problems.append("a --rescan run reused a remembered scan")
        reused = app.invoke("scan", "--version", version)
        times.reused.append(reused.seconds)
        missing = [s for s in app.services if f"[scan] {s}: {SCAN_REUSE_NOTE}" not in reused.err]
        if missing:
            times.problems.append(f"the reused run scanned {', '.join(missing)} again")
    return times


def scan_rows(times: ScanTimes) -> list[str]:
    ratio = median(times.cold) / median(times.reused)
    pairs = [c / r for c, r in zip(times.cold, times.reused, strict=False)]
    rows = [
        f"N={times.n} images of {times.version} (the build bench's workload), each run a whole "
        "`invoke scan`; per repetition a cold run (`--rescan`) then a reused one:",
        "",
        "| run | median s | min s | max s |",
        "|---|---:|---:|---:|",
        f"| `invoke scan --version V --rescan` (cold) | {fmt(median(times.cold))} | "
        f"{fmt(min(times.cold))} | {fmt(max(times.cold))} |",
        f"| `invoke scan --version V` (verdicts reused) | {fmt(median(times.reused))} | "
        f"{fmt(min(times.reused))} | {fmt(max(times.reused))} |",
        "",
        f"- cold ÷ reused at N={times.n}: {ratio:.2f} × (per-repetition range "
        f"{min(pairs):.2f}–{max(pairs):.2f})",
    ]
    if times.problems:
        rows.append("- **FAIL** the runs did not do what they say: " + "; ".join(times.problems))
    return rows
