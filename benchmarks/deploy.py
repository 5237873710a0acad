"""Local deploy and rollback times for the sample app's two services, and their report rows.

A scratch copy of examples/meta-ad-studio on free ports, driven through the CLI as a user
would: each repetition builds and pushes a new version (not timed), then times
`invoke deploy --version V` (new revisions: docker run, health and version checks, the nginx
switch, old revisions stopped) and `invoke rollback` (kept revisions restarted, switch back).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from .basics import ROOT, fmt, median

SAMPLE = ROOT / "examples" / "meta-ad-studio"
IDENTITY = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@shipyard.invalid",
            "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@shipyard.invalid"}
SECRETS = "DATABASE_URL=postgres://bench@127.0.0.1/x\nRUNWAYML_API_KEY=bench-key\n" \
          "REDIS_URL=redis://127.0.0.1:6379/0\n"
ROLLBACK_BAR = 3.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DeployBench:
    def __init__(self, base: Path, pythonpath: str = "") -> None:
        self.app = base / "deploy-app"
        self.remote = base / "deploy-remote.git"
        self.env = {**os.environ, **IDENTITY, "NO_COLOR": "1"}
        if pythonpath:
            self.env["PYTHONPATH"] = pythonpath
        self.release = 0

    def sh(self, *argv: str) -> str:
        done = subprocess.run(argv, cwd=self.app, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def invoke(self, *args: str) -> float:
        started = time.monotonic()
        self.sh(sys.executable, "-m", "invoke", *args)
        return time.monotonic() - started

    def create(self) -> None:
        shutil.copytree(SAMPLE, self.app, ignore=shutil.ignore_patterns(".shipyard"))
        config = self.app / "shipyard.toml"
        text = config.read_text()
        ports = tomllib.loads(text)["environments"]["local"]["proxy_ports"]
        text = text.replace("registry_port = 5000", f"registry_port = {free_port()}")
        for service, port in ports.items():
            text = text.replace(f"{service} = {port}", f"{service} = {free_port()}")
        config.write_text(text)
        secrets = self.app / ".shipyard" / "secrets" / "local.env"
        secrets.parent.mkdir(parents=True)
        secrets.write_text(SECRETS)
        secrets.chmod(0o600)
        subprocess.run(("git", "init", "-q", "--bare", "-b", "main", str(self.remote)),
                       check=True)
        for argv in (("git", "init", "-q", "-b", "main"), ("git", "add", "-A"),
                     ("git", "commit", "-q", "-m", "bench"),
                     ("git", "remote", "add", "origin", str(self.remote)),
                     ("git", "push", "-q", "origin", "main")):
            self.sh(*argv)
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
        if (self.app / "shipyard.toml").exists():
            subprocess.run((sys.executable, "-m", "invoke", "local-down"), cwd=self.app,
                           env=self.env, capture_output=True, check=False)


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
