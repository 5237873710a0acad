"""Local deploy and rollback times for the sample app's two services, and their report rows.

A scratch copy of examples/meta-ad-studio on free ports, driven through the CLI as a user
would: each repetition builds and pushes a new version (not timed), then times
`invoke deploy --version V` (new revisions: docker run, health and version checks, the nginx
switch, old revisions stopped) and `invoke rollback` (kept revisions restarted, switch back).
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.support import cli
from tests.support.apps import sample_copy, write_secrets
from tests.support.images import remove_tags

from .basics import fmt, invoke_ok, log, median, shipyard_first

SECRETS = {"DATABASE_URL": "postgres://bench@127.0.0.1/x", "RUNWAYML_API_KEY": "bench-key",
           "REDIS_URL": "redis://127.0.0.1:6379/0"}
ROLLBACK_BAR = 3.0


class DeployBench:
    def __init__(self, base: Path, pythonpath: str = "") -> None:
        self.app = base / "deploy-app"
        self.remote = base / "deploy-remote.git"
        self.env = shipyard_first(pythonpath)
        self.release = 0
        self.registry_port = 0
        self.project = ""

    def invoke(self, *args: str) -> float:
        started = time.monotonic()
        invoke_ok(self.app, args, self.env)
        return time.monotonic() - started

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

    def repetition(self) -> tuple[float, float]:
        """(deploy seconds, rollback seconds) for one new version."""
        if self.release == 1:
            self.invoke("deploy", "--version", "v1.1.0")
        version = self.next_release()
        deploy = self.invoke("deploy", "--version", version)
        rollback = self.invoke("rollback")
        return deploy, rollback

    def close(self) -> None:
        if not self.project:  # create() did not get as far as a pushed copy
            return
        cli.invoke(self.app, "local-down", env=self.env, timeout=None)
        # Its images are named after this run's registry port; the same images may be tagged
        # by others too (the sample builds the same everywhere): only the names go.
        left = remove_tags(f"reference=127.0.0.1:{self.registry_port}/{self.project}/*")
        if left:
            log(f"warning: {len(left)} image name(s) of the deploy app could not be removed")


def deploy_rows(base: Path, pythonpath: str, repeats: int) -> list[str]:
    """Local deploy and rollback of the sample app's two services."""
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
