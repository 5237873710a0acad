"""Every task's --dry-run changes nothing and prints, literally, the commands it would run.

"Nothing" is everything `state_snapshot.snapshot` reads: every file under the app and under
.git, the bare remote, the Docker images and containers (running or stopped) of this app, the
registry's repositories, tags and digests, the nginx and registry processes, and the
`shipyard-*` entries of the temp folder (each dry run gets a TMPDIR of its own).

Three states, as a user meets them:

- serving: v1.0.0 and v2.0.0 released (v2 serves, v1 is kept), a merged branch feature/done,
  the v3 change committed: planning the next release;
- down: the same, after `invoke local-down` and with the registry stopped;
- fresh: a new checkout that never ran shipyard (no .shipyard/, nothing running).

A plan is compared line by line. Lines that come from services planned at the same time
(one thread each: `docker run`, `docker start`, `docker unpause`) are a group whose order is
free; the operands of `docker stop`, `docker rm` and `docker pause` are compared sorted. Values
nobody can know in advance (an input digest, a temp dir's random name, a fresh checkout's
settings hash) are placeholders.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AppRepo, Ran, free_port, invoke
from tests.integration.release_fixtures import SERVICES, ReleaseApp, docker
from tests.integration.state_snapshot import differences, snapshot

pytestmark = pytest.mark.integration

V1, V2, V3 = "v1.0.0", "v2.0.0", "v3.0.0"
FEATURE = "feature/done"
ZERO = "sha256:" + "0" * 64  # the digest a plan shows before the push
PLACEHOLDERS = {"@SHA256@": r"sha256:[0-9a-f]{64}", "@TMPNAME@": r"[A-Za-z0-9_]+",
                "@HEX6@": r"[0-9a-f]{6}", "@HEX16@": r"[0-9a-f]{16}"}


# ----------------------------------------------------------------------- the plan --

def normalized(line: str) -> str:
    """A `[dry-run] ...` line's command with its program as a bare name (docker, trivy may be
    absolute paths), `docker stop`/`rm`/`pause` operands sorted; a daemon keeps its ` &`."""
    text = line.removeprefix("[dry-run] ")
    daemon = text.endswith(" &")
    argv = shlex.split(text.removesuffix(" &"))
    argv[0] = Path(argv[0]).name
    if argv[:2] in (["docker", "stop"], ["docker", "rm"], ["docker", "pause"]):
        flags = [a for a in argv[2:] if a.startswith("-") or a.isdigit()]
        argv = argv[:2] + flags + sorted(a for a in argv[2:] if a not in flags)
    return shlex.join(argv) + (" &" if daemon else "")


def planned(ran: Ran) -> list[str]:
    """The plan: every command line of stdout (stderr's `[dry-run]` lines are notes)."""
    return [normalized(line) for line in ran.out.splitlines() if line.startswith("[dry-run] ")]


def _matches(expected: str, line: str) -> bool:
    pattern = re.escape(expected)
    for token, regex in PLACEHOLDERS.items():
        pattern = pattern.replace(re.escape(token), regex)
    return re.fullmatch(pattern, line) is not None


Group = list[str]  # lines in any order


def assert_plan(ran: Ran, groups: list[Group]) -> None:
    plan = planned(ran)
    shown = "\n".join(plan)
    assert len(plan) == sum(len(g) for g in groups), f"plan:\n{shown}\nexpected:\n" + "\n".join(
        line for g in groups for line in g)
    at = 0
    for group in groups:
        left = plan[at:at + len(group)]
        for expected in group:
            hit = next((line for line in left if _matches(expected, line)), None)
            assert hit is not None, f"expected at line {at + 1}:\n{expected}\nplan:\n{shown}"
            left.remove(hit)
        at += len(group)


def one(*lines: str) -> list[Group]:
    """Each line its own group: in this order."""
    return [[line] for line in lines]


@dataclass
class Expect:
    """The literal commands of this app's plans."""

    work: Path
    remote: Path
    registry_port: int
    tmp: Path
    buildkit: bool = True
    env_file: bool = True  # services with env vars or secrets get them by name (--env NAME)
    suffix: dict[str, str] = field(default_factory=dict)  # service → settings hash[:6]
    settings: dict[str, str] = field(default_factory=dict)  # service → settings label

    @property
    def prefix(self) -> str:
        return f"127.0.0.1:{self.registry_port}/demo"

    @property
    def proxy(self) -> str:
        return f"{self.work}/.shipyard/local/proxy"

    def git(self, *args: str) -> str:
        return subprocess.run(("git", *args), cwd=self.work, check=True, capture_output=True,
                              text=True).stdout.strip()

    # --- git
    def tag(self, version: str) -> list[Group]:
        return one(f"git tag --annotate '--message=Release {version}' {version} HEAD",
                   f"git push origin refs/tags/{version}:refs/tags/{version}")

    # --- images
    def build(self, service: str, version: str, cache_from: str | None) -> str:
        config = tomllib.loads((self.work / "shipyard.toml").read_text())
        args = {**config["services"][service].get("build_args", {}), "VERSION": version}
        if self.buildkit:
            args["BUILDKIT_INLINE_CACHE"] = "1"
        when = int(self.git("show", "-s", "--format=%ct", "HEAD"))
        created = dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        labels = {"dev.shipyard.build.inputs": "@SHA256@", "dev.shipyard.project": "demo",
                  "dev.shipyard.service": service,
                  "org.opencontainers.image.created": created,
                  "org.opencontainers.image.revision": self.git("rev-parse", "HEAD"),
                  "org.opencontainers.image.source": str(self.remote),
                  "org.opencontainers.image.title": service,
                  "org.opencontainers.image.version": version}
        argv = ["docker", "build", "--file", f"{self.work}/{service}/Dockerfile",
                "--tag", f"{self.prefix}/{service}:{version}"]
        argv += [a for key in sorted(labels) for a in ("--label", f"{key}={labels[key]}")]
        argv += [a for key in sorted(args) for a in ("--build-arg", f"{key}={args[key]}")]
        if cache_from and self.buildkit:
            argv += ["--cache-from", f"{self.prefix}/{service}:{cache_from}"]
        argv += ["--iidfile", f"{self.tmp}/shipyard-build-@TMPNAME@/iid", f"{self.work}/{service}"]
        return shlex.join(argv)

    def builds(self, version: str, cache_from: str | None) -> list[Group]:
        return one(*(self.build(s, version, cache_from) for s in SERVICES))

    def scans(self, version: str) -> list[Group]:
        lines = []
        reports = f"{self.work}/.shipyard/reports/{version}"
        for s in SERVICES:
            lines.append(
                f"trivy image --cache-dir {self.work}/.shipyard/cache/trivy-images/{s} --config '' "
                "--skip-check-update --skip-version-check --no-progress --skip-db-update "
                "--image-src docker --scanners secret,misconfig --image-config-scanners "
                "misconfig,secret --ignorefile '' --secret-config '' --list-all-pkgs --timeout "
                f"30m --format json --output {reports}/{s}.trivy.json {self.prefix}/{s}:{version}")
            lines.append(f"trivy convert --config '' --ignorefile '' --format cyclonedx --output "
                         f"{reports}/{s}.cdx.json {reports}/{s}.trivy.json")
        return one(*lines)

    def pushes(self, version: str) -> list[Group]:
        return one(*(f"docker push {self.prefix}/{s}:{version}" for s in SERVICES))

    # --- the local environment
    def registry_start(self) -> list[Group]:
        return one(f"docker-registry serve {self.work}/.shipyard/local/registry/config.yml &")

    def nginx(self, *args: str, conf: str = "nginx.conf") -> str:
        return shlex.join(["nginx", "-p", f"{self.proxy}/", "-c", f"{self.proxy}/{conf}", *args])

    def proxy_start(self) -> list[Group]:
        return one(self.nginx("-t", "-q", conf="nginx.conf.next"), self.nginx())

    def switch(self) -> list[Group]:
        return one(self.nginx("-t", "-q", conf="nginx.conf.next"), self.nginx("-s", "reload"))

    def name(self, service: str, version: str, digest: str) -> str:
        return (f"shipyard-demo-local-{service}-{version}-{digest[7:19]}-"
                f"{self.suffix.get(service, '@HEX6@')}")

    def run(self, service: str, version: str, digest: str = ZERO) -> str:
        labels = {"dev.shipyard.digest": digest, "dev.shipyard.env": "local",
                  "dev.shipyard.project": "demo", "dev.shipyard.root": str(self.work),
                  "dev.shipyard.service": service,
                  "dev.shipyard.settings": self.settings.get(service, "@HEX16@"),
                  "dev.shipyard.version": version}
        argv = ["docker", "run", "--detach", "--init", "--name",
                self.name(service, version, digest), "--restart", "no", "--publish",
                "127.0.0.1::8080"]
        argv += [a for key in sorted(labels) for a in ("--label", f"{key}={labels[key]}")]
        if self.env_file:  # secrets and env reach docker by name (--env NAME), values never
            argv += [a for name in ENV_NAMES[service] for a in ("--env", name)]
        return shlex.join([*argv, f"{self.prefix}/{service}@{digest}"])

    def runs(self, version: str, digests: dict[str, str] | None = None) -> list[Group]:
        return [[self.run(s, version, (digests or {}).get(s, ZERO)) for s in SERVICES]]


# The variables each service's container gets, sorted: its env and its secrets.
ENV_NAMES = {"alpha": ("ALPHA_DB_PASSWORD", "CANARY_TOKEN", "GREETING"),
             "beta": ("CANARY_TOKEN",)}


# -------------------------------------------------------------------- the states --

@dataclass
class Stage:
    app: ReleaseApp
    expect: Expect
    containers: dict[tuple[str, str], str]  # (service, version) → container name
    digests: dict[tuple[str, str], str]  # (service, version) → digest in the registry

    def dry(self, *args: str) -> tuple[Ran, list[str]]:
        """`invoke ARGS --dry-run`, and what it changed (empty: nothing)."""
        return dry_run(self.app.work, self.app.repo.remote, self.app.registry.port,
                       self.expect.tmp, *args)


def dry_run(work: Path, remote: Path, registry_port: int, tmp: Path, *args: str
            ) -> tuple[Ran, list[str]]:
    before = snapshot(work, remote, registry_port, tmpdir=tmp)
    ran = invoke(work, *args, "--dry-run", env={"TMPDIR": str(tmp)})
    changed = differences(before, snapshot(work, remote, registry_port, tmpdir=tmp))
    assert "Traceback" not in ran.text, ran.text
    return ran, changed


def unchanged(ran: Ran, changed: list[str], code: int = 0) -> None:
    assert changed == [], "the dry run changed:\n" + "\n".join(changed)
    assert ran.code == code, ran.text


def labels_of(name: str) -> dict[str, str]:
    out = docker("inspect", "--format", "{{json .Config.Labels}}", name)
    return dict(json.loads(out))


@pytest.fixture
def serving(app: ReleaseApp, tmp_path: Path) -> Stage:
    app.ok("release", "--version", V1)
    app.change("v2")
    app.ok("release", "--version", V2)
    app.repo.git("branch", FEATURE)  # merged: it is where main was at v2
    app.repo.git("push", "-q", "origin", FEATURE)
    app.change("v3")
    containers = {}
    for name in app.containers():
        labels = labels_of(name)
        containers[(labels["dev.shipyard.service"], labels["dev.shipyard.version"])] = name
    assert sorted(containers) == [(s, v) for s in SERVICES for v in (V1, V2)], containers
    settings = {s: labels_of(containers[(s, V2)])["dev.shipyard.settings"] for s in SERVICES}
    digests = {(s, v): str(app.registry.digest(f"demo/{s}", v)) for s in SERVICES
               for v in (V1, V2)}
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    expect = Expect(app.work, app.repo.remote, app.registry.port, tmp,
                    suffix={s: containers[(s, V2)][-6:] for s in SERVICES}, settings=settings)
    return Stage(app, expect, containers, digests)


@pytest.fixture
def down(serving: Stage) -> Stage:
    serving.app.ok("local-down")
    serving.app.registry.stop()
    assert serving.app.containers() == []
    return serving


def with_buildkit(expect: Expect, ran: Ran, version: str) -> Expect:
    """The builder is the one the machine has; the plan's build table names it."""
    title = re.search(rf"^build {re.escape(version)} \((BuildKit|legacy builder), ",
                      ran.out, re.MULTILINE)
    assert title is not None, ran.out
    expect.buildkit = title[1] == "BuildKit"
    return expect


def last_note(ran: Ran) -> str:
    return ran.err.strip().splitlines()[-1]


# ---------------------------------------------------------------- serving state --

def test_dry_runs_of_a_serving_app_change_nothing_and_print_their_plans(
        serving: Stage, subtests: Any) -> None:
    e, c = serving.expect, serving.containers
    v1, v2 = (sorted(c[(s, v)] for s in SERVICES) for v in (V1, V2))
    # v2 serves, v1 is its paused standby: a rollback resumes v1 and pauses v2
    switch_to_v1 = [[f"docker unpause {c[(s, V1)]}" for s in SERVICES], *e.switch(),
                    ["docker pause " + " ".join(v2)]]
    nginx_pid = (serving.app.state / "local" / "proxy" / "nginx.pid").read_text().strip()
    registry_up = f"local registry: already answering on 127.0.0.1:{e.registry_port}"
    proxy_up = f"local proxy: nginx already running (pid {nginx_pid})"
    head = e.git("rev-parse", "--short=12", "HEAD")

    with subtests.test("release"):
        ran, changed = serving.dry("release", "--version", V3)
        unchanged(ran, changed)
        e = with_buildkit(e, ran, V3)
        assert_plan(ran, [*e.tag(V3), *e.builds(V3, cache_from=V2), *e.scans(V3),
                          *e.pushes(V3), *e.runs(V3), *e.switch(),
                          ["docker pause " + " ".join(v2)],  # the new standby
                          ["docker stop --time 10 " + " ".join(v1)]])  # the older one
        names = ", ".join(f"{s} → {e.name(s, V3, ZERO)}" for s in SERVICES)
        assert f"[dry-run] would switch traffic: {names}" in ran.err.splitlines(), ran.err
        assert last_note(ran) == f"[dry-run] that is the complete plan for {V3} → local"

    with subtests.test("build"):
        ran, changed = serving.dry("build", "--version", V3)
        unchanged(ran, changed)
        assert_plan(ran, with_buildkit(e, ran, V3).builds(V3, cache_from=V2))

    with subtests.test("scan"):
        ran, changed = serving.dry("scan", "--version", V3)
        unchanged(ran, changed)
        assert_plan(ran, e.scans(V3))

    with subtests.test("push"):
        ran, changed = serving.dry("push", "--version", V3)
        unchanged(ran, changed)
        assert_plan(ran, e.pushes(V3))

    with subtests.test("deploy"):  # v1's paused standby resumes: no new container
        ran, changed = serving.dry("deploy", "--version", V1)
        unchanged(ran, changed)
        assert_plan(ran, switch_to_v1)

    with subtests.test("rollback"):  # to v1, the last good release before v2
        ran, changed = serving.dry("rollback")
        unchanged(ran, changed)
        assert_plan(ran, switch_to_v1)
        assert ran.err.splitlines()[:2] == [registry_up, proxy_up], ran.err

    with subtests.test("tag"):
        ran, changed = serving.dry("tag", "--version", V3)
        unchanged(ran, changed)
        assert_plan(ran, e.tag(V3))
        assert last_note(ran) == (f"[dry-run] would have: created {V3} on {head}; "
                                  f"pushed {V3} to origin")

    with subtests.test("cleanup-branch"):
        ran, changed = serving.dry("cleanup-branch", "--branch", FEATURE)
        unchanged(ran, changed)
        assert_plan(ran, one(f"git push origin --delete refs/heads/{FEATURE}",
                             f"git branch -D {FEATURE}"))

    with subtests.test("local-up"):  # everything already runs: nothing to do
        ran, changed = serving.dry("local-up")
        unchanged(ran, changed)
        assert_plan(ran, [])
        assert ran.err.splitlines() == [registry_up, proxy_up], ran.err

    with subtests.test("local-down"):
        ran, changed = serving.dry("local-down")
        unchanged(ran, changed)
        assert_plan(ran, [*one(e.nginx("-s", "quit")),
                          ["docker stop --time 10 " + " ".join(sorted(c.values()))],
                          ["docker rm " + " ".join(sorted(c.values()))]])
        assert ran.err.splitlines() == [
            "local proxy: would be stopped", "revision containers: 4 would be stopped and removed",
            "local registry: not running"], ran.err  # the test's registry is not local-up's

    assert serving.app.versions() == {"alpha": V2, "beta": V2}


# ------------------------------------------------------------------- down state --

def test_dry_runs_with_the_local_environment_down_change_nothing_and_print_their_plans(
        down: Stage, subtests: Any) -> None:
    e = down.expect
    up = [*e.registry_start(), *e.proxy_start()]

    with subtests.test("release"):
        ran, changed = down.dry("release", "--version", V3)
        unchanged(ran, changed)
        e = with_buildkit(e, ran, V3)
        # With the registry down the builder cannot see v2 to use as its cache; the local
        # environment's start is planned once (test_a_plan_starts_the_local_environment_once).
        assert_plan(ran, [*up, *e.tag(V3), *e.builds(V3, cache_from=None), *e.scans(V3),
                          *e.pushes(V3), *e.runs(V3), *e.switch()])

    with subtests.test("build"):
        ran, changed = down.dry("build", "--version", V3)
        unchanged(ran, changed)
        assert_plan(ran, e.builds(V3, cache_from=None))  # a build needs no registry

    with subtests.test("scan"):
        ran, changed = down.dry("scan", "--version", V3)
        unchanged(ran, changed)
        assert_plan(ran, e.scans(V3))

    with subtests.test("push"):
        ran, changed = down.dry("push", "--version", V3)
        unchanged(ran, changed)
        assert_plan(ran, [*e.registry_start(), *e.pushes(V3)])

    with subtests.test("deploy"):  # local-down removed every revision: v1's are created anew
        ran, changed = down.dry("deploy", "--version", V1)
        unchanged(ran, changed)
        digests = {s: down.digests[(s, V1)] for s in SERVICES}
        assert_plan(ran, [*up, *e.runs(V1, digests), *e.switch()])

    with subtests.test("tag"):
        ran, changed = down.dry("tag", "--version", V3)
        unchanged(ran, changed)
        assert_plan(ran, e.tag(V3))

    with subtests.test("cleanup-branch"):
        ran, changed = down.dry("cleanup-branch", "--branch", FEATURE)
        unchanged(ran, changed)
        assert_plan(ran, one(f"git push origin --delete refs/heads/{FEATURE}",
                             f"git branch -D {FEATURE}"))

    with subtests.test("local-up"):
        ran, changed = down.dry("local-up")
        unchanged(ran, changed)
        assert_plan(ran, up)

    with subtests.test("local-down"):  # nothing runs: nothing to stop
        ran, changed = down.dry("local-down")
        unchanged(ran, changed)
        assert_plan(ran, [])
        assert ran.err.splitlines() == [
            "local proxy: not running", "revision containers: 0 would be stopped and removed",
            "local registry: not running"], ran.err


def test_dry_runs_that_ask_the_registry_plan_while_it_is_down(down: Stage) -> None:
    e = down.expect
    digests = {s: down.digests[(s, V1)] for s in SERVICES}
    ran, changed = down.dry("rollback")
    unchanged(ran, changed)
    assert_plan(ran, [*e.registry_start(), *e.proxy_start(), *e.runs(V1, digests),
                      *e.switch()])
    ran, changed = down.dry("push", "--version", V2)  # built here, and pushed before
    unchanged(ran, changed)
    assert_plan(ran, [*e.registry_start(), *e.pushes(V2)])


# ------------------------------------------------------------------ fresh state --

@dataclass
class Fresh:
    repo: AppRepo
    registry_port: int
    expect: Expect

    def dry(self, *args: str) -> tuple[Ran, list[str]]:
        return dry_run(self.repo.work, self.repo.remote, self.registry_port, self.expect.tmp,
                       *args)


def unused_registry_port() -> int:
    """A free port that no local image is named after (images of other tests stay behind)."""
    while True:
        port = free_port()
        if not docker("images", "--quiet", "--filter", f"reference=127.0.0.1:{port}/*/*"):
            return port


@pytest.fixture
def fresh(images_app: AppRepo, tmp_path: Path) -> Fresh:
    """images_app (alpha, beta; no secrets) with a registry port nothing listens on and no
    image is named after, and a merged branch: a checkout that never ran shipyard."""
    config = images_app.work / "shipyard.toml"
    port = unused_registry_port()
    config.write_text(re.sub(r"registry_port = \d+", f"registry_port = {port}",
                             config.read_text()))
    images_app.git("commit", "-q", "-am", "a registry port nothing listens on")
    images_app.git("branch", FEATURE)
    images_app.git("push", "-q", "origin", "main", FEATURE)
    assert not (images_app.work / ".shipyard").exists()
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    # No deploy ever ran here, so no settings key exists: a dry run names revisions with x's.
    return Fresh(images_app, port, Expect(images_app.work, images_app.remote, port, tmp,
                                          env_file=False, suffix=dict.fromkeys(SERVICES, "x" * 6),
                                          settings=dict.fromkeys(SERVICES, "x" * 16)))


FRESH_PLANS = ["release", "build", "scan", "push", "deploy", "rollback", "tag", "cleanup-branch",
               "local-up", "local-down"]


def fresh_args(task: str) -> tuple[str, ...]:
    return {"release": ("release", "--version", V1), "build": ("build", "--version", V1),
            "scan": ("scan", "--version", V1), "push": ("push", "--version", V1),
            "deploy": ("deploy", "--version", V1), "tag": ("tag", "--version", V1),
            "cleanup-branch": ("cleanup-branch", "--branch", FEATURE)}.get(task, (task,))


@pytest.mark.parametrize("task", FRESH_PLANS)
def test_dry_runs_on_a_fresh_checkout_print_their_plans(fresh: Fresh, task: str) -> None:
    ran, _ = fresh.dry(*fresh_args(task))
    e = fresh.expect
    up = [*e.registry_start(), *e.proxy_start()]
    if task == "rollback":  # nothing was ever released: there is nothing to plan
        assert ran.code == 1, ran.text
        assert [line for line in ran.err.splitlines() if line.startswith(("error", "hint"))] == [
            "error: no earlier good release to roll back to in local (serving: nothing)",
            "hint: pass --to VERSION to pick one explicitly"], ran.err
        assert_plan(ran, [])
        return
    assert ran.code == 0, ran.text
    if task in ("release", "build"):
        e = with_buildkit(e, ran, V1)
    plans = {
        "release": [*up, *e.tag(V1), *e.builds(V1, cache_from=None), *e.scans(V1),
                    *e.pushes(V1), *e.runs(V1), *e.switch()],
        "build": e.builds(V1, cache_from=None),  # a build needs no registry
        "scan": e.scans(V1),
        "push": [*e.registry_start(), *e.pushes(V1)],
        "deploy": [*up, *e.runs(V1), *e.switch()],  # no record: the digest is planned
        "tag": e.tag(V1),
        "cleanup-branch": one(f"git push origin --delete refs/heads/{FEATURE}",
                              f"git branch -D {FEATURE}"),
        "local-up": up,
        "local-down": [],
    }
    assert_plan(ran, plans[task])


@pytest.mark.parametrize("task", FRESH_PLANS)
def test_dry_runs_on_a_fresh_checkout_change_nothing(fresh: Fresh, task: str) -> None:
    _, changed = fresh.dry(*fresh_args(task))
    assert changed == [], "the dry run changed:\n" + "\n".join(changed)
    assert not (fresh.repo.work / ".shipyard").exists()
    assert fresh.repo.git("status", "--porcelain", "--ignored") == ""


def test_a_plan_starts_the_local_environment_once(fresh: Fresh) -> None:
    for task in ("release", "deploy"):
        ran, _ = fresh.dry(*fresh_args(task))
        starts = [line for line in planned(ran) if line.startswith("docker-registry serve ")]
        assert len(starts) == 1, (task, planned(ran))
