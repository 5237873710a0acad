"""Read-only image look-ups: on the engine's socket when the client uses the default one (about
2 ms each), else with the docker CLI (a process start, about 30 ms each).

Both answer in the shape of `docker image inspect`'s JSON objects (Id, RepoTags, Size,
Config.Labels). When the socket fails (closed, timed out, an error status), the CLI answers
instead.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from shipyard.commands import docker as dockercmd
from shipyard.exec.runner import Runner
from shipyard.exec.tools import DockerClient

TIMEOUT = 30.0


class EngineError(Exception):
    """The socket did not give a usable answer (closed, timed out, not JSON, an error status)."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("docker", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def get_json(path: str, url: str, *, missing_ok: bool = False) -> Any:
    """GET `url` on the engine socket at `path`; None for a 404 when `missing_ok`."""
    conn = _UnixConnection(path, TIMEOUT)
    try:
        conn.request("GET", url, headers={"Host": "docker"})
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise EngineError(f"GET {url}: {exc}") from None
    finally:
        conn.close()
    if response.status == 404 and missing_ok:
        return None
    if response.status != 200:
        raise EngineError(f"GET {url}: HTTP {response.status}")
    try:
        return json.loads(body)
    except ValueError:
        raise EngineError(f"GET {url}: not JSON") from None


def _engine_inspect(path: str, refs: Sequence[str]) -> list[dict[str, Any]]:
    found = [get_json(path, f"/images/{quote(ref, safe='/:@')}/json", missing_ok=True)
             for ref in refs]
    return [dict(d) for d in found if isinstance(d, dict)]


def inspect(docker: DockerClient, runner: Runner, refs: Sequence[str]) -> list[dict[str, Any]]:
    """`docker image inspect REFS...`: one object per ref found; a missing ref is left out."""
    if not refs:
        return []
    if docker.socket_path is not None:
        try:
            return _engine_inspect(docker.socket_path, refs)
        except EngineError:
            pass  # the CLI's answer below
    return _cli_inspect(docker, runner, refs)


def _cli_inspect(docker: DockerClient, runner: Runner, refs: Sequence[str]
                 ) -> list[dict[str, Any]]:
    if not refs:
        return []
    out = runner.run(dockercmd.inspect_images(docker.path, list(refs)), mutates=False,
                     check=False).stdout
    return [dict(d) for d in json.loads(out or "[]")]


def with_label(docker: DockerClient, runner: Runner, label: str, value: str
               ) -> list[dict[str, Any]]:
    """Every local image labelled `label=value`, inspected (`docker images --filter` +
    `docker image inspect`; on the socket one request answers both)."""
    if docker.socket_path is not None:
        filters = quote(json.dumps({"label": [f"{label}={value}"]}))
        try:
            listed = get_json(docker.socket_path, f"/images/json?filters={filters}")
            if isinstance(listed, list):
                return [_as_inspected(d) for d in listed if isinstance(d, dict)]
        except EngineError:
            pass
    argv = dockercmd.images_with_label(docker.path, label, value)
    ids = sorted(set(runner.run(argv, mutates=False).stdout.split()))
    return _cli_inspect(docker, runner, ids)


def _as_inspected(summary: dict[str, Any]) -> dict[str, Any]:
    """An /images/json summary in `docker image inspect`'s shape (the fields shipyard reads)."""
    tags = [t for t in summary.get("RepoTags") or () if t != "<none>:<none>"]
    return {"Id": summary.get("Id"), "RepoTags": tags, "Size": summary.get("Size"),
            "Config": {"Labels": dict(summary.get("Labels") or {})}}
