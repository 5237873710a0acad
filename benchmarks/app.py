"""A generated scratch app, and one timed `invoke` in it as a user would run it."""

from __future__ import annotations

import json
import shlex
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.apps import images_app_config
from tests.support.git import git, publish
from tests.support.ports import free_port

from shipyard import config as config_mod
from shipyard.build import images, inputs

from .basics import invoke_ok, shipyard_first
from .registry import BenchRegistry

BASE_IMAGE = "shipyard/busybox:1"
COMMIT_MESSAGE = "bench: new service contents"

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
    seconds: float
    err: str
    commands: list[tuple[str, float]]  # (argv as shipyard logged it, seconds), every attempt
    hits: list[tuple[str, str, str]]  # registry requests during the invocation
    ran: list[list[str]]  # the argv of each command that exited 0, in order
    api: list[str] = field(default_factory=list)  # API requests shipyard made itself


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
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. gcloud at a stand-in

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
        dockerfile = DOCKERFILE.format(base=BASE_IMAGE, spin=self.spin, data=self.data_bytes,
                                       marker=self.marker)
        for name in self.services:
            (self.work / name).mkdir(parents=True)
            (self.work / name / "Dockerfile").write_text(dockerfile)
        ports = {name: free_port() for name in self.services}
        (self.work / "shipyard.toml").write_text(
            images_app_config(self.registry.port, ports, self.project))
        (self.work / "tasks.py").write_text("from shipyard.tasks import ns  # noqa: F401\n")
        (self.work / ".gitignore").write_text(".shipyard/\n")
        self.new_nonces()
        publish(self.work, self.base / "remote.git", COMMIT_MESSAGE)

    def new_nonces(self) -> None:
        for name in self.services:
            (self.work / name / "nonce.txt").write_text(f"{name} {uuid.uuid4().hex}\n")

    def refresh(self) -> None:
        """New contents for every service (a nonce file), committed: the next build is cold."""
        self.new_nonces()
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", COMMIT_MESSAGE)

    def next_version(self) -> str:
        self.version_count += 1
        return f"v1.0.{self.version_count}"

    def next_raw_tag(self) -> str:
        # Not a release version: shipyard's reuse lookup and --cache-from ignore these tags.
        self.raw_count += 1
        return f"raw-{self.raw_count}"

    def invoke(self, *args: str) -> Invocation:
        """`python -m invoke ARGS` in the app, as a user would run it."""
        env = {**shipyard_first(self.pythonpath), **self.extra_env}
        log_mark = self.command_log.stat().st_size if self.command_log.exists() else 0
        reg_mark = self.registry.mark()
        started = time.perf_counter()
        done = invoke_ok(self.work, args, env)
        seconds = time.perf_counter() - started
        commands, ran, api = [], [], []
        if self.command_log.exists():
            with self.command_log.open("rb") as stream:
                stream.seek(log_mark)
                for line in stream.read().decode().splitlines():
                    entry = json.loads(line)
                    if "argv" not in entry:  # a request made without a process
                        api.append(str(entry.get("request")))
                        continue
                    commands.append((str(entry["argv"]), float(entry["seconds"])))
                    if entry["exit"] == 0:
                        ran.append(shlex.split(entry["argv"]))
        return Invocation(seconds, done.err, commands,
                          self.registry.hits_since(reg_mark), ran, api)

    def input_digests(self, version: str) -> dict[str, str]:
        """Each service's input digest, computed by shipyard's own code (for the raw images)."""
        config = config_mod.load(self.work)
        return {svc.name: inputs.input_digest(svc, inputs.build_args(svc, version))
                for svc in config.select([])}

    @property
    def image_filter(self) -> str:
        """`docker images --filter` for every image of this app (shipyard's and the raw ones)."""
        return f"label={images.PROJECT_LABEL}={self.project}"
