"""Fixtures shared by every tier: real git repos with bare remotes, and running the CLI.

Missing real components (tools, the Docker engine, the base image, test-only modules) go
through one place, `missing_component`: under CI=true the test FAILS naming what is missing
and how to install it; elsewhere it is skipped, and the run ends with a SKIPPED banner.
A CI run that skipped anything at all fails (pytest_terminal_summary below).
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

from tests.support.apps import images_app_config
from tests.support.cli import Ran as Ran  # re-exported: the tests import it from here
from tests.support.cli import invoke as invoke  # re-exported likewise
from tests.support.git import GIT_IDENTITY, git, publish
from tests.support.ports import free_port
from tests.support.registry import LocalRegistryProcess

BOOTSTRAP = "bash scripts/bootstrap.sh"
BASE_IMAGE = "shipyard/busybox:1"
CI_VALUES = ("true", "1", "yes")


def in_ci() -> bool:
    """CI=true (also 1 or yes, any case): gaps in the environment fail instead of skipping."""
    return os.environ.get("CI", "").strip().lower() in CI_VALUES


def missing_component(what: str, install: str) -> NoReturn:
    """The one decision for a test whose real component is not there: fail in CI, else skip."""
    message = f"{what}; install: {install}"
    if in_ci():
        pytest.fail(f"CI=true and a required component is missing: {message}", pytrace=False)
    pytest.skip(message)


def require_tool(name: str, why: str, install: str = BOOTSTRAP,
                 also_in: Iterable[str] = ()) -> str:
    """Path of the real program NAME (PATH, then the folders in `also_in`), or a gap."""
    found = shutil.which(name)
    for folder in also_in:
        found = found or shutil.which(name, path=folder)
    if found is None:
        missing_component(f"{name} not found ({why})", install)
    return found


def require_module(name: str, why: str, install: str) -> ModuleType:
    """An importable test-only Python module (replaces pytest.importorskip), or a gap."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing_component(f"Python module {name} cannot be imported ({why}): {exc}", install)


def require_docker_engine(why: str, base_image: bool = True) -> str:
    """The docker client, once an engine answers (and the base image is there), or a gap."""
    docker = require_tool("docker", why)
    done = subprocess.run((docker, "version", "--format", "{{.Server.Version}}"),
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        last = (done.stderr.strip().splitlines() or ["no answer"])[-1]
        missing_component(f"no Docker engine answers ({why}): {last}",
                          f"{BOOTSTRAP} (starts dockerd)")
    if base_image:
        done = subprocess.run((docker, "image", "inspect", BASE_IMAGE), capture_output=True,
                              text=True, timeout=60, check=False)
        if done.returncode != 0:
            missing_component(f"base image {BASE_IMAGE} missing ({why})",
                              f"{BOOTSTRAP} (seeds it)")
    return docker


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr)
    return reason.removeprefix("Skipped: ")


_SESSION = pytest.StashKey[pytest.Session]()


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_SESSION] = session


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    """A loud banner for skipped tests; under CI=true a skip fails the run."""
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if not hasattr(r, "wasxfail")]
    if not skipped:
        return
    reasons = Counter(_skip_reason(r) for r in skipped)
    noun = "test" if len(skipped) == 1 else "tests"
    terminalreporter.write_sep("!", f"SKIPPED: {len(skipped)} {noun}", red=True, bold=True)
    for reason, count in reasons.most_common():
        terminalreporter.write_line(f"  {count} x {reason}", red=True)
    if in_ci():
        terminalreporter.write_line(
            "CI=true: skipped tests fail the run (a skip would hide a gap); install what is "
            "missing (scripts/bootstrap.sh, pip install -e '.[dev,trivy]')", red=True, bold=True)
        session = config.stash.get(_SESSION, None)
        if session is not None and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

MINIMAL_CONFIG = """\
[project]
name = "demo"
tag_message = "Release {version}"
protected_branches = ["main", "develop", "release/*"]

[services.web]
context = "web"
port = 8080

[environments.local]
target = "local"
proxy_ports = { web = 18080 }
"""


def pytest_configure(config: pytest.Config) -> None:
    """No test may reach a Google service or this machine's gcloud login: google-auth and
    gcloud must not probe a GCE metadata server (169.254.169.254 is not ours to ask), and
    gcloud reads a throwaway config unless a test gives it a hermetic one of its own."""
    import tempfile

    os.environ["NO_GCE_CHECK"] = "true"
    os.environ["CLOUDSDK_CORE_CHECK_GCE_METADATA"] = "false"
    os.environ.setdefault("CLOUDSDK_CONFIG", tempfile.mkdtemp(prefix="shipyard-gcloud-"))
    os.environ["CLOUDSDK_CORE_DISABLE_PROMPTS"] = "1"


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)


@dataclass
class AppRepo:
    work: Path
    remote: Path

    def git(self, *args: str) -> str:
        return git(self.work, *args)

    def remote_refs(self) -> str:
        """Every ref on the remote with its object id: compared byte for byte in tests."""
        return git(self.remote, "for-each-ref", "--format=%(objectname) %(refname)")

    def commit(self, name: str, content: str = "x\n", message: str | None = None) -> str:
        path = self.work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        self.git("add", name)
        self.git("commit", "-q", "-m", message or f"change {name}")
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def app_repo(tmp_path: Path) -> Iterator[AppRepo]:
    """A small app repo on main, pushed to a bare remote named origin."""
    require_tool("git", "the app repo and its bare remote are real git repos",
                 install=f"apt-get install git ({BOOTSTRAP} does it)")
    remote = tmp_path / "remote.git"
    work = tmp_path / "app"
    (work / "web").mkdir(parents=True)
    (work / "web" / "Dockerfile").write_text("FROM scratch\n")
    (work / "shipyard.toml").write_text(MINIMAL_CONFIG)
    (work / "tasks.py").write_text("from shipyard.tasks import ns  # noqa: F401\n")
    (work / ".gitignore").write_text(".shipyard/\n")
    publish(work, remote, "initial")
    yield AppRepo(work, remote)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[LocalRegistryProcess]:
    require_tool("docker-registry", "the tests push to a real local registry")
    reg = LocalRegistryProcess(tmp_path / "registry")
    reg.start()
    yield reg
    reg.stop()


SERVICE_DOCKERFILE = """\
FROM shipyard/busybox:1
ARG VERSION=dev
RUN mkdir -p /www && echo "$VERSION" > /www/version && echo ok > /www/healthz
COPY content.txt /www/content.txt
USER 65534
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""


@pytest.fixture
def images_app(app_repo: AppRepo, registry: LocalRegistryProcess) -> AppRepo:
    """The app repo with two busybox services and a config pointing at the test registry."""
    require_docker_engine("the services are built FROM the base image by the real engine")
    services = {"alpha": free_port(), "beta": free_port()}
    for name in services:
        (app_repo.work / name).mkdir()
        (app_repo.work / name / "Dockerfile").write_text(SERVICE_DOCKERFILE)
        (app_repo.work / name / "content.txt").write_text(f"{name} {app_repo.work}\n")
    (app_repo.work / "shipyard.toml").write_text(images_app_config(registry.port, services))
    app_repo.git("rm", "-q", "-r", "web")
    app_repo.git("add", "-A")
    app_repo.git("commit", "-q", "-m", "two services")
    app_repo.git("push", "-q", "origin", "main")
    return app_repo
