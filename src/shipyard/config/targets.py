"""Per-target settings of an environment in shipyard.toml: local, and GCP (cloudrun, gke)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from shipyard.config.cloudrun import RunSettings, parse_run
from shipyard.config.gke import GkeSettings, parse_gke
from shipyard.config.schema import Table, dns_label_problem, port_problem

# service → the secret NAMES it lists, in config order: what an environment must provide.
Needs = Mapping[str, Sequence[str]]

LATEST = "latest"
SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_VERSION = re.compile(r"[1-9][0-9]{0,18}")
# Cloud Run's --set-secrets names a secret in another project by the project's NUMBER only.
_OTHER_PROJECT = re.compile(r"projects/(?P<project>[^/]*)/secrets/(?P<rest>[^/]*)")
_PROJECT_NUMBER = re.compile(r"[0-9]{1,19}")
REF_FORMS = "SECRET_ID, SECRET_ID:VERSION or projects/PROJECT_NUMBER/secrets/SECRET_ID[:VERSION]"


@dataclass(frozen=True)
class SecretRef:
    """A Secret Manager secret an env var is bound to, and the version asked for.

    `version` is "latest" (resolved to the newest enabled version at deploy time) or a
    positive integer, as text. `project` is another project's number, or None for the
    environment's own project."""

    secret: str
    version: str = LATEST
    project: str | None = None

    @property
    def reference(self) -> str:
        """How Cloud Run's --set-secrets names the secret (the part before `:VERSION`)."""
        return f"projects/{self.project}/secrets/{self.secret}" if self.project else self.secret

    def name(self, project: str) -> str:
        """The Secret Manager resource name, `project` being the environment's."""
        return f"projects/{self.project or project}/secrets/{self.secret}"

    def __str__(self) -> str:
        return self.reference if self.version == LATEST else f"{self.reference}:{self.version}"


def parse_secret_ref(value: str) -> SecretRef:
    """`SECRET_ID[:VERSION]` or `projects/NUMBER/secrets/SECRET_ID[:VERSION]`; ValueError
    saying what is wrong otherwise."""
    project: str | None = None
    rest = value
    if value.startswith("projects/"):
        match = _OTHER_PROJECT.fullmatch(value)
        if match is None:
            raise ValueError(f"not a secret reference (write {REF_FORMS})")
        if _PROJECT_NUMBER.fullmatch(match["project"]) is None:
            raise ValueError(f"another project is named by its number, not {match['project']!r}"
                             " (Cloud Run takes projects/PROJECT_NUMBER/secrets/SECRET_ID)")
        project, rest = match["project"], match["rest"]
    secret, colon, version = rest.partition(":")
    if SECRET_ID.fullmatch(secret) is None:
        raise ValueError(f"secret id {secret!r} must be 1 to 255 letters, digits, '_' or '-' "
                         f"(write {REF_FORMS})")
    if colon and version != LATEST and _VERSION.fullmatch(version) is None:
        raise ValueError(f"version {version!r} must be a positive integer or latest")
    return SecretRef(secret, version if colon else LATEST, project)


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
    service_account: str | None = None  # the runtime account the services run as
    # the account that deploys (Cloud Build's, or impersonated); gcp-bootstrap creates it
    deployer_service_account: str = ""
    # env var → the Secret Manager secret it is bound to; every name a service lists is here.
    secrets: MappingProxyType[str, SecretRef] = field(
        default_factory=lambda: MappingProxyType({}))
    run: RunSettings | None = None  # cloudrun only
    gke: GkeSettings | None = None  # gke only

    def default_registry(self, project: str) -> str:
        return f"{self.region}-docker.pkg.dev/{self.project}/{self.repository}"


def parse_local(t: Table, services: Needs) -> LocalSettings:
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


def default_deployer(project: str) -> str:
    """`deployer_service_account` when shipyard.toml names none."""
    return f"shipyard-deployer@{project}.iam.gserviceaccount.com"


def parse_gcp(t: Table, needs: Needs, gke: bool) -> GcpSettings:
    settings = GcpSettings(
        project=t.get("project", str),
        region=t.get("region", str),
        repository=t.get("repository", str),
        cluster=t.get("cluster", str) if gke else None,
        namespace=t.get("namespace", str) if gke else None,
        service_account=t.get("service_account", str, None),
        deployer_service_account=t.get("deployer_service_account", str,
                                       default_deployer(t.get("project", str))),
    )
    for key in ("project", "region", "repository", "cluster", "namespace"):
        value = getattr(settings, key)
        if value is not None and dns_label_problem(value):
            raise t.fail(t.key(key), dns_label_problem(value) or "")
    return replace(settings, secrets=parse_secret_refs(t, needs))


def parse_secret_refs(t: Table, needs: Needs) -> MappingProxyType[str, SecretRef]:
    """`[environments.E.secrets]`: every name a service lists, mapped to a secret; nothing
    else (a name no service lists is an unknown key, like a typo)."""
    table = t.table("secrets")
    refs: dict[str, SecretRef] = {}
    for service, names in needs.items():
        for name in names:
            if name in refs:
                continue
            key = table.key(name)
            if name not in table.data:
                raise t.fail(key, f"missing (services.{service}.secrets lists it)")
            try:
                refs[name] = parse_secret_ref(table.get(name, str))
            except ValueError as exc:
                raise t.fail(key, str(exc)) from None
    table.done()
    return MappingProxyType(refs)


# target kind → its settings parser: the one table config parsing consults per kind.
# Each takes the environment's table and what the services need (service → secret names).
TARGET_SETTINGS: dict[str, Callable[[Table, Needs], LocalSettings | GcpSettings]] = {
    "local": parse_local,
    "cloudrun": lambda t, needs: replace(parse_gcp(t, needs, gke=False),
                                         run=parse_run(t.table("run"), list(needs))),
    "gke": lambda t, needs: replace(parse_gcp(t, needs, gke=True),
                                    gke=parse_gke(t, list(needs))),
}
