"""The measured variants: cold (--jobs 1, default jobs), warm re-run and the raw docker loop."""

from __future__ import annotations

import json
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
        if self.raw_commands:
            return sum(s for a, s in self.raw_commands if kind(a) == "docker build")
        return self.parts[0].seconds

    @property
    def push_seconds(self) -> float:
        if self.raw_commands:
            return sum(s for a, s in self.raw_commands if kind(a) == "docker push")
        return self.parts[1].seconds


COLD_J1 = "cold, --jobs 1"
COLD_DEFAULT = "cold, default jobs"
WARM = "warm re-run (nothing changed)"
RAW = "raw docker loop (sequential)"
VARIANTS = (COLD_J1, COLD_DEFAULT, WARM, RAW)


def cold(app: App, jobs: int | None) -> Sample:
    app.refresh()
    version = app.next_version()
    extra = ("--jobs", str(jobs)) if jobs else ()
    with cpu_meter() as meter:
        built = app.invoke("build", "--version", version, *extra)
        pushed = app.invoke("push", "--version", version, *extra)
    sample = Sample(COLD_J1 if jobs == 1 else COLD_DEFAULT, app.n,
                    built.seconds + pushed.seconds, [built, pushed], version=version,
                    jobs=built.jobs(), cores=meter.cores)
    for name in app.services:
        if built.rows().get(name, ["?"])[-1] != "built":
            sample.problems.append(f"{name} was not built cold: {built.rows().get(name)}")
        if pushed.rows().get(name, ["?"])[-1] != "pushed":
            sample.problems.append(f"{name} was not pushed cold: {pushed.rows().get(name)}")
    return sample


def warm(app: App, version: str) -> Sample:
    with cpu_meter() as meter:
        built = app.invoke("build", "--version", version)
        pushed = app.invoke("push", "--version", version)
    sample = Sample(WARM, app.n, built.seconds + pushed.seconds, [built, pushed],
                    version=version, jobs=built.jobs(), cores=meter.cores)
    record = json.loads((app.work / ".shipyard" / "releases" / f"{version}.json").read_text())
    for name in app.services:
        build_row, push_row = built.rows().get(name, ["?"]), pushed.rows().get(name, ["?"])
        if build_row[-1] != "reused" or record["images"][name].get("build") != "reused":
            sample.problems.append(f"{name}: build said {build_row[-1]!r}, not 'reused'")
        if push_row[-1] != "skipped":
            sample.problems.append(f"{name}: push said {push_row[-1]!r}, not 'skipped'")
    for argv in built.echoed + pushed.echoed:
        if len(argv) > 1 and argv[1] in ("build", "push", "tag", "pull"):
            sample.problems.append(f"ran {shlex.join(argv)}")
    return sample


@dataclass
class Template:
    """shipyard's own build and push argv from its latest cold run (`→` lines), in order."""

    version: str
    builds: list[list[str]]
    pushes: list[list[str]]

    @classmethod
    def from_cold(cls, sample: Sample, n: int) -> Template:
        built, pushed = sample.parts
        builds = [a for a in built.echoed if len(a) > 1 and a[1] == "build"]
        pushes = [a for a in pushed.echoed if len(a) > 1 and a[1] == "push"]
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
