"""Finds the external tools and what they can do on this machine: detected, never assumed."""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from shipyard.commands import docker as dockercmd
from shipyard.errors import ShipyardError
from shipyard.exec.runner import Runner

# Debian's docker.io client may sit behind another client that lacks buildx (TOOLING-FACTS).
DOCKER_CANDIDATES = ("docker", "/usr/bin/docker", "/usr/local/bin/docker")
BUILDKIT_BUILTIN_BEFORE = 23  # clients before 23.0 ship BuildKit without the buildx plugin


@dataclass(frozen=True)
class DockerClient:
    path: str
    version: str
    buildkit: bool
    # The engine's socket when it answered /_ping and the client uses it too: read-only
    # look-ups go there (exec/engine.py) instead of starting the CLI. Never remembered.
    socket_path: str | None = field(default=None, compare=False)

    @property
    def build_env(self) -> dict[str, str]:
        return {"DOCKER_BUILDKIT": "1" if self.buildkit else "0"}

    @property
    def builder(self) -> str:
        return "BuildKit" if self.buildkit else "legacy builder"


def _candidates() -> list[str]:
    override = os.environ.get("SHIPYARD_DOCKER")
    names = [override] if override else list(DOCKER_CANDIDATES)
    found: list[str] = []
    for name in names:
        path = shutil.which(name)
        if path and Path(path).resolve() not in [Path(f).resolve() for f in found]:
            found.append(path)
    return found


def _major(version: str) -> int:
    try:
        return int(version.split(".")[0])
    except ValueError:
        return 0


def _cache_file(name: str = "docker-clients.json") -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "shipyard" / name


def _fingerprint(path: str) -> str:
    """Changes whenever the binary is replaced (upgrade, reinstall)."""
    stat = Path(path).resolve().stat()
    return f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def _cached(path: str) -> DockerClient | None | bool:
    """The remembered probe of this exact binary; False when there is none."""
    try:
        entry = json.loads(_cache_file().read_text()).get(_fingerprint(path))
    except (OSError, ValueError):
        return False
    if not isinstance(entry, dict):
        return False
    return DockerClient(path, str(entry["version"]), bool(entry["buildkit"])) \
        if entry.get("version") else None


def _remember(path: str, client: DockerClient | None) -> None:
    _store(_cache_file(), path, {"version": client.version, "buildkit": client.buildkit}
           if client else {})


def _store(file: Path, path: str, entry: object) -> None:
    """Remember `entry` for this exact binary in `file` (replaced atomically)."""
    try:
        known = json.loads(file.read_text()) if file.exists() else {}
        # Entries of binaries that are gone (uninstalled, a test's temp dir) are dropped.
        known = {k: v for k, v in known.items() if os.path.exists(k.rsplit(":", 2)[0])}
        known[_fingerprint(path)] = entry
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known))
        os.replace(tmp, file)
    except (OSError, ValueError):
        pass  # a cache only saves time; without it every task probes again


def remembered_version(path: str, probe: Callable[[], str]) -> str:
    """A tool's version answer, remembered per binary (path, size, mtime) across runs, like
    the docker client probes: a tool's version only changes when its binary does. `probe`
    runs when nothing is remembered (or the binary cannot be stat'ed: then nothing is kept)."""
    file = _cache_file("tool-versions.json")
    try:
        known = json.loads(file.read_text()).get(_fingerprint(path))
    except (OSError, ValueError, AttributeError):
        known = None
    if isinstance(known, str) and known:
        return known
    answer = probe()
    _store(file, path, answer)
    return answer


@cache
def _probe(path: str) -> DockerClient | None:
    # Each probe starts a process or two per task; the answer only changes with the binary.
    remembered = _cached(path)
    if remembered is not False:
        return remembered  # type: ignore[return-value]
    client = _run_probe(path)
    _remember(path, client)
    return client


def unprobed_clients() -> list[str]:
    """The candidate docker clients whose probe is not remembered: each task would start a
    probe (a process or two) for every one of them."""
    return [path for path in _candidates() if _cached(path) is False]


def _run_probe(path: str) -> DockerClient | None:
    runner = Runner()
    version = runner.run(dockercmd.client_version(path), mutates=False, check=False, timeout=20)
    if not version.ok:
        return None
    text = version.stdout.strip()
    if _major(text) < BUILDKIT_BUILTIN_BEFORE:
        return DockerClient(path, text, buildkit=True)
    buildx = runner.run(dockercmd.buildx_version(path), mutates=False, check=False, timeout=20)
    return DockerClient(path, text, buildkit=buildx.ok)


def tool_version(runner: Runner, argv: tuple[str, ...], what: str) -> str:
    """The first line a tool prints of its version; ShipyardError when it is not installed."""
    if shutil.which(argv[0]) is None:
        raise ShipyardError(f"{what} not found", hint="run scripts/bootstrap.sh")
    result = runner.run(argv, mutates=False, check=False, timeout=20)
    text = (result.stdout + result.stderr).strip().splitlines()
    return text[0] if text else "present"


def docker_client(runner: Runner) -> DockerClient:
    """The docker client to use: the first that does BuildKit, else the first that runs."""
    # Probed side by side: each probe is a process start or two, and they add up per task.
    with ThreadPoolExecutor(max_workers=len(DOCKER_CANDIDATES)) as pool:
        probes = [p for p in pool.map(_probe, _candidates()) if p is not None]
    if not probes:
        raise ShipyardError("no working docker client found",
                            hint="run scripts/bootstrap.sh (installs docker.io)")
    client = next((p for p in probes if p.buildkit), probes[0])
    path = engine_socket()
    if path is not None and ping_socket(path):
        return replace(client, socket_path=path)
    if not engine_answers(client.path, runner):
        raise ShipyardError("the Docker engine does not answer",
                            hint="run scripts/bootstrap.sh (starts dockerd), then rerun")
    return client


def engine_socket() -> str | None:
    """The engine's unix socket when the client would use the default one; else None (a remote
    DOCKER_HOST or a docker context, which only the CLI resolves)."""
    host = os.environ.get("DOCKER_HOST", "")
    if host:
        return host.removeprefix("unix://") if host.startswith("unix://") else None
    if os.environ.get("DOCKER_CONTEXT", "default") != "default":
        return None
    config = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    try:
        context = json.loads(config.read_text()).get("currentContext", "default")
    except (OSError, ValueError, AttributeError):
        context = "default"
    return "/var/run/docker.sock" if context in ("", "default") else None


def ping_socket(path: str, timeout: float = 5.0) -> bool:
    """GET /_ping on the engine's socket: ~1 ms, where `docker version` takes ~30 ms."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            status = sock.recv(32).split(b"\r\n", 1)[0].split()
    except OSError:
        return False
    return len(status) >= 2 and status[1] == b"200"


def engine_answers(docker: str, runner: Runner) -> bool:
    # The socket answers for the common case; anything else is the CLI's to judge.
    path = engine_socket()
    if path is not None and ping_socket(path):
        return True
    return runner.run(dockercmd.server_version(docker), mutates=False, check=False,
                      timeout=20).ok
