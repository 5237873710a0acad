"""A two-service app (api, web) and a RunContext whose costly parts are the fakes.

`Fakes.context()` seeds the fakes into the context's cached properties (target, secrets,
registry, docker), so no real docker, registry or target is ever touched. Git is scripted
(fixed provenance) unless the app is a real tmp repo (`real_git`): then git really runs there.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shipyard import config as config_mod
from shipyard.config import Config, Environment
from shipyard.exec.tools import DockerClient
from shipyard.pipeline.context import RunContext
from shipyard.version import Version
from tests.unit.fakes import (
    FakeEngine,
    FakeRegistry,
    FakeRunner,
    FakeSecrets,
    FakeTarget,
    FakeTrivy,
    Reply,
)

REGISTRY = "127.0.0.1:5999/demo"
SHA = "0123456789abcdef0123456789abcdef01234567"
COMMIT_TIME = 1700000000  # 2023-11-14T22:13:20Z
SOURCE = "https://git.example.test/demo.git"
SECRET_VALUE = "tok-Sup3r-s3cret-value"  # must never appear in a plan, record or argv

CONFIG = f"""\
[project]
name = "demo"

[services.api]
context = "api"
port = 8080
build_args = {{ FLAVOR = "slim" }}
secrets = ["API_TOKEN"]

[services.web]
context = "web"
port = 8081

[environments.local]
target = "local"
registry_port = {REGISTRY.split(":")[1].split("/")[0]}
proxy_ports = {{ api = 18081, web = 18082 }}
"""

FILES = {
    "shipyard.toml": CONFIG,
    "api/Dockerfile": "FROM scratch\nARG VERSION\nARG FLAVOR\nCOPY app.txt /app.txt\n",
    "api/app.txt": "api\n",
    "web/Dockerfile": "FROM scratch\nCOPY index.html /index.html\n",
    "web/index.html": "<h1>web</h1>\n",
}


def write_app(root: Path) -> None:
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def fake_trivy_binary(folder: Path) -> Path:
    """An executable find_trivy() accepts; the FakeRunner answers for it, it never runs."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "trivy"
    path.write_text("#!/bin/sh\necho 'the fake trivy must never run' >&2\nexit 99\n")
    path.chmod(0o755)
    return path


@dataclass
class Fakes:
    config: Config
    env: Environment
    runner: FakeRunner
    registry: FakeRegistry
    engine: FakeEngine
    trivy: FakeTrivy
    target: FakeTarget
    secrets: FakeSecrets
    docker: DockerClient = field(default_factory=lambda: DockerClient("docker", "27.3.1", True))

    @property
    def root(self) -> Path:
        return self.config.root

    def context(self, version: str = "v1.0.0", services: tuple[str, ...] = (),
                jobs: int = 1) -> RunContext:
        """A fresh run (its own record) over the same fakes: a rerun sees what the last left."""
        ctx = RunContext(self.config, self.env, self.runner, Version.parse(version),
                         self.config.select(services), jobs)
        ctx.__dict__.update(target=self.target, secrets=self.secrets, registry=self.registry,
                            docker=self.docker)
        return ctx

    def ref(self, service: str, version: str = "v1.0.0") -> str:
        return f"{REGISTRY}/{service}:{version}"


def make_fakes(root: Path, monkeypatch: pytest.MonkeyPatch, *, real_git: bool = False
               ) -> Fakes:
    """The app's config parsed from `root`; with `real_git`, root is a repo that holds it."""
    if not real_git:
        write_app(root)
    root = root.resolve()
    monkeypatch.setenv("SHIPYARD_TRIVY", str(fake_trivy_binary(root.parent / "fake-bin")))
    config = config_mod.parse(tomllib.loads((root / "shipyard.toml").read_text()), root)
    env = config.environment("local")
    runner = FakeRunner(real=("git",) if real_git else ())
    registry = FakeRegistry(env.registry)
    engine = FakeEngine(registry)
    engine.install(runner)
    trivy = FakeTrivy(engine)
    trivy.install(runner)
    if not real_git:
        runner.on(("git", "log", "-1"), Reply(stdout=f"{SHA} {COMMIT_TIME}\n"))
        runner.on(("git", "remote", "get-url"), Reply(stdout=SOURCE + "\n"))
        runner.on(("git", "ls-files", "--others"))  # every file in the contexts is tracked
    secrets = FakeSecrets({"api": ["API_TOKEN"], "web": []}, {"API_TOKEN": SECRET_VALUE}, "7")
    return Fakes(config, env, runner, registry, engine, trivy, FakeTarget(registry, runner),
                 secrets)


def files_under(root: Path) -> dict[str, tuple[int, int]]:
    """Every file below root except .git: path → (size, mtime_ns)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            path = Path(folder) / name
            info = path.lstat()
            found[str(path.relative_to(root))] = (info.st_size, info.st_mtime_ns)
    return found
