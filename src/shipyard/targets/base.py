"""What every deploy target offers: the Deployer protocol and the Revision it reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from shipyard.errors import ShipyardError
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


class DeployError(ShipyardError):
    """A service failed to come up or verify; nothing was switched to the failing revision."""

    def __init__(self, message: str, *, service: str, logs: str = "",
                 hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.service = service
        self.logs = logs  # the failing revision's log tail, secrets already masked


class Deployer(Protocol):
    def up(self) -> None:
        """Start what the target needs (local: registry and proxy); a no-op when running."""

    def down(self) -> None:
        """Stop everything the target started."""

    def deploy(self, version: Version, images: Mapping[str, str],
               secrets: Mapping[str, Mapping[str, str]]) -> list[Revision]:
        """Bring every service to `images[service]` (pinned refs) and switch traffic to all of
        them together, only after each new revision passed its health and version checks.
        `secrets[service]` maps env var names to values; they never reach argv or logs."""

    def current(self) -> dict[str, Revision]:
        """What serves traffic now, per service (empty when nothing was deployed)."""

    def verify(self, version: Version) -> None:
        """Check every service through its stable URL answers `version`; DeployError if not."""
