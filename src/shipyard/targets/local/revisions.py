"""Revision containers of the local environment: found by label, started with their env.

A revision is one container running one image digest with one set of settings (env vars and
secrets). Values reach docker through its process environment (`--env NAME`): never on argv,
never in a file that a kill -9 could leave behind. Containers are found by their labels, never
by name patterns; the root label keeps two checkouts of the same project on one machine apart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.build.images import SERVICE_LABEL
from shipyard.commands import docker_containers as dc
from shipyard.exec.runner import Runner

ROOT_LABEL = "dev.shipyard.root"
ENV_LABEL = "dev.shipyard.env"
VERSION_LABEL = "dev.shipyard.version"
DIGEST_LABEL = "dev.shipyard.digest"
SETTINGS_LABEL = "dev.shipyard.settings"  # keyed hash of the env vars, never the values
NEVER = "0001-01-01T00:00:00Z"  # docker's FinishedAt of a container that never stopped


@dataclass(frozen=True)
class Container:
    """`running`: its processes run (docker's State.Running, which is also true of a paused
    container, and not State.Paused). `paused`: frozen by `docker pause` (a warm standby)."""

    name: str
    image: str
    running: bool
    status: str
    exit_code: int
    finished: str
    labels: dict[str, str] = field(default_factory=dict)
    ports: dict[str, Any] = field(default_factory=dict)
    paused: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Container:
        paused = bool(data.get("paused"))
        return cls(name=str(data["name"]).lstrip("/"), image=str(data["image"]),
                   running=bool(data["running"]) and not paused, paused=paused,
                   status=str(data["status"]),
                   exit_code=int(data["exit_code"]), finished=str(data["finished"]),
                   labels=dict(data.get("labels") or {}), ports=dict(data.get("ports") or {}))

    @property
    def service(self) -> str:
        return self.labels.get(SERVICE_LABEL, "")

    def host_port(self, container_port: int) -> int | None:
        for binding in self.ports.get(f"{container_port}/tcp") or []:
            if binding.get("HostIp") == dc.LOOPBACK and binding.get("HostPort"):
                return int(binding["HostPort"])
        return None


PENDING_KEY = "x" * 64  # a dry run before this checkout's first deploy has no key yet


def settings_hash(key_file: Path, env: Mapping[str, str], *, create: bool = True) -> str:
    """Same env vars → same hash. Keyed (HMAC, key 0600 under .shipyard/), so the hash in a
    container label or name cannot be used to test guesses of a secret. Without `create` (a
    dry run) a missing key is not made: the plan shows PENDING_KEY's x's instead."""
    if not key_file.exists():
        if not create:
            return PENDING_KEY
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    key = key_file.read_text().strip().encode()
    body = json.dumps(sorted(env.items())).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


class Containers:
    """docker commands on this app's and environment's revision containers."""

    def __init__(self, runner: Runner, docker: str, scope: Mapping[str, str]) -> None:
        self.runner = runner
        self.docker = docker
        self.scope = dict(scope)

    def all(self) -> list[Container]:
        ids = self.runner.run(dc.ps(self.docker, self.scope), mutates=False).stdout.split()
        return self._inspect(ids) if ids else []

    def get(self, name: str) -> Container | None:
        found = self._inspect([name], check=False)
        return found[0] if found and found[0].labels.get(ROOT_LABEL) == self.scope[
            ROOT_LABEL] else None

    def _inspect(self, refs: Sequence[str], check: bool = True) -> list[Container]:
        result = self.runner.run(dc.inspect(self.docker, refs), mutates=False, check=check)
        if not result.ok:
            return []
        return [Container.from_json(json.loads(line)) for line in result.stdout.splitlines()
                if line.strip()]

    def create(self, name: str, image: str, port: int, labels: Mapping[str, str],
               env: Mapping[str, str]) -> None:
        argv = dc.run(self.docker, name=name, image=image, container_port=port,
                      labels={**self.scope, **labels}, env_names=list(env))
        self.runner.run(argv, env=env, timeout=300,
                        hint="is the local registry up (invoke local-up)?")

    def start(self, names: Sequence[str]) -> None:
        self._each(dc.start, names)

    def stop(self, names: Sequence[str]) -> None:
        self._each(dc.stop, names)

    def pause(self, names: Sequence[str]) -> None:
        self._each(dc.pause, names)

    def unpause(self, names: Sequence[str]) -> None:
        self._each(dc.unpause, names)

    def _each(self, command: Callable[[str, Sequence[str]], tuple[str, ...]],
              names: Sequence[str]) -> None:
        """One docker command for all `names` (none when there are none)."""
        if names:
            self.runner.run(command(self.docker, names), timeout=120)

    def remove(self, names: Sequence[str], force: bool = False) -> None:
        if names:
            self.runner.run(dc.remove(self.docker, names, force), check=False, timeout=120)

    def port(self, name: str, container_port: int) -> int:
        out = self.runner.run(dc.port(self.docker, name, container_port), mutates=False).stdout
        return int(out.split()[0].rsplit(":", 1)[1])

    def logs(self, name: str, tail: int = 40) -> str:
        result = self.runner.run(dc.logs(self.docker, name, tail), mutates=False, check=False)
        return self.runner.redactor((result.stdout + result.stderr).strip())
