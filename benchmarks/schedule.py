"""The schedule: warm-up, then repetitions of every variant, interleaved, each on a quiet
machine when one can be had."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .app import App
from .basics import log, median
from .cpu import background_cores
from .variants import Sample, Template, cold, raw, warm

REPEATS = 5  # at most; at least MIN_REPEATS, more while the time budget allows
MIN_REPEATS = 3
BUDGET_MINUTES = 7.0  # for the measurements; nox's set-up and the warm-up come on top
QUIET_CORES = 0.5  # before each measurement, wait for other work to use less than this...
QUIET_WINDOW = 0.5  # ...over a window of this many seconds...
QUIET_WAIT = 3.0  # ...but no longer than this...
QUIET_BUDGET = 30.0  # ...and no longer than this in all
STARTUP_SAMPLES = 2  # `invoke --list` timings per repetition


@dataclass
class Results:
    samples: list[Sample] = field(default_factory=list)
    startups: list[float] = field(default_factory=list)  # `python -m invoke --list`, per rep
    # `python -m invoke --version`: the interpreter and Invoke's own imports, no shipyard code
    invoke_alone: list[float] = field(default_factory=list)
    background: list[float] = field(default_factory=list)  # cores busy while the bench idles
    waited: float = 0.0  # seconds spent waiting for a quiet machine
    repeats: int = 0
    deploy_rows: list[str] = field(default_factory=list)  # local deploy and rollback
    scan_rows: list[str] = field(default_factory=list)  # N images, cold and reused
    cloud_rows: list[str] = field(default_factory=list)  # Cloud Run and GKE stand-ins
    other_bars: list[bool] = field(default_factory=list)  # the bars of those sections

    @property
    def startup(self) -> float:
        return median(self.startups)

    @property
    def invoke_start(self) -> float:
        return median(self.invoke_alone)

    def of(self, variant: str, n: int) -> list[Sample]:
        return [s for s in self.samples if s.variant == variant and s.n == n]

    def seconds(self, variant: str, n: int) -> list[float]:
        return [s.seconds for s in self.of(variant, n)]


def settle(results: Results) -> float:
    """Wait (a little) for the machine to go quiet before a measurement; returns the cores
    other work kept busy in the last window. Other people's builds and tests share this
    machine: waiting for a lull costs less than repetitions drowned in their noise."""
    deadline = time.monotonic() + min(QUIET_WAIT, max(0.0, QUIET_BUDGET - results.waited))
    started = time.monotonic()
    busy = background_cores(QUIET_WINDOW)
    while busy > QUIET_CORES and time.monotonic() < deadline:
        busy = background_cores(QUIET_WINDOW)
    results.waited += time.monotonic() - started
    results.background.append(busy)
    return busy


def measure(apps: list[App], repeats: int, budget: float, build_env: dict[str, str]
            ) -> Results:
    results = Results()
    started = time.monotonic()
    templates: dict[int, Template] = {}
    for app in apps:
        # Unmeasured: first pushes of the base layer, .pyc files, the page cache; the second
        # run has an older release to pass as --cache-from, like every measured run.
        log(f"N={app.n}: warm-up, two cold builds + pushes")
        cold(app, 1)
        templates[app.n] = Template.from_cold(cold(app, None), app.n)

    def keep(sample: Sample) -> Sample:
        sample.rep = rep
        results.samples.append(sample)
        flag = f"  PROBLEM: {'; '.join(sample.problems)}" if sample.problems else ""
        log(f"  N={sample.n} {sample.variant}: {sample.seconds:.2f}s "
            f"({sample.cores:.2f} cores busy){flag}")
        return sample

    def run_j1(app: App) -> None:
        sample = keep(cold(app, 1))
        templates[app.n] = Template.from_cold(sample, app.n)

    def run_default_then_warm(app: App) -> None:
        sample = keep(cold(app, None))
        templates[app.n] = Template.from_cold(sample, app.n)
        keep(warm(app, sample.version))

    def run_raw(app: App) -> None:
        keep(raw(app, templates[app.n], build_env))

    def run_one_process(app: App) -> None:
        keep(cold(app, 1, one_process=True))

    units: list[Callable[[App], None]] = [run_j1, run_default_then_warm, run_raw,
                                          run_one_process]
    rep = 0
    while rep < repeats:
        rep_started = time.monotonic()
        log(f"repetition {rep + 1}/{repeats}")
        for index, app in enumerate(apps):
            shift = (rep + index) % len(units)  # interleaved: each variant takes each slot
            for unit in units[shift:] + units[:shift]:
                settle(results)
                unit(app)
        # Fixed costs outside any command, timed alone once per repetition.
        results.startups += [apps[0].invoke("--list").seconds for _ in range(STARTUP_SAMPLES)]
        results.invoke_alone += [apps[0].invoke("--version").seconds
                                 for _ in range(STARTUP_SAMPLES)]
        rep += 1
        results.repeats = rep
        took = time.monotonic() - rep_started
        if rep >= MIN_REPEATS and rep < repeats and time.monotonic() - started + took > budget:
            log(f"stopping after {rep} repetitions: another would pass the "
                f"{budget / 60:g} min budget")
            break
    return results
