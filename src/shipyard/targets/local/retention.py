"""What a deploy keeps of the revision containers that no longer serve: the one it replaced
is paused (the warm standby a rollback resumes), the others are stopped, and only the newest
`keep_revisions` per service stay at all; a rollback reads them newest first."""

from __future__ import annotations

from collections.abc import Iterable

from shipyard.targets.local.revisions import NEVER, Container, Containers


def retire(containers: Containers, services: set[str], now_serving: set[str],
           before: list[Container], replaced: set[str], keep: int) -> None:
    """What served before the switch (`replaced`) is paused: the standby, one per service.
    (After a drain that timed out nothing is `replaced`: what still holds a request is
    stopped, which ends it, rather than frozen, which would hang it.)
    Everything else that no longer serves is stopped (an older standby too), and the
    newest `keep` are kept per service. `before`: the containers as listed before the deploy
    started (none is lost since)."""
    found = [c for c in before if c.service in services and c.name not in now_serving]
    pausing = [c.name for c in found if c.running and c.name in replaced]
    stopping = [c.name for c in found if (c.running or c.paused) and c.name not in pausing]
    containers.pause(pausing)
    containers.stop(stopping)
    surplus: list[str] = []
    for service in services:
        rest = [c for c in found if c.service == service]
        rest.sort(key=lambda c: (c.name in pausing, c.name in stopping, c.finished),
                  reverse=True)
        surplus += [c.name for c in rest[keep:]]
    containers.remove(surplus)


def newest_first(listed: Iterable[Container]) -> list[Container]:
    """The containers that do not run, newest first: the paused standby, then the stopped
    ones by when they stopped."""
    return sorted((c for c in listed if not c.running),
                  key=lambda c: (c.paused, c.finished if c.finished != NEVER else ""),
                  reverse=True)
