"""Docker client detection: BuildKit is detected, not assumed, and the probe is remembered."""

from __future__ import annotations

import os
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shipyard.exec import tools
from shipyard.exec.runner import Runner


def fake_docker(tmp_path: Path, name: str, version: str, buildx: bool) -> Path:
    """A stand-in docker CLI that answers the probe and counts how often it was asked."""
    script = tmp_path / name
    calls = tmp_path / f"{name}.calls"
    script.write_text(
        "#!/bin/sh\n"
        f"echo \"$@\" >> {calls}\n"
        f"if [ \"$1\" = buildx ]; then exit {0 if buildx else 1}; fi\n"
        f"echo {version}\n"
    )
    script.chmod(0o755)
    return script


@pytest.fixture(autouse=True)
def _fresh_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tools._probe.cache_clear()


def test_old_client_has_builtin_buildkit_new_one_needs_buildx(tmp_path: Path) -> None:
    old = fake_docker(tmp_path, "docker20", "20.10.24", buildx=False)
    new = fake_docker(tmp_path, "docker28", "28.2.2", buildx=False)
    newx = fake_docker(tmp_path, "docker28x", "28.2.2", buildx=True)
    assert tools._probe(str(old)) == tools.DockerClient(str(old), "20.10.24", True)
    assert tools._probe(str(new)) == tools.DockerClient(str(new), "28.2.2", False)
    assert tools._probe(str(newx)) == tools.DockerClient(str(newx), "28.2.2", True)


def test_probe_is_remembered_until_the_binary_changes(tmp_path: Path) -> None:
    docker = fake_docker(tmp_path, "docker", "28.2.2", buildx=True)
    calls = tmp_path / "docker.calls"
    first = tools._probe(str(docker))
    asked = calls.read_text().count("\n")
    tools._probe.cache_clear()  # a new process: only the file cache is left
    assert tools._probe(str(docker)) == first
    assert calls.read_text().count("\n") == asked  # not asked again

    fake_docker(tmp_path, "docker", "29.0.0", buildx=True)  # upgraded in place
    os.utime(docker, ns=(1, 1))
    tools._probe.cache_clear()
    assert tools._probe(str(docker)) == tools.DockerClient(str(docker), "29.0.0", True)


def test_unprobed_clients_are_those_without_a_remembered_probe(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docker = fake_docker(tmp_path, "docker", "28.2.2", buildx=True)
    monkeypatch.setenv("SHIPYARD_DOCKER", str(docker))
    assert tools.unprobed_clients() == [str(docker)]
    tools._probe(str(docker))
    assert tools.unprobed_clients() == []


def test_unreadable_cache_is_ignored(tmp_path: Path) -> None:
    docker = fake_docker(tmp_path, "docker", "20.10.24", buildx=False)
    cache = tmp_path / "cache" / "shipyard" / "docker-clients.json"
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    assert tools._probe(str(docker)) == tools.DockerClient(str(docker), "20.10.24", True)


@contextmanager
def engine_stand_in(path: Path, status: bytes) -> Iterator[list[bytes]]:
    """A unix socket answering every request with `status`; yields the requests it got."""
    seen: list[bytes] = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            seen.append(self.rfile.readline())
            self.wfile.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\n\r\nOK")

    server = socketserver.UnixStreamServer(str(path), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def plain_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    return tmp_path / "docker-config"


def test_engine_socket_follows_docker_host_and_contexts(
        plain_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert tools.engine_socket() == "/var/run/docker.sock"
    plain_env.mkdir()
    (plain_env / "config.json").write_text('{"currentContext": "rootless"}')
    assert tools.engine_socket() is None  # only the CLI knows where that context points
    (plain_env / "config.json").write_text('{"currentContext": "default"}')
    assert tools.engine_socket() == "/var/run/docker.sock"
    monkeypatch.setenv("DOCKER_CONTEXT", "remote")
    assert tools.engine_socket() is None
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/user/1000/docker.sock")
    assert tools.engine_socket() == "/run/user/1000/docker.sock"
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2376")
    assert tools.engine_socket() is None


def test_an_engine_that_answers_ping_needs_no_cli_call(
        tmp_path: Path, plain_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docker = fake_docker(tmp_path, "docker", "20.10.24", buildx=False)
    sock = tmp_path / "engine.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    with engine_stand_in(sock, b"200 OK") as seen:
        assert tools.engine_answers(str(docker), Runner())
    assert seen == [b"GET /_ping HTTP/1.0\r\n"]
    assert not (tmp_path / "docker.calls").exists()


def test_when_ping_fails_the_cli_decides(
        tmp_path: Path, plain_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = fake_docker(tmp_path, "docker", "20.10.24", buildx=False)
    broken = tmp_path / "broken-docker"
    broken.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    broken.chmod(0o755)
    sock = tmp_path / "engine.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    with engine_stand_in(sock, b"500 Internal Server Error"):
        assert tools.engine_answers(str(answers), Runner())
        assert (tmp_path / "docker.calls").read_text() == "version --format {{.Server.Version}}\n"
        assert not tools.engine_answers(str(broken), Runner())
    # No socket at all: still the CLI's answer, not an exception.
    assert not tools.engine_answers(str(broken), Runner())


def fake_trivy(tmp_path: Path, version: str) -> Path:
    script = tmp_path / "trivy"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'trivy.calls'}\n"
                      f"echo '{{\"Version\": \"{version}\"}}'\n")
    script.chmod(0o755)
    return script


def test_trivy_version_is_asked_once_per_binary(tmp_path: Path) -> None:
    from shipyard.scan.trivy import trivy_version

    trivy = fake_trivy(tmp_path, "0.76.0")
    calls = tmp_path / "trivy.calls"
    assert trivy_version(Runner(), str(trivy)) == "0.76.0"
    assert trivy_version(Runner(), str(trivy)) == "0.76.0"  # a second stage, or a new run
    assert calls.read_text().count("version") == 1

    fake_trivy(tmp_path, "0.77.1")  # replaced in place: another size, another mtime
    os.utime(trivy, ns=(1, 1))
    assert trivy_version(Runner(), str(trivy)) == "0.77.1"  # the scan memo sees the new one
    assert calls.read_text().count("version") == 2


def test_a_binary_that_is_gone_leaves_the_remembered_versions(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    gone = fake_trivy(tmp_path / "old", "0.1.0")
    tools.remembered_version(str(gone), lambda: "0.1.0")
    gone.unlink()
    kept = fake_trivy(tmp_path, "0.76.0")
    tools.remembered_version(str(kept), lambda: "0.76.0")
    remembered = (tmp_path / "cache" / "shipyard" / "tool-versions.json").read_text()
    assert str(tmp_path / "old") not in remembered and str(kept) in remembered
