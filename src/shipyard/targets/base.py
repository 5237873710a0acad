"""The target seam: what every deploy target offers, and the values that cross it.

A target is what a release deploys to (local revision containers, Cloud Run, GKE). The pipeline
and the stages only ever talk to a target through `Target`, so a new kind plugs in by adding a
module and one line to the registry in targets/__init__.py: nothing in stages/, pipeline/ or
tasks/ asks which kind it runs on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from shipyard.errors import ShipyardError
from shipyard.registries.client import Registry
from shipyard.version import Version


@dataclass(frozen=True)
class Revision:
    """One service running one image: what `status` shows and records keep."""

    service: str
    version: str
    digest: str  # sha256:... of the image manifest
    image: str  # pinned reference, REPOSITORY@sha256:...
    name: str  # the target's own id for it (local: container name; Cloud Run: revision)
    url: str  # the stable URL users reach it by (local: through the proxy)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Revision:
        return cls(**{k: str(data.get(k, "")) for k in
                      ("service", "version", "digest", "image", "name", "url")})


@dataclass(frozen=True)
class SecretBinding:
    """An env var a service reads, bound to a secret by reference, never by value.

    `version` is pinned at deploy time (Secret Manager: the numeric version enabled now), so a
    rollback also goes back to the secrets its release ran with."""

    env: str  # the variable name inside the service
    secret: str  # the source's name for it (dotenv: the key; Secret Manager: the secret id)
    version: str  # the pinned version ("current" for a source without versions)

    def to_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class ServicePlan:
    service: str
    image: str  # REPOSITORY@sha256:..., never a tag
    secrets: tuple[SecretBinding, ...] = ()
    # Plain env vars set over the service's own `env` (feature flags: docs/operations.md).
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeployPlan:
    """Everything a target needs to put one release in service."""

    version: Version
    services: tuple[ServicePlan, ...] = field(default_factory=tuple)

    def images(self) -> dict[str, str]:
        return {s.service: s.image for s in self.services}


@dataclass(frozen=True)
class Check:
    """One preflight probe a target contributes: a name, and a callable that returns a detail
    line or raises ShipyardError. Probes only read; they never change anything."""

    name: str
    probe: Callable[[], str]


class DeployError(ShipyardError):
    """A service failed to come up or verify; nothing was switched to the failing revision."""

    def __init__(self, message: str, *, service: str, logs: str = "",
                 hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.service = service
        self.logs = logs  # the failing revision's log tail, secrets already masked


class Target(Protocol):
    """A deploy target. Every method honours the runner's dry-run: it plans, never changes."""

    def preflight_checks(self) -> Sequence[Check]:
        """The target's own read-only checks (local: the registry and nginx binaries)."""

    def registry(self) -> Registry:
        """The registry this environment pushes to and deploys from, with its credentials."""

    def exclusive(self, action: str, version: str, *, break_lock: bool
                  ) -> AbstractContextManager[None]:
        """Hold the platform's own lock across machines while a release, deploy or rollback
        runs (GKE: a Lease in the namespace); `nullcontext()` where shipyard's local lock is
        all there is. `break_lock` breaks only a lock whose holder is gone."""

    def up(self, *, serving: bool = True) -> None:
        """Start what the target needs: its registry always, what serves traffic when
        `serving`. A no-op when running; in a dry run it starts nothing."""

    def down(self) -> None:
        """Stop everything the target started."""

    def deploy(self, plan: DeployPlan) -> list[Revision]:
        """Bring every service to its pinned image, and switch traffic to all of them together
        only after each new revision passed its health and version checks."""

    def shift_traffic(self, plan: DeployPlan, recorded: Mapping[str, Revision]
                      ) -> list[Revision] | None:
        """Send traffic back to revisions the target still has (a rollback without a redeploy).
        `recorded`: the revisions the release ran as. None when any is gone: then deploy."""

    def reconfigure(self, plan: DeployPlan, changed: Sequence[str]) -> list[Revision]:
        """A new revision of the image each service in `changed` runs now, with the plan's env
        (a flag switched: no build, no push), checked like a deploy's before traffic moves to
        it; the other services stay as they are. The revisions of every planned service."""

    def current(self) -> dict[str, Revision]:
        """What really serves traffic now, per service, read from the platform itself."""

    def verify(self, plan: DeployPlan) -> None:
        """Check every service of the plan answers its version through the URL users reach;
        DeployError if not."""
