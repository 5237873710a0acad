"""The `cloudrun` deploy target: `gcloud run deploy` by digest, secrets as Secret Manager
references, every new revision verified through its tag URL before any traffic moves, then one
traffic move per service; a rollback is a traffic move back to recorded revisions.

Revisions are made by the real gcloud (commands/gcloud.py argv, run by the runner), in parallel
per service. Reads and traffic moves go to the Cloud Run Admin API from this process (api.py):
a gcloud call costs about 1 s of CPU to start, so N of them side by side add up.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, TypeVar

from shipyard.commands import gcloud as g
from shipyard.config import Service
from shipyard.config.cloudrun import RunSettings
from shipyard.errors import ShipyardError, UsageError
from shipyard.exec.runner import Result
from shipyard.registries.client import Registry
from shipyard.stages.fanout import fan_out
from shipyard.targets.base import Check, DeployError, DeployPlan, Revision, ServicePlan
from shipyard.targets.cloudrun import verify
from shipyard.targets.cloudrun.api import ApiError, RunApi
from shipyard.targets.cloudrun.new_revision import deploy_one, not_listed
from shipyard.targets.cloudrun.spec import (
    check_names,
    run_service,
    version_of_label,
)
from shipyard.targets.cloudrun.state import (
    VERSION_LABEL,
    RevisionState,
    ServiceState,
    revision_states,
    service_state,
    tag_of,
)
from shipyard.targets.cloudrun.tokens import IdentityTokens
from shipyard.targets.cloudrun.traffic import Traffic
from shipyard.targets.gcloud_auth import (
    artifact_registry,
    auth_detail,
    gcloud_path,
    gcloud_version,
)
from shipyard.ui import console
from shipyard.version import Version

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext

T = TypeVar("T")
R = TypeVar("R")


class CloudRunTarget:
    def __init__(self, ctx: RunContext) -> None:
        if ctx.env.gcp is None or ctx.env.gcp.run is None:
            raise UsageError(f"environment {ctx.env.name!r} is not a Cloud Run environment",
                             hint='the cloudrun target works on target = "cloudrun"')
        self.ctx, self.runner, self.gcp = ctx, ctx.runner, ctx.env.gcp
        self.run: RunSettings = ctx.env.gcp.run
        self.gcloud = gcloud_path()
        self._registry, self._login = artifact_registry(ctx, self.gcloud)
        self.api = RunApi(self.gcp.project, self.gcp.region, os.environ, self._login.token,
                          record=self.runner.note)
        self.traffic = Traffic(self.runner, self.api, self.gcp)
        self._urls: dict[str, str] = {}
        self._tokens = IdentityTokens(ctx, self.gcloud)  # for private services' URLs
        if ctx.version is not None:
            check_names(ctx)  # Cloud Run's name limits: bad input, refused before anything runs

    # ----------------------------------------------------------- the Target protocol --

    def preflight_checks(self) -> Sequence[Check]:
        return (Check("gcloud", lambda: gcloud_version(self.ctx, self.gcloud)),
                Check("gcloud auth", lambda: auth_detail(self._login)),
                Check("cloud run names", lambda: check_names(self.ctx)),
                *self.ctx.secrets.checks())

    def registry(self) -> Registry:
        return self._registry

    def exclusive(self, action: str, version: str, *, break_lock: bool
                  ) -> AbstractContextManager[None]:
        """No cross-machine lock on Cloud Run yet: shipyard's lock file only"""
        return nullcontext()

    def up(self, *, serving: bool = True) -> None:
        """Nothing to start: Cloud Run and Artifact Registry are always there."""

    def down(self) -> None:
        console.note(f"{self.ctx.env.name}: Cloud Run services are not stopped by shipyard; "
                     "`gcloud run services delete` removes one")

    def deploy(self, plan: DeployPlan) -> list[Revision]:
        check_names(self.ctx, plan.version)
        tag = tag_of(plan.version)
        before = self._prepare([s.service for s in plan.services])
        if self.runner.dry_run:
            for s in plan.services:
                self._write(g.run_deploy(self.gcloud, run_service(self.ctx, s, plan.version),
                                         no_traffic=before[s.service] is not None),
                            timeout=900)
            return [self._revision(s.service, plan.version, s.image, f"{s.service}-({tag})",
                                   "") for s in plan.services]
        fresh = fan_out(lambda s: deploy_one(self, s, plan.version, before[s.service]),
                        list(plan.services), [s.service for s in plan.services],
                        len(plan.services))
        moves = [(name, rev) for name, rev, first in fresh if not first]
        self._each(lambda m: self.traffic.move(m[0], m[1]), moves)  # every revision verified: now
        return [self._revision(name, plan.version, s.image, rev, self._urls.get(name, ""))
                for (name, rev, _), s in zip(fresh, plan.services, strict=True)]

    def reconfigure(self, plan: DeployPlan, changed: Sequence[str]) -> list[Revision]:
        from shipyard.targets.cloudrun.reconfigure import reconfigure

        return reconfigure(self, plan, changed)

    def shift_traffic(self, plan: DeployPlan, recorded: Mapping[str, Revision]
                      ) -> list[Revision] | None:
        names = [s.service for s in plan.services]
        if any(not recorded.get(n) or not recorded[n].name for n in names):
            return None
        # One update per service, side by side, and no listing first: Cloud Run refuses
        # traffic to a revision that is gone in the very call that would move it, so that
        # refusal is the existence check (a `revisions list` first doubled a rollback's wall
        # time: every gcloud call costs 1-2 s of start-up).
        moved = self._each(lambda n: self.traffic.move_back(n, recorded[n].name), names)
        gone = [n for n in names if not moved[n]]
        if gone:
            console.note(f"rollback: the recorded revision of {', '.join(gone)} is gone "
                         "(Cloud Run refused the move); deploying the release's images again")
            return None
        # A service's URL lasts as long as the service: verify needs no describe per service.
        self._urls.update({n: recorded[n].url for n in names if recorded[n].url})
        return [recorded[n] for n in names]

    def current(self) -> dict[str, Revision]:
        names = [s.name for s in self.ctx.config.services]
        states = self._each(self._describe, names)
        found: dict[str, Revision] = {}
        for name, state in states.items():
            serving = state.serving() if state else []
            if state is None or not serving:
                continue
            top = max(serving, key=lambda t: t.percent)
            rev = self._revisions(name).get(top.revision)
            label = rev.labels.get(VERSION_LABEL, "") if rev else ""
            found[name] = self._revision(name, version_of_label(self.ctx, label),
                                         rev.image if rev else "", top.revision, state.url)
        return found

    def verify(self, plan: DeployPlan) -> None:
        for s in plan.services:
            url = self._urls.get(s.service) or (self._describe(s.service) or _missing(s)).url
            problem = self._check(s.service, url, plan.version)
            if problem:
                raise DeployError(f"{s.service}: {url} {problem}", service=s.service)

    def _check(self, name: str, url: str, version: Version) -> str | None:
        service = self._service(name)
        return verify.check(url, service.health_path, service.version_path, str(version),
                            lambda: self._tokens.bearer(name, url))

    # ------------------------------------------------------------------- internals --

    def _prepare(self, names: list[str]) -> dict[str, ServiceState | None]:
        from shipyard.targets.cloudrun.prepare import prepare

        return prepare(self, names)

    def _revisions(self, name: str) -> dict[str, RevisionState]:
        try:
            return revision_states(self.api.revisions(name))
        except ApiError as exc:
            raise self._unreadable(name, exc) from None

    def _describe(self, name: str) -> ServiceState | None:
        try:
            found = self.api.service(name)
        except ApiError as exc:
            raise self._unreadable(name, exc) from None
        return None if found is None else service_state(found)

    def _unreadable(self, name: str, exc: ApiError) -> ShipyardError:
        return ShipyardError(f"could not read Cloud Run service {name}: {exc.message}",
                             hint=exc.hint or "check `gcloud auth list` and the project and "
                                              "region in shipyard.toml")

    def _write(self, argv: tuple[str, ...], *, timeout: float) -> Result:
        return self.runner.run(argv, timeout=timeout)

    def _service(self, name: str) -> Service:
        return self.ctx.config.select([name])[0]

    def _each(self, work: Callable[[T], R], items: Sequence[T]) -> dict[T, R]:
        if not items:
            return {}
        with ThreadPoolExecutor(max_workers=len(items)) as pool:
            return dict(zip(items, pool.map(work, items), strict=True))

    def _logs(self, name: str, revision: str = "REVISION") -> str:
        return g.logs_hint(name, self.gcp.region, self.gcp.project, revision)

    def _revision(self, service: str, version: Version | str, image: str, name: str,
                  url: str) -> Revision:
        digest = image.rpartition("@")[2] if "@" in image else ""
        return Revision(service=service, version=str(version), digest=digest, image=image,
                        name=name, url=url)


def _missing(planned: ServicePlan) -> ServiceState:
    raise not_listed(planned.service)
