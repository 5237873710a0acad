"""The measured variants: cold (--jobs 1, default jobs), warm re-run and the raw docker loop."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.build import images

from .app import App, Invocation
from .basics import BenchError
from .cpu import cpu_meter


@dataclass
class Sample:
    variant: str
    n: int
    seconds: float
    parts: list[Invocation] = field(default_factory=list)
    raw_commands: list[tuple[str, float]] = field(default_factory=list)
    version: str = ""
    jobs: int | None = None
    problems: list[str] = field(default_factory=list)
    cores: float = float("nan")  # machine-wide cores busy during the run
    rep: int = -1

    @property
    def build_seconds(self) -> float:
        if len(self.parts) == 1:  # one process: build and push are not timed apart
            return float("nan")
        if self.raw_commands:
            return sum(s for a, s in self.raw_commands if kind(a) == "docker build")
        return self.parts[0].seconds

    @property
    def docker_seconds(self) -> float:
        """Its own `docker build` and `docker push` seconds, from shipyard's command log."""
        return sum(s for part in self.parts for a, s in part.commands
                   if kind(a) in DOCKER_WORK)

    @property
    def push_seconds(self) -> float:
        if len(self.parts) == 1:
            return float("nan")
        if self.raw_commands:
            return sum(s for a, s in self.raw_commands if kind(a) == "docker push")
        return self.parts[1].seconds


DOCKER_WORK = ("docker build", "docker push")  # the commands the raw loop runs too
COLD_J1 = "cold, --jobs 1"
COLD_DEFAULT = "cold, default jobs"
WARM = "warm re-run (nothing changed)"
RAW = "raw docker loop (sequential)"
# An extra row, not the method: both tasks in one Invoke process, as docs/benchmarks.md shows.
ONE_PROCESS = "cold, --jobs 1, one process (`invoke build … push …`)"
VARIANTS = (COLD_J1, COLD_DEFAULT, WARM, RAW, ONE_PROCESS)


def cold(app: App, jobs: int | None, *, one_process: bool = False) -> Sample:
    app.refresh()
    version = app.next_version()
    extra = ("--jobs", str(jobs)) if jobs else ()
    with cpu_meter() as meter:
        if one_process:
            both = app.invoke("build", "--version", version, *extra,
                              "push", "--version", version, *extra)
            parts = [both]
        else:
            parts = [app.invoke("build", "--version", version, *extra),
                     app.invoke("push", "--version", version, *extra)]
    record = app.record(version)
    variant = ONE_PROCESS if one_process else COLD_J1 if jobs == 1 else COLD_DEFAULT
    sample = Sample(variant, app.n, sum(p.seconds for p in parts), parts, version=version,
                    jobs=record["stages"]["build"].get("jobs"), cores=meter.cores)
    pushed_services = {service_of(argv[-1]) for argv in parts[-1].ran
                       if argv[1:2] == ["push"]}
    for name in app.services:
        build = record["images"].get(name, {}).get("build")
        if build != "built":
            sample.problems.append(f"{name} was not built cold: the record says {build!r}")
        if name not in pushed_services:
            sample.problems.append(f"{name} was not pushed cold: no docker push of it ran")
    return sample


def warm(app: App, version: str) -> Sample:
    with cpu_meter() as meter:
        built = app.invoke("build", "--version", version)
        pushed = app.invoke("push", "--version", version)
    record = app.record(version)
    sample = Sample(WARM, app.n, built.seconds + pushed.seconds, [built, pushed],
                    version=version, jobs=record["stages"]["build"].get("jobs"),
                    cores=meter.cores)
    for name in app.services:
        build = record["images"].get(name, {}).get("build")
        if build != "reused":
            sample.problems.append(f"{name}: build said {build!r}, not 'reused'")
    # Skipped pushes run no docker command: any build, push, tag or pull is work done again.
    for argv, _ in built.commands + pushed.commands:
        if kind(argv) in ("docker build", "docker push", "docker tag", "docker pull"):
            sample.problems.append(f"ran {argv}")
    return sample


@dataclass
class Template:
    """shipyard's own build and push argv from its latest cold run (its command log), in
    order."""

    version: str
    builds: list[list[str]]
    pushes: list[list[str]]

    @classmethod
    def from_cold(cls, sample: Sample, n: int) -> Template:
        built, pushed = sample.parts
        builds = [a for a in built.ran if a[1:2] == ["build"]]
        pushes = [a for a in pushed.ran if a[1:2] == ["push"]]
        if len(builds) != n or len(pushes) != n:
            raise BenchError(f"expected {n} docker build and push lines from shipyard, got "
                             f"{len(builds)} and {len(pushes)}:\n{built.err}\n{pushed.err}")
        return cls(sample.version, builds, pushes)


def retag(ref: str, tag: str) -> str:
    return f"{ref.rsplit(':', 1)[0]}:{tag}"


def service_of(ref: str) -> str:
    return ref.rsplit(":", 1)[0].rsplit("/", 1)[-1]


def raw_argvs(template: Template, tag: str, tmp: Path, digests: dict[str, str]
              ) -> list[list[str]]:
    """The template's argv with the new tag, a live --iidfile and the new contents' inputs label;
    every other argument (labels, build args, --cache-from) exactly as shipyard ran it."""
    argvs = []
    for argv in template.builds:
        out = list(argv)
        service = service_of(out[out.index("--tag") + 1])
        for i in range(len(out) - 1):
            flag, value = out[i], out[i + 1]
            if flag == "--tag":
                out[i + 1] = retag(value, tag)
            elif flag == "--iidfile":
                out[i + 1] = str(tmp / f"{service}.iid")
            elif flag == "--label" and value.startswith(f"{images.INPUTS_LABEL}="):
                out[i + 1] = f"{images.INPUTS_LABEL}={digests[service]}"
        argvs.append(out)
    for argv in template.pushes:
        argvs.append([*argv[:-1], retag(argv[-1], tag)])
    return argvs


def raw(app: App, template: Template, build_env: dict[str, str]) -> Sample:
    app.refresh()
    tag = app.next_raw_tag()
    digests = app.input_digests(template.version)
    env = {**os.environ, **build_env}
    with tempfile.TemporaryDirectory(prefix="shipyard-bench-raw-") as tmp:
        argvs = raw_argvs(template, tag, Path(tmp), digests)
        timed = []
        with cpu_meter() as meter:
            started = time.perf_counter()
            for argv in argvs:
                t0 = time.perf_counter()
                done = subprocess.run(argv, env=env, capture_output=True, text=True,
                                      check=False)
                timed.append((shlex.join(argv), time.perf_counter() - t0))
                if done.returncode != 0:
                    raise BenchError(f"raw {shlex.join(argv)} failed: {done.stderr[-800:]}")
            seconds = time.perf_counter() - started
    return Sample(RAW, app.n, seconds, raw_commands=timed, version=tag, cores=meter.cores)


def kind(argv_text: str) -> str:
    argv = shlex.split(argv_text)
    tool = Path(argv[0]).name
    words = [a for a in argv[1:3] if not a.startswith("-")]
    if tool == "docker" and words[:1] == ["image"]:
        return "docker image " + words[1]
    return " ".join([tool, *words[:1]])
