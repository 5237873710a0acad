"""The timing tables and the bars (PASS or FAIL) of the report."""

from __future__ import annotations

import os
from collections.abc import Sequence

from .basics import fmt, median
from .schedule import QUIET_CORES, Results
from .variants import COLD_DEFAULT, COLD_J1, ONE_PROCESS, RAW, VARIANTS, WARM

# The bars: each reported as PASS or FAIL with the numbers behind it.
BAR_N = 4
PARALLEL_MAX_RATIO = 0.75
WARM_MAX_SECONDS = 2.0
OVERHEAD_MAX = {4: 0.03, 1: 0.10}  # N → the most shipyard may add over raw docker (issue 14)


def result_rows(results: Results, sizes: Sequence[int]) -> list[str]:
    rows = ["| N | run | median s | min s | max s | per service | build / push s | "
            "cores busy | runs |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        for variant in VARIANTS:
            samples = results.of(variant, n)
            if not samples:
                continue
            values = [s.seconds for s in samples]
            label = variant
            jobs = {s.jobs for s in samples if s.jobs}
            if variant == COLD_DEFAULT and jobs:
                label = f"{variant} ({'/'.join(map(str, sorted(jobs)))})"
            split = "(not apart)" if variant == ONE_PROCESS else (
                f"{fmt(median([s.build_seconds for s in samples]))} / "
                f"{fmt(median([s.push_seconds for s in samples]))}")
            rows.append(f"| {n} | {label} | {fmt(median(values))} | {fmt(min(values))} | "
                        f"{fmt(max(values))} | {fmt(median(values) / n)} | {split} | "
                        f"{median([s.cores for s in samples]):.2f} | {len(values)} |")
    return rows


def ratio(results: Results, top: str, bottom: str, n: int) -> float:
    return median(results.seconds(top, n)) / median(results.seconds(bottom, n))


def paired(results: Results, top: str, bottom: str, n: int) -> list[float]:
    """Per-repetition ratios (the variants of one repetition ran back to back)."""
    bottoms = {s.rep: s.seconds for s in results.of(bottom, n)}
    return [s.seconds / bottoms[s.rep] for s in results.of(top, n) if s.rep in bottoms]


def derived_rows(results: Results, sizes: Sequence[int]) -> list[str]:
    rows = ["| N | default ÷ --jobs 1 (per-rep range) | shipyard overhead = --jobs 1 ÷ raw − 1 "
            "(per-rep range) | warm re-run median (max) |",
            "|---|---|---|---|"]
    for n in sizes:
        par = paired(results, COLD_DEFAULT, COLD_J1, n)
        over = [r - 1 for r in paired(results, COLD_J1, RAW, n)]
        warm_s = results.seconds(WARM, n)
        rows.append(
            f"| {n} | {ratio(results, COLD_DEFAULT, COLD_J1, n):.2f} "
            f"({min(par):.2f}–{max(par):.2f}) | "
            f"{ratio(results, COLD_J1, RAW, n) - 1:+.1%} ({min(over):+.1%}–{max(over):+.1%}) | "
            f"{fmt(median(warm_s))} s ({fmt(max(warm_s))} s) |")
    return rows


def bars(results: Results, sizes: Sequence[int]) -> tuple[list[str], bool]:
    n = BAR_N if BAR_N in sizes else max(sizes)
    lines: list[str] = []
    ok = True

    def bar(passed: bool, text: str) -> None:
        nonlocal ok
        ok = ok and passed
        lines.append(f"- **{'PASS' if passed else 'FAIL'}** {text}")

    j1, dflt = median(results.seconds(COLD_J1, n)), median(results.seconds(COLD_DEFAULT, n))
    jobs = sorted({s.jobs for s in results.of(COLD_DEFAULT, n) if s.jobs})
    busy = median([s.cores for s in results.of(COLD_J1, n)])
    cores = os.cpu_count() or 1
    bar(dflt <= PARALLEL_MAX_RATIO * j1,
        f"default jobs ({'/'.join(map(str, jobs))}) cold at N={n} ≤ {PARALLEL_MAX_RATIO} × "
        f"`--jobs 1`: {fmt(dflt)} s vs {fmt(j1)} s = {dflt / j1:.2f} × (during `--jobs 1` the "
        f"machine already had {busy:.2f} of {cores} cores busy, other work included: little "
        "idle CPU was left for a second job)")
    warm_samples = results.of(WARM, n)
    warm_s = median([s.seconds for s in warm_samples])
    problems = [p for s in warm_samples for p in s.problems]
    bar(warm_s <= WARM_MAX_SECONDS and not problems,
        f"warm re-run at N={n} ≤ {WARM_MAX_SECONDS:g} s and builds nothing: median "
        f"{fmt(warm_s)} s (max {fmt(max(s.seconds for s in warm_samples))} s); "
        + ("every service reused and skipped in every run" if not problems
           else "but: " + "; ".join(problems)))
    for m in sorted(OVERHEAD_MAX, reverse=True):
        if m not in sizes:
            continue
        most, over = OVERHEAD_MAX[m], ratio(results, COLD_J1, RAW, m) - 1
        raw_s = median(results.seconds(RAW, m))
        floor = 2 * results.startup / raw_s  # two interpreter + Invoke starts, nothing else
        invoke_floor = 2 * results.invoke_start / raw_s  # ...and without shipyard's imports
        # The same docker argv swing by more than the bar from run to run on a shared VM; what
        # shipyard adds around them is paired within each run, so it does not swing with them.
        outside = median([s.seconds - s.docker_seconds for s in results.of(COLD_J1, m)]) / raw_s
        per_rep = [r - 1 for r in paired(results, COLD_J1, RAW, m)]
        noisy = max(per_rep) - min(per_rep) > most
        bar(over <= most and outside <= most,
            f"shipyard overhead over the raw commands at N={m} ≤ {most:.0%}: "
            f"{fmt(median(results.seconds(COLD_J1, m)))} s vs {fmt(raw_s)} s = {over:+.1%}; "
            f"its time outside its own docker build + push commands: {outside:+.1%} of the raw "
            f"loop (both must pass; of that, starting two processes, `invoke --list` each: "
            f"{floor:+.1%}; Invoke alone, two `invoke --version` with no shipyard code: "
            f"{invoke_floor:+.1%})"
            + (f"; the wall ratio's per-repetition range ({min(per_rep):+.1%} to "
               f"{max(per_rep):+.1%}) is wider than the bar: the docker commands' own swings"
               if noisy else ""))
    if any(results.of(ONE_PROCESS, m) for m in sizes):
        lines.append("- not the bars' method, for comparison: both tasks in one Invoke process "
                     "(`invoke build --version V --jobs 1 push --version V --jobs 1`) over the "
                     "raw commands: " + ", ".join(
                         f"N={m}: {ratio(results, ONE_PROCESS, RAW, m) - 1:+.1%} (per-rep "
                         f"{min(r - 1 for r in paired(results, ONE_PROCESS, RAW, m)):+.1%}–"
                         f"{max(r - 1 for r in paired(results, ONE_PROCESS, RAW, m)):+.1%})"
                         for m in sizes if results.of(ONE_PROCESS, m)))
    others = [m for m in sizes if m not in OVERHEAD_MAX]
    if others:
        lines.append("- overhead at " + ", ".join(
            f"N={m}: {ratio(results, COLD_J1, RAW, m) - 1:+.1%}" for m in others))
    background = median(results.background)
    if background > QUIET_CORES:
        lines.append(f"- note: other work kept {background:.2f} of {cores} cores busy just before "
                     "the measurements (median): the timing bars measure a shared, busy machine; "
                     "rerun `nox -s bench` on a quiet one before trusting a FAIL or a PASS")
    cold_problems = [p for v in (COLD_J1, COLD_DEFAULT, ONE_PROCESS) for m in sizes
                     for s in results.of(v, m) for p in s.problems]
    if cold_problems:
        bar(False, "cold runs were not all cold: " + "; ".join(cold_problems))
    return lines, ok
