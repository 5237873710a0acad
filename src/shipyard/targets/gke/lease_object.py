"""The deploy Lease object (coordination.k8s.io/v1) as shipyard writes and reads it: who holds
it (holderIdentity, with the action and version as annotations), since when (acquireTime,
renewTime, leaseDurationSeconds), and whether it is stale. No kubectl here: lease.py runs it."""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

LEASE_NAME = "shipyard-deploy"
ACTION = "shipyard.dev/action"
VERSION = "shipyard.dev/version"


def holder_identity(environ: Mapping[str, str] = os.environ) -> str:
    """Who deploys: the Cloud Build build when run by one (BUILD_ID), else user@host."""
    build = environ.get("BUILD_ID", "").strip()
    if build:
        return f"cloud-build/{build}"
    return f"{getpass.getuser()}@{socket.gethostname()}"


def micro_time(at: datetime) -> str:
    """Kubernetes MicroTime: RFC 3339 with microseconds, UTC."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class LeaseHolder:
    """What a Lease in the cluster says about who holds it."""

    identity: str
    action: str
    version: str
    acquired: str
    renewed: str
    duration: int
    resource_version: str

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> LeaseHolder:
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        notes = meta.get("annotations") or {}
        return cls(str(spec.get("holderIdentity") or "?"), str(notes.get(ACTION, "?")),
                   str(notes.get(VERSION, "?")), str(spec.get("acquireTime") or "?"),
                   str(spec.get("renewTime") or spec.get("acquireTime") or "?"),
                   int(spec.get("leaseDurationSeconds") or 0),
                   str(meta.get("resourceVersion") or ""))

    def expires(self) -> datetime | None:
        renewed = parse_time(self.renewed)
        return renewed + timedelta(seconds=self.duration) if renewed else None

    def stale(self, now: datetime) -> bool:
        """renewTime + leaseDurationSeconds is past (a Lease that says neither is stale)."""
        expires = self.expires()
        return expires is None or expires < now

    def describe(self, now: datetime) -> str:
        expires = self.expires()
        if expires is None:
            state = "stale: it has no renewTime"
        elif expires < now:
            state = f"stale since {micro_time(expires)}, last renewed {self.renewed}"
        else:
            state = (f"renewed {self.renewed}, live for {int((expires - now).total_seconds())}s"
                     " more")
        return f"{self.identity} ({self.action} {self.version}, since {self.acquired}; {state})"


def lease_body(namespace: str, identity: str, action: str, version: str, duration: int,
               acquired: datetime, renewed: datetime, resource_version: str = "") -> str:
    meta: dict[str, Any] = {"name": LEASE_NAME, "namespace": namespace,
                            "labels": {"app.kubernetes.io/managed-by": "shipyard"},
                            "annotations": {ACTION: action, VERSION: version}}
    if resource_version:
        meta["resourceVersion"] = resource_version
    return json.dumps({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
        "spec": {"holderIdentity": identity, "leaseDurationSeconds": duration,
                 "acquireTime": micro_time(acquired), "renewTime": micro_time(renewed)}})
