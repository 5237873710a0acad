"""A generated scratch app, and one timed `invoke` in it as a user would run it."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard import config as config_mod
from shipyard.build import images, inputs

from .basics import GIT_IDENTITY, BenchError, free_port, run_text
from .registry import BenchRegistry

BASE_IMAGE = "shipyard/busybox:1"

DOCKERFILE = """\
FROM {base}
# A new nonce per repetition: neither shipyard's input digest nor BuildKit's cache can skip work.
COPY nonce.txt /nonce.txt
ARG VERSION=dev
RUN : {marker} && i=0; while [ "$i" -lt {spin} ]; do i=$((i + 1)); done \\
 && head -c {data} /dev/urandom > /payload.bin \\
 && echo "$VERSION" > /version
CMD ["cat", "/version"]
"""

@dataclass
class Invocation:
    args: tuple[str, ...]
    seconds: float
    out: str
    err: str
    commands: list[tuple[str, float]]  # (argv as shipyard logged it, seconds), every attempt
    hits: list[tuple[str, str, str]]  # registry requests during the invocation
    ran: list[list[str]]  # the argv of each command that exited 0, in order



@dataclass
class App:
    """A generated scratch app with N services, a bare remote and its own release versions."""

    n: int
    base: Path
    project: str
    registry: BenchRegistry
    spin: int
    data_bytes: int
    pythonpath: str = ""  # a snapshot of shipyard's sources, see snapshot_sources
    marker: str = "shipyard-bench"  # in the RUN step, to find this run's build cache
    version_count: int = 0
    raw_count: int = 0

    @property
    def work(self) -> Path:
        return self.base / "app"

    @property
    def services(self) -> list[str]:
        return [f"svc{i}" for i in range(1, self.n + 1)]

    @property
    def command_log(self) -> Path:
        return self.work / ".shipyard" / "logs" / "commands.log"

    def record(self, version: str) -> dict[str, Any]:
        """The release record shipyard keeps for VERSION (.shipyard/releases/VERSION.json)."""
        path = self.work / ".shipyard" / "releases" / f"{version}.json"
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def create(self) -> None:
        remote = self.base / "remote.git"
        self.work.mkdir(parents=True)
        run_text(("git", "init", "-q", "--bare", "-b", "main", str(remote)))
        run_text(("git", "init", "-q", "-b", "main"), self.work)
        dockerfile = DOCKERFILE.format(base=BASE_IMAGE, spin=self.spin, data=self.data_bytes,
                                       marker=self.marker)
        lines = [f'[project]\nname = "{self.project}"\n']
        for name in self.services:
            (self.work / name).mkdir()
            (self.work / name / "Dockerfile").write_text(dockerfile)
            lines.append(f'[services.{name}]\ncontext = "{name}"\nport = 8080\n')
        ports = ", ".join(f"{name} = {free_port()}" for name in self.services)
        lines.append(f'[environments.local]\ntarget = "local"\n'
                     f"registry_port = {self.registry.port}\nproxy_ports = {{ {ports} }}\n")
        (self.work / "shipyard.toml").write_text("\n".join(lines))
        (self.work / "tasks.py").write_text("from shipyard.tasks import ns  # noqa: F401\n")
        (self.work / ".gitignore").write_text(".shipyard/\n")
        self.refresh()
        run_text(("git", "remote", "add", "origin", str(remote)), self.work)
        run_text(("git", "push", "-q", "origin", "main"), self.work)

    def refresh(self) -> None:
        """New contents for every service (a nonce file), committed: the next build is cold."""
        for name in self.services:
            (self.work / name / "nonce.txt").write_text(f"{name} {uuid.uuid4().hex}\n")
        run_text(("git", "add", "-A"), self.work)
        run_text(("git", "commit", "-q", "-m", "bench: new service contents"), self.work)

    def next_version(self) -> str:
        self.version_count += 1
        return f"v1.0.{self.version_count}"

    def next_raw_tag(self) -> str:
        # Not a release version: shipyard's reuse lookup and --cache-from ignore these tags.
        self.raw_count += 1
        return f"raw-{self.raw_count}"

    def invoke(self, *args: str) -> Invocation:
        """`python -m invoke ARGS` in the app, as a user would run it."""
        env = {**os.environ, **GIT_IDENTITY, "NO_COLOR": "1", "COLUMNS": "200"}
        if self.pythonpath:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, (self.pythonpath,
                                                              os.environ.get("PYTHONPATH"))))
        log_mark = self.command_log.stat().st_size if self.command_log.exists() else 0
        reg_mark = self.registry.mark()
        started = time.perf_counter()
        done = subprocess.run((sys.executable, "-m", "invoke", *args), cwd=self.work, env=env,
                              capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise BenchError(f"invoke {shlex.join(args)} failed in {self.work} "
                             f"(exit {done.returncode}):\n{done.stdout[-1500:]}"
                             f"{done.stderr[-1500:]}")
        commands, ran = [], []
        if self.command_log.exists():
            with self.command_log.open("rb") as stream:
                stream.seek(log_mark)
                for line in stream.read().decode().splitlines():
                    entry = json.loads(line)
                    commands.append((str(entry["argv"]), float(entry["seconds"])))
                    if entry["exit"] == 0:
                        ran.append(shlex.split(entry["argv"]))
        return Invocation(args, seconds, done.stdout, done.stderr, commands,
                          self.registry.hits_since(reg_mark), ran)

    def input_digests(self, version: str) -> dict[str, str]:
        """Each service's input digest, computed by shipyard's own code (for the raw images)."""
        config = config_mod.load(self.work)
        return {svc.name: inputs.input_digest(svc, inputs.build_args(svc, version))
                for svc in config.select([])}

    def image_ids(self) -> list[str]:
        out = run_text(("docker", "images", "--quiet", "--no-trunc", "--filter",
                        f"label={images.PROJECT_LABEL}={self.project}"))
        return sorted(set(out.split()))
