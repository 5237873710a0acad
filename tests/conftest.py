"""Fixtures shared by every tier: real git repos with bare remotes, and running the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Release Bot",
    "GIT_AUTHOR_EMAIL": "release@example.test",
    "GIT_COMMITTER_NAME": "Release Bot",
    "GIT_COMMITTER_EMAIL": "release@example.test",
}

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


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_IDENTITY}
    done = subprocess.run(("git", *args), cwd=cwd, env=env, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


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
    remote = tmp_path / "remote.git"
    work = tmp_path / "app"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    (work / "web").mkdir()
    (work / "web" / "Dockerfile").write_text("FROM scratch\n")
    (work / "shipyard.toml").write_text(MINIMAL_CONFIG)
    (work / "tasks.py").write_text("from shipyard.tasks import ns  # noqa: F401\n")
    (work / ".gitignore").write_text(".shipyard/\n")
    repo = AppRepo(work, remote)
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "initial")
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", "main")
    yield repo


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def invoke(cwd: Path, *args: str, env: dict[str, str] | None = None,
           timeout: float = 300) -> Ran:
    """Run `invoke ARGS` as a user would, in `cwd`, with this interpreter's shipyard."""
    full_env = {**os.environ, **GIT_IDENTITY, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    done = subprocess.run((sys.executable, "-m", "invoke", *args), cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    return Ran(done.returncode, done.stdout, done.stderr)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalRegistryProcess:
    """A real CNCF distribution registry (Debian docker-registry) on a free loopback port."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import time
        import urllib.request

        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {self.home / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n"
        )
        log = (self.home / "registry.log").open("ab")
        self.proc = subprocess.Popen(("docker-registry", "serve", str(config)), stdout=log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/v2/", timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"registry did not start on {self.url}; see {self.home}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def delete_manifest(self, repo: str, digest: str) -> None:
        """DELETE /v2/REPO/manifests/DIGEST (the registry runs with delete enabled)."""
        import urllib.request

        request = urllib.request.Request(f"{self.url}/v2/{repo}/manifests/{digest}",
                                         method="DELETE")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 202, response.status

    def digest(self, repo: str, tag: str) -> str | None:
        """Docker-Content-Digest straight from the registry API (not through shipyard)."""
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            f"{self.url}/v2/{repo}/manifests/{tag}", method="HEAD",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                               "application/vnd.oci.image.manifest.v1+json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return str(response.headers["Docker-Content-Digest"])
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[LocalRegistryProcess]:
    reg = LocalRegistryProcess(tmp_path / "registry")
    reg.start()
    yield reg
    reg.stop()


def images_app_config(registry_port: int, services: dict[str, int], project: str = "demo") -> str:
    lines = [f'[project]\nname = "{project}"\n']
    for name in services:
        lines.append(f'[services.{name}]\ncontext = "{name}"\nport = 8080\n')
    lines.append('[scan]\nscanners = ["secret", "misconfig"]\n')
    ports = ", ".join(f"{name} = {port}" for name, port in services.items())
    lines.append(f'[environments.local]\ntarget = "local"\nregistry_port = {registry_port}\n'
                 f"proxy_ports = {{ {ports} }}\n")
    return "\n".join(lines)


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
