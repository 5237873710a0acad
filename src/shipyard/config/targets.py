"""Per-target settings of an environment in shipyard.toml: local, and GCP (cloudrun, gke)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from shipyard.config.cloudrun import RunSettings, parse_run
from shipyard.config.gke import GkeSettings, parse_gke
from shipyard.config.schema import Table, dns_label_problem, port_problem


@dataclass(frozen=True)
class LocalSettings:
    registry_port: int = 5000
    proxy_ports: MappingProxyType[str, int] = field(default_factory=lambda: MappingProxyType({}))
    keep_revisions: int = 3
    secrets_file: str = ".shipyard/secrets/local.env"
    health_timeout: int = 30

    def default_registry(self, project: str) -> str:
        return f"127.0.0.1:{self.registry_port}/{project}"


@dataclass(frozen=True)
class GcpSettings:
    project: str
    region: str
    repository: str
    cluster: str | None = None  # gke only
    namespace: str | None = None  # gke only
    service_account: str | None = None
    run: RunSettings | None = None  # cloudrun only
    gke: GkeSettings | None = None  # gke only

    def default_registry(self, project: str) -> str:
        return f"{self.region}-docker.pkg.dev/{self.project}/{self.repository}"


def parse_local(t: Table, services: list[str]) -> LocalSettings:
    registry_port = t.get("registry_port", int, 5000)
    if problem := port_problem(registry_port):
        raise t.fail(t.key("registry_port"), problem)
    ports_table = t.table("proxy_ports", required=True)
    ports: dict[str, int] = {}
    used = {registry_port: t.key("registry_port")}
    for service in services:
        port = ports_table.get(service, int)
        key = ports_table.key(service)
        if problem := port_problem(port):
            raise t.fail(key, problem)
        if port in used:
            raise t.fail(key, f"duplicate port {port} (also {used[port]})")
        used[port] = key
        ports[service] = port
    ports_table.done()
    keep = t.get("keep_revisions", int, 3)
    if not 1 <= keep <= 50:
        raise t.fail(t.key("keep_revisions"), "must be from 1 to 50")
    timeout = t.get("health_timeout", int, 30)
    if not 1 <= timeout <= 600:
        raise t.fail(t.key("health_timeout"), "must be from 1 to 600 seconds")
    return LocalSettings(
        registry_port=registry_port, proxy_ports=MappingProxyType(ports), keep_revisions=keep,
        secrets_file=t.get("secrets_file", str, ".shipyard/secrets/local.env"),
        health_timeout=timeout,
    )


def parse_gcp(t: Table, gke: bool) -> GcpSettings:
    settings = GcpSettings(
        project=t.get("project", str),
        region=t.get("region", str),
        repository=t.get("repository", str),
        cluster=t.get("cluster", str) if gke else None,
        namespace=t.get("namespace", str) if gke else None,
        service_account=t.get("service_account", str, None),
    )
    for key in ("project", "region", "repository", "cluster", "namespace"):
        value = getattr(settings, key)
        if value is not None and dns_label_problem(value):
            raise t.fail(t.key(key), dns_label_problem(value) or "")
    return settings


# target kind → its settings parser: the one table config parsing consults per kind.
TARGET_SETTINGS: dict[str, Callable[[Table, list[str]], LocalSettings | GcpSettings]] = {
    "local": parse_local,
    "cloudrun": lambda t, services: replace(parse_gcp(t, gke=False),
                                            run=parse_run(t.table("run"), services)),
    "gke": lambda t, services: replace(parse_gcp(t, gke=True),
                                       gke=parse_gke(t, services)),
}
