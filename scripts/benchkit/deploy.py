"""Rows for the deploy and rollback section, measured by scripts/bench_deploy.py."""

from __future__ import annotations

import sys
from pathlib import Path

from .basics import ROOT, fmt, median


def deploy_rows(base: Path, pythonpath: str, repeats: int) -> list[str]:
    """Local deploy and rollback of the sample app's two services (scripts/bench_deploy.py)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_deploy import ROLLBACK_BAR, DeployBench

    bench = DeployBench(base, pythonpath)
    deploys: list[float] = []
    rollbacks: list[float] = []
    try:
        bench.create()
        for _ in range(repeats):
            deploy, rollback = bench.repetition()
            deploys.append(deploy)
            rollbacks.append(rollback)
    finally:
        bench.close()
    verdict = "PASS" if median(rollbacks) <= ROLLBACK_BAR else "FAIL"
    return [
        "Two services (the sample app), each run a whole `invoke` command as a user types it; "
        f"{repeats} repetitions, each with a new version built and pushed first (not timed).",
        "",
        "| run | median s | min s | max s |",
        "|---|---:|---:|---:|",
        f"| `invoke deploy --version V` (new revisions) | {fmt(median(deploys))} | "
        f"{fmt(min(deploys))} | {fmt(max(deploys))} |",
        f"| `invoke rollback` (kept revisions restarted) | {fmt(median(rollbacks))} | "
        f"{fmt(min(rollbacks))} | {fmt(max(rollbacks))} |",
        "",
        f"- **{verdict}** rollback ≤ {ROLLBACK_BAR:g} s: median {fmt(median(rollbacks))} s "
        f"(max {fmt(max(rollbacks))} s)",
    ]
