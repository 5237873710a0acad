"""shipyard.toml → frozen, validated objects. Every error names the file and the key.

The schema, with a complete example, is in docs/config.md.
"""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from shipyard.config.cloudbuild import CloudBuildSettings, parse_cloudbuild
from shipyard.config.flags import Flag, parse_flags
from shipyard.config.ops import MonitoringSettings, OpsSettings, parse_env_ops, parse_monitoring
from shipyard.config.scan import SCANNERS as SCANNERS  # kept importable from shipyard.config
from shipyard.config.scan import SEVERITIES as SEVERITIES
from shipyard.config.scan import ScanPolicy as ScanPolicy
from shipyard.config.scan import parse_scan
from shipyard.config.schema import (
    Table,
    dns_label_problem,
    env_var_problem,
    port_problem,
    secret_name_problem,
    url_path_problem,
)
from shipyard.config.targets import TARGET_SETTINGS, GcpSettings, LocalSettings
from shipyard.errors import ConfigError, UsageError

CONFIG_FILE = "shipyard.toml"
TARGETS = tuple(TARGET_SETTINGS)
Target = Literal["local", "cloudrun", "gke"]


@dataclass(frozen=True)
class Project:
    name: str
    release_branch: str = "main"
    remote: str = "origin"
    tag_message: str = "Release {version}"
    protected_branches: tuple[str, ...] = ("main",)


@dataclass(frozen=True)
class Service:
    name: str
    context: Path
    dockerfile: Path
    port: int
    health_path: str = "/healthz"
    version_path: str = "/version"
    build_args: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    env: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Environment:
    name: str
    target: Target
    registry: str
    scan: ScanPolicy
    local: LocalSettings | None = None
    gcp: GcpSettings | None = None
    ops: OpsSettings = field(default_factory=OpsSettings)  # monitoring and checklist


@dataclass(frozen=True)
class Config:
    path: Path
    root: Path
    project: Project
    services: tuple[Service, ...]
    environments: MappingProxyType[str, Environment]
    cloudbuild: CloudBuildSettings = CloudBuildSettings()
    flags: MappingProxyType[str, Flag] = field(default_factory=lambda: MappingProxyType({}))

    def environment(self, name: str) -> Environment:
        if name not in self.environments:
            known = ", ".join(sorted(self.environments)) or "none"
            raise UsageError(f"unknown environment {name!r}", hint=f"known environments: {known}")
        return self.environments[name]

    def select(self, names: tuple[str, ...] | list[str] = ()) -> tuple[Service, ...]:
        """The services named (all when none are), in config order; unknown names exit 2."""
        known = {s.name for s in self.services}
        for name in names:
            if name not in known:
                raise UsageError(f"unknown service {name!r}",
                                 hint=f"known services: {', '.join(sorted(known))}")
        return tuple(s for s in self.services if not names or s.name in names)


def load(directory: Path | None = None) -> Config:
    root = (directory or Path.cwd()).resolve()
    path = root / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{CONFIG_FILE} not found in {root}",
                          hint="run shipyard from the app repo's top folder (see docs/config.md)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{CONFIG_FILE}: not valid TOML: {exc}",
                          hint="fix the syntax; see docs/config.md") from None
    return parse(data, root, CONFIG_FILE)


def parse(data: dict[str, Any], root: Path, file: str = CONFIG_FILE) -> Config:
    top = Table(data, "", file)
    project = _project(top.table("project", required=True))
    services = _services(top.table("services", required=True), root)
    scan = parse_scan(top.table("scan"), ScanPolicy())
    names = tuple(s.name for s in services)
    monitoring = parse_monitoring(top.table("monitoring"), MonitoringSettings(), names,
                                  per_env=False)
    envs_table = top.table("environments", required=True)
    environments = {}
    for name, _ in envs_table.items():
        problem = dns_label_problem(name)
        if problem:
            raise envs_table.fail(envs_table.key(name), problem)
        table = envs_table.child(name)
        ops = parse_env_ops(table, monitoring, names, tuple(envs_table.data))
        environments[name] = replace(_environment(table, name, project, services, scan), ops=ops)
    if not environments:
        raise top.fail("environments", "define at least one environment")
    cloudbuild = parse_cloudbuild(top.table("cloudbuild"), tuple(environments))
    flags = parse_flags(top.table("flags"), {s.name: (s.env, s.secrets) for s in services})
    top.done()
    return Config(path=root / file, root=root, project=project, services=services,
                  environments=MappingProxyType(environments), cloudbuild=cloudbuild,
                  flags=MappingProxyType(flags))


def _project(t: Table) -> Project:
    name = t.get("name", str)
    if problem := dns_label_problem(name):
        raise t.fail(t.key("name"), problem)
    project = Project(
        name=name,
        release_branch=t.get("release_branch", str, "main"),
        remote=t.get("remote", str, "origin"),
        tag_message=t.get("tag_message", str, "Release {version}"),
        # An explicit empty list means "only the release branch", which is always protected.
        protected_branches=(t.str_list("protected_branches") if "protected_branches" in t.data
                            else ("main",)),
    )
    for key in ("release_branch", "remote"):
        value = getattr(project, key)
        if not value or value.startswith("-") or any(c.isspace() for c in value):
            raise t.fail(t.key(key), "must be a plain name (no spaces, not starting with '-')")
    try:  # `{}`, `{version!r}` and `{version:>9}` would all fail or mislead at tag time
        fields = {(f, spec, conv) for _, f, spec, conv in
                  string.Formatter().parse(project.tag_message) if f is not None}
    except ValueError:
        fields = {("?", "", None)}
    if fields - {("version", "", None)}:
        raise t.fail(t.key("tag_message"), "only the placeholder {version} is supported")
    t.done()
    return project


def _services(t: Table, root: Path) -> tuple[Service, ...]:
    services = []
    for name, _ in t.items():
        if problem := dns_label_problem(name):
            raise t.fail(t.key(name), problem)
        services.append(_service(t.child(name), name, root))
    if not services:
        raise t.fail("services", "define at least one service")
    return tuple(services)


def _service(t: Table, name: str, root: Path) -> Service:
    context = _inside(t, "context", root, t.get("context", str))
    if not context.is_dir():
        raise t.fail(t.key("context"), f"directory not found: {context}")
    dockerfile = _inside(t, "dockerfile", root, t.get("dockerfile", str, "Dockerfile"),
                         base=context if "dockerfile" not in t.data else root)
    if not dockerfile.is_file():
        raise t.fail(t.key("dockerfile"), f"file not found: {dockerfile}")
    port = t.get("port", int)
    if problem := port_problem(port):
        raise t.fail(t.key("port"), problem)
    paths = {key: t.get(key, str, default) for key, default in
             (("health_path", "/healthz"), ("version_path", "/version"))}
    for key, value in paths.items():
        if problem := url_path_problem(value):
            raise t.fail(t.key(key), problem)
    service = Service(
        name=name, context=context, dockerfile=dockerfile, port=port,
        health_path=paths["health_path"], version_path=paths["version_path"],
        build_args=MappingProxyType(t.str_map("build_args", env_var_problem)),
        env=MappingProxyType(t.str_map("env", env_var_problem)),
        secrets=t.str_list("secrets", secret_name_problem),
    )
    clash = set(service.env) & set(service.secrets)
    if clash:
        raise t.fail(t.key("env"), f"{sorted(clash)[0]} is also listed in secrets")
    t.done()
    return service


def _inside(t: Table, key: str, root: Path, value: str, base: Path | None = None) -> Path:
    path = ((base or root) / value).resolve()
    if not path.is_relative_to(root):
        raise t.fail(t.key(key), f"must stay inside the app repo ({root})")
    return path


def _environment(t: Table, name: str, project: Project, services: tuple[Service, ...],
                 scan: ScanPolicy) -> Environment:
    target = t.get("target", str)
    if target not in TARGETS:
        raise t.fail(t.key("target"), f"must be one of {', '.join(TARGETS)}")
    env_scan = parse_scan(t.table("scan"), scan)
    registry = t.get("registry", str, "")
    settings = TARGET_SETTINGS[target](t, {s.name: s.secrets for s in services})
    registry = registry or settings.default_registry(project.name)
    if not registry or any(c.isspace() for c in registry) or registry.startswith("-"):
        raise t.fail(t.key("registry"), "must be a registry prefix such as HOST/PATH")
    t.done()
    local = settings if isinstance(settings, LocalSettings) else None
    gcp = settings if isinstance(settings, GcpSettings) else None
    return Environment(name=name, target=target,  # type: ignore[arg-type]
                       registry=registry.rstrip("/"), scan=env_scan, local=local, gcp=gcp)
