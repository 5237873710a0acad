"""The `local` deploy target: each service revision is a container on the local Docker engine,
behind nginx on a stable 127.0.0.1 port (targets/local_proxy.py), with Cloud Run-like
semantics: a deploy starts new revisions, checks each (health, then version), and only when all
passed switches traffic to all of them at once; old revisions are stopped and the newest
`keep_revisions` of them kept, so a rollback restarts a kept container instead of creating one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property

from shipyard.build.images import PROJECT_LABEL, SERVICE_LABEL
from shipyard.config import Config, Environment, Service
from shipyard.config.targets import LocalSettings
from shipyard.errors import ShipyardError, UsageError
from shipyard.exec.runner import Runner
from shipyard.exec.tools import docker_client
from shipyard.state.workspace import state_dir
from shipyard.targets.base import DeployError, Revision
from shipyard.targets.local.proxy import LocalProxy, Upstream
from shipyard.targets.local.registry import LocalRegistry
from shipyard.targets.local.revisions import (
    DIGEST_LABEL,
    ENV_LABEL,
    NEVER,
    ROOT_LABEL,
    SETTINGS_LABEL,
    VERSION_LABEL,
    Container,
    Containers,
    settings_hash,
)
from shipyard.targets.local.rollout import Plan, Rollout, http_get
from shipyard.ui import console
from shipyard.version import Version

PINNED = re.compile(r"[^@\s]+@(sha256:[0-9a-f]{64})")


class LocalTarget:
    def __init__(self, config: Config, env: Environment, runner: Runner) -> None:
        if env.local is None:
            raise UsageError(f"environment {env.name!r} is not a local environment",
                             hint="the local target works on target = \"local\"")
        self.config, self.env, self.runner = config, env, runner
        self.settings: LocalSettings = env.local
        self.state = state_dir(config.root) / "local"
        self.registry = LocalRegistry(config, env, runner)
        self.proxy = LocalProxy(state_dir(config.root), self.settings.proxy_ports, runner)

    @cached_property
    def containers(self) -> Containers:
        scope = {PROJECT_LABEL: self.config.project.name, ENV_LABEL: self.env.name,
                 ROOT_LABEL: str(self.config.root)}
        return Containers(self.runner, docker_client(self.runner).path, scope)

    @cached_property
    def rollout(self) -> Rollout:
        return Rollout(self.containers, self.runner, self.settings.health_timeout)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.settings.proxy_ports[service]}"

    # ---------------------------------------------------------------- up / down --

    def up(self) -> None:
        if not self.registry.up():
            console.note(f"local registry: already answering on 127.0.0.1:{self.registry.port}")
        pid = self.proxy.master_pid()
        if pid is not None:
            console.note(f"local proxy: nginx already running (pid {pid})")
            return
        self.proxy.up(self._upstreams(self._serving()))

    def down(self) -> None:
        done = "would be stopped" if self.runner.dry_run else "stopped"
        console.note(f"local proxy: {done}" if self.proxy.down() else "local proxy: not running")
        found = self.containers.all()
        self.containers.stop([c.name for c in found if c.running])
        self.containers.remove([c.name for c in found])
        console.note(f"revision containers: {len(found)} {done} and removed")
        stopped = self.registry.down()
        console.note(f"local registry: {done}" if stopped else "local registry: not running")

    # ------------------------------------------------------------------ deploy --

    def deploy(self, version: Version, images: Mapping[str, str],
               secrets: Mapping[str, Mapping[str, str]]) -> list[Revision]:
        plans = [self._plan(name, version, ref, secrets.get(name, {}))
                 for name, ref in images.items()]
        self.up()
        found = {c.name: c for c in self.containers.all()}
        serving = self._serving(found)
        todo = [p for p in plans if p.name != getattr(serving.get(p.service.name), "name", "")]
        for plan in plans:
            if plan not in todo:
                console.note(f"{plan.service.name}: {plan.name} already serving, left alone")
        if todo:
            started = self.rollout.start_all(todo, found)
            new = {s.plan.service.name: s.upstream for s in started}
            try:
                self.proxy.switch({**self._upstreams(serving), **new})
            except ShipyardError:  # nginx refused the config or the reload: nothing switched
                self.rollout.abandon(todo, started)
                raise
            console.note(("[dry-run] would switch traffic: " if self.runner.dry_run else
                          "traffic switched: ") + ", ".join(
                f"{s.plan.service.name} → {s.plan.name}" for s in started))
            self._retire({p.service.name for p in todo}, {p.name for p in plans},
                         list(found.values()))
        return [self._revision(p.service.name, p.version, p.digest, p.image, p.name)
                for p in plans]

    def _plan(self, name: str, version: Version, image: str, secrets: Mapping[str, str]) -> Plan:
        service = self._service(name)
        pinned = PINNED.fullmatch(image)
        if pinned is None:
            raise UsageError(f"{name}: {image!r} is not pinned by digest",
                             hint="deploy REPOSITORY@sha256:... (the push stage records it)")
        for value in secrets.values():
            self.runner.redactor.add(value)
        env = {**service.env, **secrets}
        settings = settings_hash(self.state / "revision.key", env)
        digest = pinned.group(1)
        stem = f"shipyard-{self.config.project.name}-{self.env.name}-{name}-{version}"
        labels = {SERVICE_LABEL: name, VERSION_LABEL: str(version), DIGEST_LABEL: digest,
                  SETTINGS_LABEL: settings[:16]}
        return Plan(service, version, image, digest, f"{stem}-{digest[7:19]}-{settings[:6]}",
                    labels, env)

    def _retire(self, services: set[str], now_serving: set[str], before: list[Container]
                ) -> None:
        """Stop what no longer serves, keep the newest `keep_revisions` stopped per service.
        `before`: the containers as listed before the deploy started (none is lost since)."""
        found = [c for c in before if c.service in services]
        stopping = [c for c in found if c.running and c.name not in now_serving]
        self.containers.stop([c.name for c in stopping])
        just_stopped = {c.name for c in stopping}
        surplus: list[str] = []
        for service in services:
            rest = [c for c in found if c.service == service and c.name not in now_serving]
            rest.sort(key=lambda c: (c.name in just_stopped, c.finished), reverse=True)
            surplus += [c.name for c in rest[self.settings.keep_revisions:]]
        self.containers.remove(surplus)

    # ------------------------------------------------------------------- state --

    def current(self) -> dict[str, Revision]:
        if self.proxy.master_pid() is None:
            return {}  # with nginx down nothing serves, whatever runs
        return {name: self._revision_of(c) for name, c in self._serving().items()}

    def kept(self) -> dict[str, list[Revision]]:
        """Stopped revisions per service, newest first: what a rollback can restart at once."""
        rest = sorted((c for c in self.containers.all() if not c.running),
                      key=lambda c: c.finished if c.finished != NEVER else "", reverse=True)
        return {name: [self._revision_of(c) for c in rest if c.service == name]
                for name in self.settings.proxy_ports}

    def _serving(self, found: Mapping[str, Container] | None = None) -> dict[str, Container]:
        """Per service, the container the proxy points at, if it runs on the recorded port."""
        upstreams = self.proxy.upstreams()
        if not upstreams:
            return {}
        if found is None:
            found = {c.name: c for c in self.containers.all()}
        serving = {}
        for name, upstream in upstreams.items():
            container = found.get(upstream.container)
            if container and container.running and container.host_port(
                    self._service(name).port) == upstream.port:
                serving[name] = container
        return serving

    def _upstreams(self, serving: Mapping[str, Container]) -> dict[str, Upstream]:
        return {name: Upstream(c.name, c.host_port(self._service(name).port) or 0)
                for name, c in serving.items()}

    def verify(self, version: Version) -> None:
        for service in self.config.services:
            port = self.settings.proxy_ports[service.name]
            try:
                status, body = http_get(port, service.version_path)
            except OSError as exc:
                raise DeployError(f"{service.name}: {self.url(service.name)} does not answer "
                                  f"({exc})", service=service.name,
                                  hint="is the proxy up? invoke local-up") from None
            if status != 200 or body.strip() != str(version):
                answer = self.runner.redactor(body.strip())[:40]
                raise DeployError(f"{service.name}: {self.url(service.name)}"
                                  f"{service.version_path} answers {status} {answer!r}, "
                                  f"not {version}", service=service.name)

    def _service(self, name: str) -> Service:
        return self.config.select([name])[0]

    def _revision_of(self, c: Container) -> Revision:
        return self._revision(c.service, c.labels.get(VERSION_LABEL, ""),
                              c.labels.get(DIGEST_LABEL, ""), c.image, c.name)

    def _revision(self, service: str, version: Version | str, digest: str, image: str,
                  name: str) -> Revision:
        return Revision(service=service, version=str(version), digest=digest, image=image,
                        name=name, url=self.url(service))
