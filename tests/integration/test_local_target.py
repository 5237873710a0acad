"""The `local` target with the real Docker engine, the real registry and the real nginx.

Every request goes to 127.0.0.1: the proxy's stable ports, or ports containers publish there.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shipyard.config import Config, Environment, load
from shipyard.exec.runner import Runner
from shipyard.pipeline.context import RunContext
from shipyard.secrets.dotenv import DotenvSecrets
from shipyard.targets.base import DeployError, DeployPlan, ServicePlan
from shipyard.targets.local import LocalTarget
from shipyard.targets.local import proxy as proxy_module
from shipyard.version import Version
from tests.conftest import AppRepo, LocalRegistryProcess, free_port, invoke, require_tool
from tests.integration.release_fixtures import Load, http_get, write_service
from tests.support.images import remove_tags

pytestmark = pytest.mark.integration

V1, V2, V3, V4 = (Version.parse(f"v{n}.0.0") for n in (1, 2, 3, 4))
ROLLBACK_BAR = 3.0  # seconds for a two-service rollback
CONFIG = """\
[project]
name = "demo"

[services.alpha]
context = "alpha"
port = 8080
secrets = ["CANARY_TOKEN"]

[services.alpha.env]
VIDEO_GENERATION_ENABLED = "true"

[services.beta]
context = "beta"
port = 8080

[environments.local]
target = "local"
registry_port = {registry}
keep_revisions = {keep}
health_timeout = 4
proxy_ports = {{ alpha = {alpha}, beta = {beta} }}
"""
# alpha without /healthz, and a log line that prints its secret (which must come out masked).
BROKEN_DOCKERFILE = """\
FROM shipyard/busybox:1
ARG VERSION=dev
RUN mkdir -p /www && echo "$VERSION" > /www/version
USER 65534
CMD ["sh", "-c", "echo \\"alpha starting without /healthz token=$CANARY_TOKEN\\" >&2; \
exec httpd -f -p 8080 -h /www"]
"""


def docker(*args: str) -> str:
    done = subprocess.run(("docker", *args), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def state(container: str) -> str:
    """docker's own word for it: running, paused, exited..."""
    return docker("inspect", "--format", "{{.State.Status}}", container).strip()


@dataclass
class Local:
    app: AppRepo
    config: Config
    env: Environment
    runner: Runner
    target: LocalTarget
    canary: str
    echoed: list[str] = field(default_factory=list)

    @property
    def ports(self) -> dict[str, int]:
        assert self.env.local is not None
        return dict(self.env.local.proxy_ports)

    def images(self, version: Version) -> dict[str, str]:
        """Build and push VERSION with the real CLI; the pinned refs from its release record."""
        for step in ("build", "push"):
            ran = invoke(self.app.work, step, "--version", str(version))
            assert ran.code == 0, ran.text
        record = self.app.work / ".shipyard" / "releases" / f"{version}.json"
        data = json.loads(record.read_text())
        return {name: entry["pinned"] for name, entry in data["images"].items()}

    def plan(self, version: Version, images: dict[str, str]) -> DeployPlan:
        bindings = DotenvSecrets.for_environment(self.config, self.env, self.runner).bindings()
        return DeployPlan(version, tuple(ServicePlan(name, image, bindings.get(name, ()))
                                         for name, image in images.items()))

    def verify(self, version: Version) -> None:
        self.target.verify(DeployPlan(version, tuple(ServicePlan(s, "") for s in self.ports)))

    def deploy(self, version: Version, images: dict[str, str],
               target: LocalTarget | None = None) -> float:
        """The one call of LocalTarget.deploy in this module (TARGET: another runner's)."""
        started = time.monotonic()
        (target or self.target).deploy(self.plan(version, images))
        return time.monotonic() - started

    def containers(self, *labels: str) -> list[dict[str, object]]:
        filters = [f"--filter=label={label}" for label in
                   (f"dev.shipyard.root={self.config.root}", *labels)]
        ids = docker("ps", "--all", "--quiet", *filters).split()
        if not ids:
            return []
        return [json.loads(line) for line in docker(
            "inspect", "--format", "{{json .}}", *ids).splitlines()]


@pytest.fixture
def make_local(images_app: AppRepo, registry: LocalRegistryProcess
               ) -> Iterator[Callable[..., Local]]:
    require_tool("nginx", "the local target's proxy is the real nginx")
    made: list[Local] = []

    def make(keep: int = 3) -> Local:
        ports = {"alpha": free_port(), "beta": free_port()}
        (images_app.work / "shipyard.toml").write_text(
            CONFIG.format(registry=registry.port, keep=keep, **ports))
        for name in ports:
            write_service(images_app.work / name)  # /version, /healthz and /cgi-bin/slow
        images_app.git("add", "-A")
        images_app.git("commit", "-q", "-m", "local target config")
        canary = f"canary-{uuid.uuid4().hex}"
        secrets_file = images_app.work / ".shipyard" / "secrets" / "local.env"
        secrets_file.parent.mkdir(parents=True, exist_ok=True)
        secrets_file.write_text(f"# test secrets\nCANARY_TOKEN={canary}\n")
        secrets_file.chmod(0o600)
        config = load(images_app.work)
        env = config.environment("local")
        echoed: list[str] = []
        runner = Runner(log_path=images_app.work / ".shipyard" / "logs" / "commands.log",
                        echo=echoed.append)
        local = Local(images_app, config, env, runner,
                      LocalTarget(RunContext(config, env, runner)), canary, echoed)
        made.append(local)
        return local

    yield make
    for local in made:
        local.target.proxy.down()
        names = [str(c["Name"]).lstrip("/") for c in local.containers()]
        if names:
            docker("rm", "--force", *names)
    remove_tags(f"reference=127.0.0.1:{registry.port}/demo/*")


def test_switch_and_rollback_fail_no_request(make_local: Callable[..., Local]) -> None:
    local = make_local()
    v1, v2 = local.images(V1), local.images(V2)
    first = local.deploy(V1, v1)
    print(f"\ntiming: first two-service deploy (new containers, proxy start): {first:.2f}s")

    local.echoed.clear()
    with Load(list(local.ports.values()), slow=1, slow_path="/cgi-bin/slow?0.5",
              pause=0.01) as load:
        switch = local.deploy(V2, v2)
    print(f"timing: two-service deploy v1 -> v2 under load: {switch:.2f}s, "
          f"{load.rate():.0f} req/s")
    load.check_switch("v1.0.0", "v2.0.0")
    assert load.last() == ["v2.0.0", "v2.0.0"]
    assert len([line for line in local.echoed if line.endswith("-s reload")]) == 1
    local.verify(V2)

    local.echoed.clear()
    local.deploy(V2, v2)  # a rerun finds v2 serving: nothing restarts, nothing reloads
    assert local.echoed == []

    kept = {name: [r.name for r in revisions if r.version == "v1.0.0"]
            for name, revisions in local.target.kept().items()}
    assert all(len(names) == 1 for names in kept.values()), kept
    assert {state(names[0]) for names in kept.values()} == {"paused"}  # the warm standby
    created = {name: docker("inspect", "--format", "{{.Created}}", names[0])
               for name, names in kept.items()}
    local.echoed.clear()
    with Load(list(local.ports.values()), slow=1, slow_path="/cgi-bin/slow?0.5",
              pause=0.01) as load:
        rollback = local.deploy(V1, v1)
    print(f"timing: two-service rollback v2 -> v1 under load: {rollback:.2f}s, "
          f"{load.rate():.0f} req/s")
    load.check_switch("v2.0.0", "v1.0.0")
    assert load.last() == ["v1.0.0", "v1.0.0"]
    assert rollback < ROLLBACK_BAR
    verbs = [line.split()[1] for line in local.echoed if "docker" in line.split()[0]]
    assert verbs == ["unpause", "unpause", "pause"], local.echoed  # no start, stop or run
    current = local.target.current()
    assert {name: r.name for name, r in current.items()} == {n: k[0] for n, k in kept.items()}
    assert {name: docker("inspect", "--format", "{{.Created}}", r.name)
            for name, r in current.items()} == created
    assert {r.version for r in current.values()} == {"v1.0.0"}
    assert current["alpha"].url == f"http://127.0.0.1:{local.ports['alpha']}"
    assert current["alpha"].image == v1["alpha"]
    assert {state(r.name) for r in current.values()} == {"running"}
    v2_names = [c["Name"] for c in local.containers("dev.shipyard.version=v2.0.0")]
    assert {state(str(n).lstrip("/")) for n in v2_names} == {"paused"}, v2_names


def test_failed_health_check_leaves_traffic_alone(make_local: Callable[..., Local]) -> None:
    local = make_local()
    local.deploy(V2, local.images(V2))
    (local.app.work / "alpha" / "Dockerfile").write_text(BROKEN_DOCKERFILE)
    local.app.git("commit", "-q", "-am", "alpha loses /healthz")
    broken = local.images(V3)

    with Load(list(local.ports.values())) as load, pytest.raises(DeployError) as failure:
        local.deploy(V3, broken)
    assert failure.value.service == "alpha"
    assert "/healthz" in failure.value.message and "health check" in failure.value.message
    assert "alpha starting without /healthz token=***" in failure.value.logs
    leaked = local.canary in failure.value.logs
    assert not leaked, "the secret reached the log tail unmasked"
    assert load.failures() == [] and set(load.everything()) == {"v2.0.0"}
    local.verify(V2)
    assert {r.version for r in local.target.current().values()} == {"v2.0.0"}
    assert local.containers("dev.shipyard.version=v3.0.0") == []
    running = [c for c in local.containers() if c["State"]["Running"]]  # type: ignore[index]
    assert len(running) == 2


def _proc_cmdlines_watch(needle: bytes, stop: threading.Event, hits: list[int]) -> None:
    deadline = time.monotonic() + 120
    while not stop.is_set() and time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if needle in (entry / "cmdline").read_bytes():
                        hits.append(int(entry.name))
                except OSError:
                    pass


def test_secret_reaches_the_container_and_nothing_else(make_local: Callable[..., Local],
                                                       capfd: pytest.CaptureFixture[str]
                                                       ) -> None:
    local = make_local()
    images = local.images(V1)
    capfd.readouterr()
    stop, hits = threading.Event(), []
    watcher = threading.Thread(target=_proc_cmdlines_watch,
                               args=(local.canary.encode(), stop, hits), daemon=True)
    watcher.start()
    try:
        local.deploy(V1, images)
    finally:
        stop.set()
        watcher.join()
    printed = capfd.readouterr()
    needle = local.canary
    assert hits == [], "a process had the secret on its command line"
    assert not any(needle in text for text in (printed.out, printed.err, *local.echoed))
    secrets_file = local.app.work / ".shipyard" / "secrets" / "local.env"
    for path in (local.app.work / ".shipyard").rglob("*"):
        if path.is_file() and path != secrets_file:
            found = needle.encode() in path.read_bytes()
            assert not found, f"the secret is in {path}"
    runs = [line for line in local.echoed if " run --detach " in line]
    # Values reach docker through its environment: the command names CANARY_TOKEN, no value,
    # and no env file exists that a kill -9 could leave behind.
    assert any("--env CANARY_TOKEN" in line for line in runs), runs
    assert not any("--env-file" in line or "CANARY_TOKEN=" in line for line in runs), runs

    alpha = local.target.current()["alpha"].name
    argv = docker("inspect", "--format",
                  "{{json .Path}}{{json .Args}}{{json .Config.Cmd}}{{json .Config.Entrypoint}}",
                  alpha)
    on_argv = needle in argv
    assert not on_argv, "the secret is in the container's command"
    inside = docker("exec", alpha, "env").splitlines()
    has_secret = f"CANARY_TOKEN={needle}" in inside
    assert has_secret, "the container did not get its secret"
    assert "VIDEO_GENERATION_ENABLED=true" in inside


def test_keeps_only_the_newest_stopped_revisions(make_local: Callable[..., Local]) -> None:
    """One revision serves; the one it replaced is paused; older ones are stopped, and
    `keep_revisions` of the ones not serving are kept."""
    local = make_local(keep=2)
    expected = [["running"], ["paused", "running"], ["exited", "paused", "running"],
                ["exited", "paused", "running"]]  # v4 serves, v3 paused, v2 stopped, v1 gone
    for version, states in zip((V1, V2, V3, V4), expected, strict=True):
        local.deploy(version, local.images(version))
        for service in ("alpha", "beta"):
            found = local.containers(f"dev.shipyard.service={service}")
            assert sorted(c["State"]["Status"] for c in found  # type: ignore[index]
                          ) == states, (version, service)
    kept = local.target.kept()
    assert {name: [r.version for r in revisions] for name, revisions in kept.items()} == {
        "alpha": ["v3.0.0", "v2.0.0"], "beta": ["v3.0.0", "v2.0.0"]}


def test_local_up_twice_then_down(make_local: Callable[..., Local],
                                  registry: LocalRegistryProcess) -> None:
    local = make_local()
    local.deploy(V1, local.images(V1))
    registry.stop()  # from here on the registry is local-up's own

    up = invoke(local.app.work, "local-up")
    assert up.code == 0, up.text
    assert "local registry: started" in up.err and "nginx already running" in up.err
    again = invoke(local.app.work, "local-up")
    assert again.code == 0, again.text
    assert "already answering" in again.err and "already running" in again.err
    assert "→" not in again.err  # not one state-changing command

    pid = local.target.proxy.master_pid()
    assert pid is not None
    down = invoke(local.app.work, "local-down")
    assert down.code == 0, down.text
    assert local.target.proxy.master_pid() is None
    assert not Path(f"/proc/{pid}/cmdline").exists() or not Path(
        f"/proc/{pid}/cmdline").read_bytes()
    assert local.containers() == []
    for port in (registry.port, *local.ports.values()):
        with pytest.raises(OSError):
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                f"http://127.0.0.1:{port}/", timeout=2)
    assert "local registry: stopped" in down.err


def test_dry_run_deploy_runs_nothing(make_local: Callable[..., Local], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    local = make_local()
    images = local.images(V1)
    plan = local.plan(V1, images)  # bindings: names and versions, never a value
    assert [b.env for b in plan.services[0].secrets] == ["CANARY_TOKEN"]
    assert local.canary not in repr(plan)
    temp = tmp_path / "temp"  # where an env file of the deploy would be written
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    environ = dict(os.environ)
    dry = Runner(dry_run=True)
    local.deploy(V1, images, target=LocalTarget(RunContext(local.config, local.env, dry)))
    verbs = [" ".join(argv[1:3]) for argv in dry.planned]
    assert any(v.startswith("run --detach") for v in verbs), dry.planned
    assert any("-s reload" in " ".join(argv) for argv in dry.planned)
    assert local.containers() == [] and local.target.proxy.master_pid() is None
    assert not any(local.canary in " ".join(argv) for argv in dry.planned)
    # The value was never put anywhere: not in this process's environment, not in a file.
    assert dict(os.environ) == environ
    assert list(temp.iterdir()) == []


def test_a_taken_proxy_port_is_named(make_local: Callable[..., Local]) -> None:
    local = make_local()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", local.ports["beta"]))
        squatter.listen()
        ran = invoke(local.app.work, "local-up")
    assert ran.code == 1, ran.text
    assert f"proxy port already taken by another program: {local.ports['beta']} (beta)" in ran.err
    assert "hint: stop that program, or pick other proxy_ports" in ran.err
    assert "Traceback" not in ran.text and local.target.proxy.master_pid() is None


def test_deploy_pulls_a_missing_image_by_digest(make_local: Callable[..., Local]) -> None:
    local = make_local()
    images = local.images(V1)
    for pinned in images.values():
        image_id = docker("image", "inspect", "--format", "{{.Id}}", pinned).strip()
        docker("rmi", "--force", image_id)
    local.deploy(V1, images)
    local.verify(V1)
    assert {name: r.image for name, r in local.target.current().items()} == images


def test_a_request_longer_than_the_drain_bound(make_local: Callable[..., Local],
                                               monkeypatch: pytest.MonkeyPatch,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    """The switch waits for the old nginx worker for at most DRAIN_SECONDS + 5 s. A request
    still in flight then holds it longer: the switch says so and goes on, and the request is
    cut when its revision is stopped. (The old worker runs with the config it started with,
    worker_shutdown_timeout 30s; this deploy's bound is lowered to 1 + 5 s.)"""
    local = make_local()
    v1, v2 = local.images(V1), local.images(V2)
    local.deploy(V1, v1)
    monkeypatch.setattr(proxy_module, "DRAIN_SECONDS", 1)
    answers: list[object] = []

    def slow_request() -> None:
        try:
            answers.append(http_get(local.ports["alpha"], "/cgi-bin/slow?20", timeout=40))
        except Exception as exc:  # noqa: BLE001 - what the client saw is the result
            answers.append(f"{type(exc).__name__}: {exc}")

    client = threading.Thread(target=slow_request, daemon=True)
    client.start()
    time.sleep(1.0)  # in flight on the old worker, answered by the v1 revision
    capfd.readouterr()
    took = local.deploy(V2, v2)
    err = capfd.readouterr().err
    client.join(timeout=40)
    assert "local proxy: old nginx workers still busy after 1s" in err, err
    assert 6.0 <= took < 10.0, took  # the bound, plus starting and stopping revisions
    assert answers and answers[0] != (200, "v1.0.0"), answers  # cut, not answered
    assert all(http_get(port) == (200, "v2.0.0") for port in local.ports.values())
