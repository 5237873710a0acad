"""Local deploy and rollback times for the sample app's two services, and their report rows.

A scratch copy of examples/meta-ad-studio on free ports, driven through the CLI as a user
would: each repetition builds and pushes a new version (not timed), then times
`invoke deploy --version V` (new revisions: docker run, health and version checks, the nginx
switch, the replaced revisions paused) and `invoke rollback` (the paused revisions resumed,
switch back, the replaced ones paused).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import cli
from tests.support.apps import sample_copy, write_secrets
from tests.support.images import remove_tags

from .basics import fmt, invoke_ok, log, median, shipyard_first

SECRETS = {"DATABASE_URL": "postgres://bench@127.0.0.1/x", "RUNWAYML_API_KEY": "bench-key",
           "REDIS_URL": "redis://127.0.0.1:6379/0"}
ROLLBACK_BAR = 3.0
NOOP_BAR = 3.0  # × `invoke --list` (issue 14)
ROLLBACK_LIST_BAR = 4.0  # × `invoke --list` (issue 14)


@dataclass
class DeployTimes:
    """Seconds per repetition, each list in the order the runs happened."""

    deploys: list[float] = field(default_factory=list)
    rollbacks: list[float] = field(default_factory=list)
    noops: list[float] = field(default_factory=list)  # a release of what already serves
    lists: list[float] = field(default_factory=list)  # `invoke --list`, before each of those
    problems: list[str] = field(default_factory=list)


class DeployBench:
    def __init__(self, base: Path, pythonpath: str = "") -> None:
        self.app = base / "deploy-app"
        self.remote = base / "deploy-remote.git"
        self.env = shipyard_first(pythonpath)
        self.release = 0
        self.registry_port = 0
        self.project = ""

    def invoke(self, *args: str) -> float:
        return self.timed(*args)[0]

    def timed(self, *args: str) -> tuple[float, cli.Ran]:
        started = time.monotonic()
        done = invoke_ok(self.app, args, self.env)
        return time.monotonic() - started, done

    def create(self) -> None:
        config = sample_copy(self.app, self.remote)
        self.project = config["project"]["name"]
        self.registry_port = config["environments"]["local"]["registry_port"]
        write_secrets(self.app / ".shipyard" / "secrets" / "local.env", SECRETS)
        self.next_release()  # something serving, so the first timed deploy replaces it

    def next_release(self) -> str:
        self.release += 1
        version = f"v1.{self.release}.0"
        self.invoke("build", "--version", version)
        self.invoke("push", "--version", version)
        return version

    def repetition(self, times: DeployTimes) -> None:
        """One new version: its deploy, a no-op release of it and a rollback, each next to an
        `invoke --list` run just before it."""
        if self.release == 1:
            self.invoke("deploy", "--version", "v1.1.0")
        version = self.next_release()
        times.deploys.append(self.invoke("deploy", "--version", version))
        self.invoke("release", "--version", version)  # not timed: tags it, scans it once
        times.lists.append(self.invoke("--list"))
        seconds, done = self.timed("release", "--version", version)
        times.noops.append(seconds)
        if "nothing to do" not in done.err:
            times.problems.append(f"release --version {version} again did not say "
                                  f"'nothing to do':\n{done.err[-600:]}")
        times.lists.append(self.invoke("--list"))
        times.rollbacks.append(self.invoke("rollback"))
    def close(self) -> None:
        if not self.project:  # create() did not get as far as a pushed copy
            return
        cli.invoke(self.app, "local-down", env=self.env, timeout=None)
        # Its images are named after this run's registry port; the same images may be tagged
        # by others too (the sample builds the same everywhere): only the names go.
        left = remove_tags(f"reference=127.0.0.1:{self.registry_port}/{self.project}/*")
        if left:
            log(f"warning: {len(left)} image name(s) of the deploy app could not be removed")


def ratio_row(label: str, tops: list[float], bottoms: list[float]) -> str:
    """Median ÷ median, and the range of the per-repetition ratios (each run next to its own
    `invoke --list`)."""
    pairs = [t / b for t, b in zip(tops, bottoms, strict=False)]
    return (f"| {label} | {fmt(median(tops))} ({fmt(min(tops))}–{fmt(max(tops))}) | "
            f"{fmt(median(bottoms))} | {median(tops) / median(bottoms):.2f} × "
            f"({min(pairs):.2f}–{max(pairs):.2f}) |")


def deploy_rows(base: Path, pythonpath: str, repeats: int) -> tuple[list[str], bool]:
    """Local deploy, no-op release and rollback of the sample app's two services; the rows
    and whether their bars pass."""
    bench = DeployBench(base, pythonpath)
    times = DeployTimes()
    try:
        bench.create()
        for _ in range(repeats):
            bench.repetition(times)
    finally:
        bench.close()
    noop_lists, rollback_lists = times.lists[0::2], times.lists[1::2]
    noop_x = median(times.noops) / median(noop_lists)
    rollback_x = median(times.rollbacks) / median(rollback_lists)
    rollback_ok = median(times.rollbacks) <= ROLLBACK_BAR
    bars = [(rollback_ok, f"rollback ≤ {ROLLBACK_BAR:g} s: median {fmt(median(times.rollbacks))} "
                          f"s (max {fmt(max(times.rollbacks))} s)"),
            (noop_x <= NOOP_BAR and not times.problems,
             f"no-op release ≤ {NOOP_BAR:g} × `invoke --list`: {noop_x:.2f} ×"
             + ("" if not times.problems else " but: " + "; ".join(times.problems))),
            (rollback_x <= ROLLBACK_LIST_BAR,
             f"local rollback ≤ {ROLLBACK_LIST_BAR:g} × `invoke --list`: {rollback_x:.2f} ×")]
    rows = [
        "Two services (the sample app), each run a whole `invoke` command as a user types it; "
        f"{repeats} repetitions, each with a new version built and pushed first (not timed), "
        "then: its deploy; a release of it (not timed: it tags the version and scans it); "
        "`invoke --list`; the same release again (the no-op: everything is done already); "
        "`invoke --list`; `invoke rollback`.",
        "",
        "| run | median s | min s | max s |",
        "|---|---:|---:|---:|",
        *(f"| {label} | {fmt(median(v))} | {fmt(min(v))} | {fmt(max(v))} |" for label, v in (
            ("`invoke deploy --version V` (new revisions)", times.deploys),
            ("`invoke release --version V` again (no-op: nothing to do)", times.noops),
            ("`invoke rollback` (the paused standby resumed)", times.rollbacks),
            ("`invoke --list`", times.lists))),
        "",
        "| run ÷ `invoke --list` | run median s (range) | `--list` median s | ratio of medians "
        "(per-repetition range) |",
        "|---|---:|---:|---:|",
        ratio_row("no-op release", times.noops, noop_lists),
        ratio_row("local rollback", times.rollbacks, rollback_lists),
        "",
        *(f"- **{'PASS' if ok else 'FAIL'}** {text}" for ok, text in bars),
    ]
    return rows, all(ok for ok, _ in bars) and not times.problems
