"""The GKE keys of a `gke` environment: the overlay, rollout deadline, conflict policy, and how
each shipyard service maps onto a Deployment of a base you may not have written.

    [environments.prod]
    target = "gke"
    cluster = "meta-ad-studio"
    namespace = "meta-ad-studio"
    overlay = "k8s/overlays/prod"
    rollout_timeout = 600       # seconds; never shorter than a Deployment's progressDeadline
    force_conflicts = false     # a field another manager owns: refuse (true: take it over)
    lease_duration = 60         # seconds the deploy Lease lives unrenewed (renewed every third)

    [environments.prod.workloads.api-server]   # defaults: the service's own name for both
    deployment = "api"
    image = "ghcr.io/vendor/api"               # the image name the base uses
    container = "app"                          # default: the container running that image
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

from shipyard.config.schema import Table, dns_label_problem


@dataclass(frozen=True)
class Workload:
    deployment: str
    image: str  # the image name in the base, which the generated overlay pins by digest
    container: str | None = None  # None: whichever container of it runs `image`


@dataclass(frozen=True)
class GkeSettings:
    overlay: str
    rollout_timeout: int = 600
    force_conflicts: bool = False
    lease_duration: int = 60
    workloads: MappingProxyType[str, Workload] = field(
        default_factory=lambda: MappingProxyType({}))


def parse_gke(t: Table, services: list[str]) -> GkeSettings:
    overlay = t.get("overlay", str)
    if overlay.startswith("/") or ".." in overlay.split("/"):
        raise t.fail(t.key("overlay"), "must be a folder inside the app repo, e.g. "
                                       "k8s/overlays/prod")
    timeout = t.get("rollout_timeout", int, 600)
    if not 10 <= timeout <= 3600:
        raise t.fail(t.key("rollout_timeout"), "must be from 10 to 3600 seconds")
    lease_duration = t.get("lease_duration", int, 60)
    if not 10 <= lease_duration <= 3600:
        raise t.fail(t.key("lease_duration"), "must be from 10 to 3600 seconds")
    table = t.table("workloads")
    workloads = {}
    for name, _ in table.items():
        if name not in services:
            raise t.fail(table.key(name), f"unknown service {name!r}")
    for name in services:
        entry = table.child(name) if name in table.data else Table({}, table.key(name), t.file)
        deployment = entry.get("deployment", str, name)
        if problem := dns_label_problem(deployment):
            raise entry.fail(entry.key("deployment"), problem)
        image = entry.get("image", str, name)
        if not image or any(c.isspace() for c in image) or "@" in image:
            raise entry.fail(entry.key("image"), "must be an image name without tag or digest")
        container = entry.get("container", str, None)
        if container is not None and (problem := dns_label_problem(container)):
            raise entry.fail(entry.key("container"), problem)
        entry.done()
        workloads[name] = Workload(deployment, image, container)
    return GkeSettings(overlay=overlay, rollout_timeout=timeout,
                       force_conflicts=t.get("force_conflicts", bool, False),
                       lease_duration=lease_duration,
                       workloads=MappingProxyType(workloads))
