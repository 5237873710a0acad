"""The FakeRunner tier (DESIGN.md, tests/unit): stages run against fakes, nothing real runs.

- FakeRunner: a Runner whose one execution point (`_execute`) answers from scripted rules
  and records every executed argv (and env keys, never values). Dry-run is the Runner's own.
- FakeEngine / FakeRegistry / FakeTrivy: the state the docker and trivy rules read and change.
- FakeTarget, FakeSecrets: the target seam and the secret source, in memory.

The app and the RunContext that carries all of these are made in tests/unit/fake_app.py.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.build.images import SERVICE_LABEL
from shipyard.errors import ShipyardError, UsageError
from shipyard.exec.runner import Argv, LineHandler, Result, Runner
from shipyard.targets.base import Check, DeployError, DeployPlan, Revision, SecretBinding
from shipyard.version import Version


@dataclass(frozen=True)
class Reply:
    code: int = 0
    stdout: str = ""
    stderr: str = ""


@dataclass(frozen=True)
class Call:
    argv: Argv
    env_keys: tuple[str, ...]  # the names of the extra env the command got; never values
    cwd: Path | None


Responder = Callable[[Call], Reply | None]  # None: not mine, ask the next (older) rule


def _tool(name: str) -> str:
    return Path(name).name


def matches(argv: Sequence[str], prefix: Sequence[str]) -> bool:
    """`prefix` starts `argv`; the tool is compared by its basename (docker, trivy, git)."""
    if not prefix:
        return True
    if len(argv) < len(prefix):
        return False
    return _tool(argv[0]) == _tool(prefix[0]) and tuple(argv[1:len(prefix)]) == tuple(prefix[1:])


def digest_of(*parts: str) -> str:
    return "sha256:" + hashlib.sha256("\0".join(parts).encode()).hexdigest()


def option(argv: Sequence[str], name: str) -> list[str]:
    """Every value of `name VALUE` in argv."""
    return [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == name]


@dataclass
class FakeRunner(Runner):
    """Runner.run as it is (dry run, checks, retries, redaction); only `_execute` is faked.

    `on(prefix, reply)` scripts an answer: a Reply, or a callable that may change fake state
    (write the --iidfile, push to the FakeRegistry) and returns a Reply or None to pass. An
    argv no rule answers fails the test. `executed` keeps every call in order."""

    backoff: float = 0.0  # retries do not sleep
    real: tuple[str, ...] = ()  # tools that do run (git, in a tmp repo)
    executed: list[Call] = field(default_factory=list)
    timeline: list[tuple[str, Any]] = field(default_factory=list)  # shared with FakeTarget
    _rules: list[tuple[Argv, Responder]] = field(default_factory=list, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def on(self, prefix: Sequence[str], reply: Reply | Responder | None = None) -> None:
        """Answer argv starting with `prefix`; the newest matching rule wins."""
        answer = reply or Reply()
        responder = answer if callable(answer) else (lambda _call: answer)
        self._rules.append((tuple(prefix), responder))

    def fail(self, prefix: Sequence[str], stderr: str, code: int = 1) -> None:
        self.on(prefix, Reply(code, "", stderr))

    def drop(self, prefix: Sequence[str]) -> None:
        """Forget the rules made for exactly this prefix (a failure that went away)."""
        self._rules = [rule for rule in self._rules if rule[0] != tuple(prefix)]

    @property
    def argvs(self) -> list[Argv]:
        return [call.argv for call in self.executed]

    def ran(self, *prefix: str, since: int = 0) -> list[Argv]:
        return [argv for argv in self.argvs[since:] if matches(argv, prefix)]

    def _execute(self, argv: Argv, timeout: float, cwd: Path | None,
                 env: Mapping[str, str] | None, stdin: str | None,
                 on_line: LineHandler | None, hint: str | None) -> Result:
        call = Call(argv, tuple(sorted(env or {})), cwd)
        with self._lock:
            self.executed.append(call)
            self.timeline.append(("run", argv))
        if _tool(argv[0]) in self.real:
            return super()._execute(argv, timeout, cwd, env, stdin, on_line, hint)
        with self._lock:
            reply = self._answer(call)
        for line in (reply.stdout + reply.stderr).splitlines():
            if on_line is not None:
                on_line(self.redactor(line))
        return Result(argv, reply.code, reply.stdout, reply.stderr, 0.0)

    def _answer(self, call: Call) -> Reply:
        for prefix, responder in reversed(self._rules):
            if matches(call.argv, prefix) and (reply := responder(call)) is not None:
                return reply
        raise AssertionError(f"FakeRunner: no rule for {shlex.join(call.argv)}")

    def spawn(self, argv: Sequence[str], *, log: Path, cwd: Path | None = None) -> int | None:
        if self.dry_run:
            return super().spawn(argv, log=log, cwd=cwd)  # plans only
        raise AssertionError(f"FakeRunner does not start daemons: {shlex.join(argv)}")


# ------------------------------------------------------------------ the engine and registry --

@dataclass
class FakeImage:
    id: str
    labels: dict[str, str]
    size: int = 4096


class FakeRegistry:
    """What the stages ask of registries.client.Registry, over dicts. Repos are service names."""

    def __init__(self, repository: str) -> None:
        self.repository = repository  # env.registry, e.g. 127.0.0.1:5999/demo
        self.up = True
        self.login: dict[str, str] = {}  # what docker_env() gives docker ({}: anonymous)
        self.tags_of: dict[str, dict[str, str]] = {}  # repo → tag → manifest digest
        self.config_of: dict[str, str] = {}  # manifest digest → config digest (image id)
        self.labels_of: dict[str, dict[str, str]] = {}  # config digest → labels
        self.pushes: list[str] = []

    def store(self, repo: str, tag: str, image_id: str,
              labels: Mapping[str, str] | None = None) -> str:
        manifest = digest_of("manifest", repo, image_id)
        self.tags_of.setdefault(repo, {})[tag] = manifest
        self.config_of[manifest] = image_id
        self.labels_of.setdefault(image_id, dict(labels or {}))
        return manifest

    def split(self, ref: str) -> tuple[str, str]:
        rest = ref.removeprefix(self.repository + "/")
        repo, _, tag = rest.rpartition(":")
        return repo, tag

    def receive(self, ref: str, image: FakeImage) -> str:
        self.pushes.append(ref)
        return self.store(*self.split(ref), image.id, image.labels)

    def _manifest(self, repo: str, reference: str) -> str | None:
        self._answer()
        if reference.startswith("sha256:"):
            return reference if reference in self.tags_of.get(repo, {}).values() else None
        return self.tags_of.get(repo, {}).get(reference)

    def _answer(self) -> None:
        if not self.up:
            raise ShipyardError(f"registry {self.repository} is not reachable: fake is down")

    def ping(self) -> bool:
        return self.up

    def docker_env(self) -> dict[str, str]:
        return dict(self.login)

    def digest(self, repo: str, tag: str) -> str | None:
        return self._manifest(repo, tag)

    def tags(self, repo: str) -> list[str]:
        self._answer()
        return list(self.tags_of.get(repo, {}))

    def config_digest(self, repo: str, reference: str) -> str | None:
        manifest = self._manifest(repo, reference)
        return self.config_of.get(manifest) if manifest else None

    def labels(self, repo: str, reference: str) -> dict[str, str]:
        config = self.config_digest(repo, reference)
        return dict(self.labels_of.get(config, {})) if config else {}


class FakeEngine:
    """Images by id and by tag; the docker rules read and change it."""

    def __init__(self, registry: FakeRegistry) -> None:
        self.registry = registry
        self.images: dict[str, FakeImage] = {}
        self.tags: dict[str, str] = {}  # ref → image id

    def add(self, labels: Mapping[str, str], tag: str | None = None, seed: str = "") -> str:
        image_id = digest_of("image", json.dumps(dict(labels), sort_keys=True), seed)
        self.images[image_id] = FakeImage(image_id, dict(labels))
        if tag:
            self.tags[tag] = image_id
        return image_id

    def resolve(self, ref: str) -> FakeImage | None:
        return self.images.get(ref) or self.images.get(self.tags.get(ref, ""))

    def _json(self, image: FakeImage) -> dict[str, Any]:
        tags = sorted(t for t, i in self.tags.items() if i == image.id)
        return {"Id": image.id, "Size": image.size, "RepoTags": tags,
                "Config": {"Labels": dict(image.labels)}}

    def install(self, runner: FakeRunner) -> None:
        runner.on(("docker", "images"), self._images)
        runner.on(("docker", "image", "inspect"), self._inspect)
        runner.on(("docker", "build"), self._build)
        runner.on(("docker", "tag"), self._tag)
        runner.on(("docker", "push"), self._push)
        runner.on(("docker", "pull"), self._pull)

    def _images(self, call: Call) -> Reply:
        wanted = dict(f.removeprefix("label=").split("=", 1) for f in option(call.argv, "--filter"))
        ids = [i.id for i in self.images.values()
               if all(i.labels.get(k) == v for k, v in wanted.items())]
        return Reply(stdout="".join(f"{i}\n" for i in ids))

    def _inspect(self, call: Call) -> Reply:
        refs = call.argv[3:]
        found = [self._json(img) for ref in refs if (img := self.resolve(ref))]
        missing = [ref for ref in refs if self.resolve(ref) is None]
        errors = "".join(f"Error: No such image: {ref}\n" for ref in missing)
        return Reply(1 if missing else 0, json.dumps(found), errors)

    def _build(self, call: Call) -> Reply:
        argv = call.argv
        labels = dict(v.split("=", 1) for v in option(argv, "--label"))
        args = sorted(option(argv, "--build-arg"))
        image_id = self.add(labels, option(argv, "--tag")[0], seed=json.dumps([args, argv[-1]]))
        for iidfile in option(argv, "--iidfile"):
            Path(iidfile).write_text(image_id)
        return Reply(stdout=f"Successfully built {image_id[7:19]}\n")

    def _tag(self, call: Call) -> Reply:
        source, target = call.argv[2:4]
        image = self.resolve(source)
        if image is None:
            return Reply(1, "", f"Error response from daemon: No such image: {source}\n")
        self.tags[target] = image.id
        return Reply()

    def _push(self, call: Call) -> Reply:
        ref = call.argv[-1]
        image = self.resolve(ref)
        if image is None:
            return Reply(1, "", f"An image does not exist locally with the tag: {ref}\n")
        manifest = self.registry.receive(ref, image)
        return Reply(stdout=f"{ref.rpartition(':')[2]}: digest: {manifest} size: 528\n")

    def _pull(self, call: Call) -> Reply:
        ref = call.argv[-1]
        repo, tag = self.registry.split(ref)
        config = self.registry.config_digest(repo, tag)
        if config is None:
            return Reply(1, "", f"Error response from daemon: manifest for {ref} not found\n")
        self.images.setdefault(config, FakeImage(config, self.registry.labels(repo, tag)))
        self.tags[ref] = config
        return Reply(stdout=ref + "\n")


def vuln(vuln_id: str, severity: str, package: str = "openssl") -> dict[str, str]:
    return {"VulnerabilityID": vuln_id, "Severity": severity, "PkgName": package,
            "InstalledVersion": "3.0.1", "FixedVersion": "3.0.2", "Title": f"{vuln_id} title"}


def misconfig(check_id: str, severity: str) -> dict[str, str]:
    """A failed image config check (trivy's image-config misconfig scanner)."""
    return {"ID": check_id, "AVDID": check_id, "Severity": severity, "Status": "FAIL",
            "Title": f"{check_id} title"}


class FakeTrivy:
    """trivy's answers; `findings[service]`: the vuln()s and misconfig()s its report lists."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.findings: dict[str, list[dict[str, str]]] = {}

    def install(self, runner: FakeRunner) -> None:
        runner.on(("trivy", "version"), Reply(stdout='{"Version": "0.58.1"}'))
        runner.on(("trivy", "image"), self._scan)
        runner.on(("trivy", "image", "--download-db-only"))  # newer, so asked first
        runner.on(("trivy", "convert"), self._sbom)

    def _scan(self, call: Call) -> Reply:
        image_ref = call.argv[-1]
        image = self.engine.resolve(image_ref)
        if image is None:
            return Reply(1, "", f"FATAL unable to find the specified image \"{image_ref}\": "
                                "No such image\n")
        found = self.findings.get(image.labels.get(SERVICE_LABEL, ""), [])
        # As trivy does: OS package results and image config results are named after the
        # image as it was given (here the id), e.g. "sha256:... (debian 12.8)".
        report = {"SchemaVersion": 2, "ArtifactName": image_ref, "ArtifactType":
                  "container_image", "Metadata": {"ImageID": image.id},
                  "Results": [{"Target": f"{image_ref} (debian 12.8)", "Class": "os-pkgs",
                               "Type": "debian", "Vulnerabilities":
                               [f for f in found if "VulnerabilityID" in f]},
                              {"Target": image_ref, "Class": "config", "Type": "dockerfile",
                               "Misconfigurations": [f for f in found if "AVDID" in f]}]}
        Path(option(call.argv, "--output")[0]).write_text(json.dumps(report))
        return Reply()

    def _sbom(self, call: Call) -> Reply:
        Path(option(call.argv, "--output")[0]).write_text('{"bomFormat": "CycloneDX"}')
        return Reply()


# ----------------------------------------------------------------- the target and secrets --

class FakeTarget:
    """targets.base.Target in memory. `calls` keeps every call in order; `serving` is what
    serves; `kept` the revisions shift_traffic can go back to. Honours the runner's dry run."""

    def __init__(self, registry: FakeRegistry, runner: FakeRunner) -> None:
        self._registry, self.runner = registry, runner
        self.calls: list[tuple[Any, ...]] = []
        self.serving: dict[str, Revision] = {}
        self.kept: set[str] = set()
        self.fail_verify: set[str] = set()  # versions whose verification fails
        self.fail_deploy: set[str] = set()  # versions whose revisions never become healthy
        self.keeps_revisions = True  # False: shift_traffic says None, a deploy is needed
        self.fail_reconfigure = False  # True: the flag's new revisions never become healthy

    def _call(self, *call: Any) -> None:
        self.calls.append(call)
        self.runner.timeline.append(("target", call))

    @property
    def verbs(self) -> list[str]:
        return [str(call[0]) for call in self.calls]

    def preflight_checks(self) -> Sequence[Check]:
        return ()

    def registry(self) -> FakeRegistry:
        return self._registry

    def exclusive(self, action: str, version: str, *, break_lock: bool
                  ) -> AbstractContextManager[None]:
        return nullcontext()

    def up(self, *, serving: bool = True) -> None:
        self._call("up", serving)

    def down(self) -> None:
        self._call("down")

    @staticmethod
    def revision(service: str, version: Version, image: str) -> Revision:
        digest = image.partition("@")[2]
        return Revision(service, str(version), digest, image,
                        f"{service}-{version}-{digest[7:19]}", f"http://fake.test/{service}")

    def _serve(self, plan: DeployPlan) -> list[Revision]:
        revisions = [self.revision(s.service, plan.version, s.image) for s in plan.services]
        if not self.runner.dry_run:
            self.serving.update({r.service: r for r in revisions})
            self.kept.update(r.name for r in revisions)
        return revisions

    def deploy(self, plan: DeployPlan) -> list[Revision]:
        self._call("deploy", plan)
        if str(plan.version) in self.fail_deploy:
            first = plan.services[0].service
            raise DeployError(f"{first}: revision {plan.version} did not become healthy",
                              service=first, logs="panic: boom")
        return self._serve(plan)

    def reconfigure(self, plan: DeployPlan, changed: Sequence[str]) -> list[Revision]:
        self._call("reconfigure", plan, tuple(changed))
        if self.fail_reconfigure:
            first = changed[0]
            raise DeployError(f"{first}: the new revision did not become healthy",
                              service=first, hint="traffic was not moved")
        return self._serve(plan)

    def shift_traffic(self, plan: DeployPlan, recorded: Mapping[str, Revision]
                      ) -> list[Revision] | None:
        self._call("shift_traffic", plan, dict(recorded))
        wanted = [self.revision(s.service, plan.version, s.image).name for s in plan.services]
        if not self.keeps_revisions or any(name not in self.kept for name in wanted):
            return None
        return self._serve(plan)

    def current(self) -> dict[str, Revision]:
        self._call("current")
        return dict(self.serving)

    def verify(self, plan: DeployPlan) -> None:
        version = plan.version
        self._call("verify", version)
        wrong = {s: r.version for s, r in self.serving.items() if r.version != str(version)}
        if str(version) in self.fail_verify or wrong or not self.serving:
            service = next(iter(wrong or self.serving), "?")
            answer = wrong.get(service, "v0.0.0-broken")
            raise DeployError(f"{service}: http://fake.test/{service}/version answers 200 "
                              f"{answer!r}, not {version}", service=service)


class FakeSecrets:
    """secrets.SecretSource over a dict; every binding is pinned to `version`."""

    def __init__(self, needs: Mapping[str, Sequence[str]], values: Mapping[str, str],
                 version: str = "1") -> None:
        self.needs = {svc: list(names) for svc, names in needs.items()}
        self.values = dict(values)
        self.version = version
        self.revealed: list[tuple[SecretBinding, ...]] = []

    def missing(self) -> dict[str, list[str]]:
        return {svc: [n for n in names if n not in self.values]
                for svc, names in self.needs.items()}

    def bindings(self) -> dict[str, tuple[SecretBinding, ...]]:
        missing = sorted({n for names in self.missing().values() for n in names})
        if missing:
            raise UsageError(f"missing secrets: {', '.join(missing)}")
        return {svc: tuple(SecretBinding(n, n, self.version) for n in names)
                for svc, names in self.needs.items()}

    def reveal(self, bindings: Sequence[SecretBinding]) -> dict[str, str]:
        self.revealed.append(tuple(bindings))
        return {b.env: self.values[b.secret] for b in bindings}

    def checks(self) -> Sequence[Check]:
        return ()
