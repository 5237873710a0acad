"""Docker client detection: BuildKit is detected, not assumed, and the probe is remembered."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipyard import tools


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


def test_unreadable_cache_is_ignored(tmp_path: Path) -> None:
    docker = fake_docker(tmp_path, "docker", "20.10.24", buildx=False)
    cache = tmp_path / "cache" / "shipyard" / "docker-clients.json"
    cache.parent.mkdir(parents=True)
    cache.write_text("{not json")
    assert tools._probe(str(docker)) == tools.DockerClient(str(docker), "20.10.24", True)
