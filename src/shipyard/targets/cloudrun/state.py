"""Reading what Cloud Run says: Knative serving v1 Services and Revisions (from the API, or
printed by `gcloud run deploy --format json`), into the few facts a deploy, a rollback and
`status` need."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shipyard.version import Version

VERSION_LABEL = "dev-shipyard-version"  # label values allow [a-z0-9_-] only: see tag_of
MANAGED_LABEL = "managed-by"
MAX_TAG_AND_SERVICE = 46  # Cloud Run's limit for a revision tag plus the service name


def tag_of(version: Version | str) -> str:
    """v1.1.0-rc.1 → v1-1-0-rc-1: a revision tag and a label value Cloud Run accepts."""
    return "".join(c if c.isalnum() else "-" for c in str(version).lower())


@dataclass(frozen=True)
class Traffic:
    revision: str
    percent: int
    tag: str
    url: str
    latest: bool


@dataclass(frozen=True)
class ServiceState:
    name: str
    url: str
    latest_created: str
    latest_ready: str
    traffic: tuple[Traffic, ...]
    ready: bool
    message: str  # the Ready condition's message when it is not True
    asked_tags: dict[str, str]  # spec.traffic: tag → revision, asked for (served or not)

    def stuck_tags(self) -> bool:
        """Cloud Run serves a tag only once its revision is ready: a tag asked for but not
        served, or a service not Ready, means a failed revision may still hold a tag."""
        served = {t.tag for t in self.traffic if t.tag}
        return not self.ready or bool(set(self.asked_tags) - served)

    def serving(self) -> list[Traffic]:
        return [t for t in self.traffic if t.percent > 0]

    def tag_url(self, tag: str) -> str | None:
        return next((t.url for t in self.traffic if t.tag == tag and t.url), None)

    def revision_of_tag(self, tag: str) -> str | None:
        return next((t.revision for t in self.traffic if t.tag == tag and t.revision), None)


def parse_service(text: str) -> ServiceState:
    return service_state(json.loads(text))


def service_state(data: dict[str, Any]) -> ServiceState:
    status = data.get("status") or {}
    ready: dict[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    latest_ready = str(status.get("latestReadyRevisionName") or "")
    traffic = tuple(
        Traffic(revision=str(t.get("revisionName") or (latest_ready if t.get("latestRevision")
                                                        else "")),
                percent=int(t.get("percent") or 0), tag=str(t.get("tag") or ""),
                url=str(t.get("url") or ""), latest=bool(t.get("latestRevision")))
        for t in status.get("traffic") or [])
    return ServiceState(
        name=str((data.get("metadata") or {}).get("name") or ""), url=str(status.get("url") or ""),
        latest_created=str(status.get("latestCreatedRevisionName") or ""),
        latest_ready=latest_ready, traffic=traffic, ready=ready.get("status") == "True",
        message=str(ready.get("message") or ""),
        asked_tags={str(t["tag"]): str(t.get("revisionName") or "")
                    for t in (data.get("spec") or {}).get("traffic") or [] if t.get("tag")})


@dataclass(frozen=True)
class RevisionState:
    name: str
    image: str
    labels: dict[str, str]
    ready: bool


def revision_states(items: list[dict[str, Any]]) -> dict[str, RevisionState]:
    found = {}
    for item in items:
        meta, spec = item.get("metadata") or {}, item.get("spec") or {}
        containers = spec.get("containers") or [{}]
        conditions = (item.get("status") or {}).get("conditions") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        name = str(meta.get("name") or "")
        found[name] = RevisionState(name, str(containers[0].get("image") or ""),
                                    dict(meta.get("labels") or {}), ready)
    return found
