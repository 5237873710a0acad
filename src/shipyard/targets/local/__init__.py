"""The `local` deploy target: each service revision is a container on the local Docker engine,
behind nginx on a stable 127.0.0.1 port (proxy.py), with Cloud Run-like semantics: a deploy
starts new revisions, checks each (health, then version), and only when all passed switches
traffic to all of them at once. The revision it replaced is paused (`docker pause`: frozen, its
memory and port kept), a warm standby that a rollback resumes in milliseconds, as Cloud Run
keeps old revisions ready; older ones are stopped, the newest `keep_revisions` kept in all, so
a rollback to one of them restarts it instead of creating one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import cached_property
from typing import TYPE_CHECKING

from shipyard.build.images import PROJECT_LABEL
from shipyard.config import Service
from shipyard.config.targets import LocalSettings
from shipyard.errors import ShipyardError, UsageError
from shipyard.exec.tools import tool_version
from shipyard.registries.client import Registry
from shipyard.state.workspace import state_path
from shipyard.targets.base import Check, DeployError, DeployPlan, Revision, ServicePlan
from shipyard.targets.local.nginx_conf import Upstream
from shipyard.targets.local.proxy import LocalProxy
from shipyard.targets.local.registry import REGISTRY_BINARY, LocalRegistry
from shipyard.targets.local.retention import newest_first, retire
from shipyard.targets.local.revision_plan import revision_plan
from shipyard.targets.local.revisions import (
    DIGEST_LABEL,
    ENV_LABEL,
    ROOT_LABEL,
    VERSION_LABEL,
    Container,
    Containers,
)
from shipyard.targets.local.rollout import Plan, Rollout, http_get
from shipyard.ui import console
from shipyard.version import Version

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext


class LocalTarget:
    def __init__(self, ctx: RunContext) -> None:
        if ctx.env.local is None:
            raise UsageError(f"environment {ctx.env.name!r} is not a local environment",
                             hint="the local target works on target = \"local\"")
        self.ctx = ctx
        self.config, self.env, self.runner = ctx.config, ctx.env, ctx.runner
        self.settings: LocalSettings = ctx.env.local
        self.state = state_path(ctx.config.root) / "local"  # created by real runs only
        self._registry = Registry(ctx.env.registry)
        self.daemon = LocalRegistry(ctx.config.root, self.settings.registry_port,
                                    self._registry, ctx.runner)
        self.proxy = LocalProxy(state_path(ctx.config.root), self.settings.proxy_ports,
                                ctx.runner)
        self._planned: set[str] = set()  # dry run: starts already planned

    @cached_property
    def containers(self) -> Containers:
        scope = {PROJECT_LABEL: self.config.project.name, ENV_LABEL: self.env.name,
                 ROOT_LABEL: str(self.config.root)}
        return Containers(self.runner, self.ctx.docker.path, scope)

    @cached_property
    def rollout(self) -> Rollout:
        return Rollout(self.containers, self.runner, self.settings.health_timeout)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.settings.proxy_ports[service]}"

    # --------------------------------------------------------- the Target protocol --

    def preflight_checks(self) -> Sequence[Check]:
        return (Check("registry", lambda: tool_version(
                    self.runner, (REGISTRY_BINARY, "--version"), REGISTRY_BINARY)),
                Check("proxy", lambda: tool_version(self.runner, ("nginx", "-v"), "nginx")))

    def registry(self) -> Registry:
        return self._registry

    def exclusive(self, action: str, version: str, *, break_lock: bool
                  ) -> AbstractContextManager[None]:
        """shipyard's lock file is the whole lock: one machine serves it"""
        return nullcontext()

    def up(self, *, serving: bool = True) -> None:
        # A dry run starts nothing, so a second up() in the same run would plan the same
        # starts again: what this run already planned counts as up.
        if "registry" not in self._planned:
            if not self.daemon.up():
                console.note(f"local registry: already answering on 127.0.0.1:"
                             f"{self.daemon.port}")
            elif self.runner.dry_run:
                self._planned.add("registry")
        if not serving or "proxy" in self._planned:
            return
        pid = self.proxy.master_pid()
        if pid is not None:
            console.note(f"local proxy: nginx already running (pid {pid})")
            return
        self.proxy.up(self._restorable())
        if self.runner.dry_run:
            self._planned.add("proxy")

    def down(self) -> None:
        done = "would be stopped" if self.runner.dry_run else "stopped"
        console.note(f"local proxy: {done}" if self.proxy.down() else "local proxy: not running")
        found = self.containers.all()
        self.containers.stop([c.name for c in found if c.running or c.paused])
        self.containers.remove([c.name for c in found])
        console.note(f"revision containers: {len(found)} {done} and removed")
        stopped = self.daemon.down()
        console.note(f"local registry: {done}" if stopped else "local registry: not running")

    def deploy(self, plan: DeployPlan, listed: Sequence[Container] | None = None
               ) -> list[Revision]:
        """`listed`: this environment's containers, as the caller just listed them (a
        rollback's shift_traffic), so they are not listed twice (~70 ms of docker CLI)."""
        plans = [self._plan(s, plan.version) for s in plan.services]
        self.up()
        found = {c.name: c for c in (self.containers.all() if listed is None else listed)}
        serving = self._serving(found)
        todo = [p for p in plans if p.name != getattr(serving.get(p.service.name), "name", "")]
        for p in plans:
            if p not in todo:
                console.note(f"{p.service.name}: {p.name} already serving, left alone")
        if todo:
            started = self.rollout.start_all(todo, found)
            new = {s.plan.service.name: s.upstream for s in started}
            try:
                drained = self.proxy.switch({**self._upstreams(serving), **new})
            except ShipyardError:  # nginx refused the config or the reload: nothing switched
                self.rollout.abandon(todo, started)
                raise
            console.note(("[dry-run] would switch traffic: " if self.runner.dry_run else
                          "traffic switched: ") + ", ".join(
                f"{s.plan.service.name} → {s.plan.name}" for s in started))
            retire(self.containers, {p.service.name for p in todo}, {p.name for p in plans},
                   list(found.values()),
                   {c.name for c in serving.values()} if drained else set(),
                   self.settings.keep_revisions)
        return [self._revision(p.service.name, p.version, p.digest, p.image, p.name)
                for p in plans]

    def shift_traffic(self, plan: DeployPlan, recorded: Mapping[str, Revision]
                      ) -> list[Revision] | None:
        """Kept containers are this target's revisions: when every service still has the one
        the plan names (same image, same settings), the deploy only resumes (or restarts) it
        and switches."""
        listed = self.containers.all()
        names = {c.name for c in listed}
        if all(self._plan(s, plan.version).name in names for s in plan.services):
            return self.deploy(plan, listed)
        return None

    def reconfigure(self, plan: DeployPlan, changed: Sequence[str]) -> list[Revision]:
        """The env is part of a revision's name (its settings hash): a deploy of the same
        images starts new containers for the changed services only, and leaves the rest."""
        return self.deploy(plan)

    def current(self) -> dict[str, Revision]:
        return {name: self._revision_of(c) for name, c in self._serving().items()}

    def verify(self, plan: DeployPlan) -> None:
        version = plan.version
        for service in self.config.select([s.service for s in plan.services]):
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

    # ------------------------------------------------------------------ internals --

    def kept(self) -> dict[str, list[Revision]]:
        """Kept revisions per service, newest first (the paused standby, then the stopped
        ones): what a rollback can resume or restart at once."""
        rest = newest_first(self.containers.all())
        return {name: [self._revision_of(c) for c in rest if c.service == name]
                for name in self.settings.proxy_ports}

    def _plan(self, planned: ServicePlan, version: Version) -> Plan:
        return revision_plan(self.ctx, self._service(planned.service), planned, version,
                             self.state / "revision.key")

    def _serving(self, found: Mapping[str, Container] | None = None) -> dict[str, Container]:
        """Per service, the running container that answers through the proxy now."""
        answering = self.proxy.serving({s.name: s.health_path for s in self.config.services})
        if not answering:
            return {}
        if found is None:
            found = {c.name: c for c in self.containers.all()}
        return {name: found[container] for name, container in answering.items()
                if container in found and found[container].running}

    def _restorable(self) -> dict[str, Upstream]:
        """What nginx pointed at before it stopped, where that container still runs on the
        recorded port: restored when the proxy starts again."""
        found = {c.name: c for c in self.containers.all()}
        return {name: u for name, u in self.proxy.upstreams().items()
                if (c := found.get(u.container)) and c.running
                and c.host_port(self._service(name).port) == u.port}

    def _upstreams(self, serving: Mapping[str, Container]) -> dict[str, Upstream]:
        return {name: Upstream(c.name, c.host_port(self._service(name).port) or 0)
                for name, c in serving.items()}

    def _service(self, name: str) -> Service:
        return self.config.select([name])[0]

    def _revision_of(self, c: Container) -> Revision:
        return self._revision(c.service, c.labels.get(VERSION_LABEL, ""),
                              c.labels.get(DIGEST_LABEL, ""), c.image, c.name)

    def _revision(self, service: str, version: Version | str, digest: str, image: str,
                  name: str) -> Revision:
        return Revision(service=service, version=str(version), digest=digest, image=image,
                        name=name, url=self.url(service))

