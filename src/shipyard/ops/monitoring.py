"""Alert policies as code: the app's `monitoring/` templates rendered with shipyard.toml.

Pure except for reading the template files. What comes out is exactly what
`monitoring-apply` sends: alert policies (each with the user labels `shipyard-key` and
`shipyard-env` that identify it on later runs), log-based metrics (identified by name) and
uptime checks (identified by display name: gcloud drops user labels on uptime checks).
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shipyard.config import Config, Environment
from shipyard.config.ops import MonitoringSettings
from shipyard.errors import UsageError

TEMPLATES = "monitoring"
METRICS_FILE = "log-metrics.json"
KEY_LABEL, ENV_LABEL = "shipyard-key", "shipyard-env"
NUMBERS = ("error_rate", "latency_p95_ms", "video_failure_rate")
HINT = "see docs/operations.md, Alerts: placeholders and file shapes"


@dataclass(frozen=True)
class UptimeCheck:
    display_name: str
    host: str
    path: str
    https: bool
    port: int
    period_minutes: int = 5
    timeout_seconds: int = 10

    def as_config(self, project: str) -> dict[str, Any]:
        """The UptimeCheckConfig as gcloud sends it (for render, and to compare with)."""
        return {"displayName": self.display_name,
                "monitoredResource": {"type": "uptime_url",
                                      "labels": {"host": self.host, "project_id": project}},
                "httpCheck": {"path": self.path, "port": self.port, "useSsl": self.https,
                              "requestMethod": "GET"},
                "period": f"{self.period_minutes * 60}s", "timeout": f"{self.timeout_seconds}s"}


@dataclass(frozen=True)
class Rendered:
    project: str
    policies: tuple[dict[str, Any], ...]
    metrics: tuple[dict[str, Any], ...]
    uptime: tuple[UptimeCheck, ...]

    def as_json(self) -> dict[str, Any]:
        return {"project": self.project, "alertPolicies": list(self.policies),
                "logMetrics": list(self.metrics),
                "uptimeCheckConfigs": [u.as_config(self.project) for u in self.uptime]}


def values(env: Environment, settings: MonitoringSettings) -> dict[str, Any]:
    return {"env": env.name, "project": env.gcp.project if env.gcp else "",
            "error_rate": settings.error_rate,
            "error_rate_percent": _percent(settings.error_rate),
            "latency_p95_ms": settings.latency_p95_ms,
            "video_failure_rate": settings.video_failure_rate,
            "video_failure_rate_percent": _percent(settings.video_failure_rate),
            "window": f"{settings.window_seconds}s",
            "video_service": settings.video_service or ""}


def _percent(share: float) -> str:
    return f"{share * 100:g}"


def render(config: Config, env: Environment) -> Rendered:
    if env.gcp is None:
        raise UsageError(f"environment {env.name} is not on Google Cloud (target {env.target})",
                         hint="monitoring-render and monitoring-apply take a cloudrun or gke "
                              "environment, e.g. --env staging")
    folder = config.root / TEMPLATES
    if not folder.is_dir():
        raise UsageError(f"no {TEMPLATES}/ folder in {config.root}", hint=HINT)
    settings = env.ops.monitoring
    base = values(env, settings)
    services = [s.name for s in config.services]
    policies: list[dict[str, Any]] = []
    metrics: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.json")):
        template = _load(path)
        if path.name == METRICS_FILE:
            if not isinstance(template, list):
                raise UsageError(f"{path.name}: must be a list of log metrics", hint=HINT)
            metrics += [_fill(m, base, path) for m in template]
            continue
        if not isinstance(template, dict):
            raise UsageError(f"{path.name}: must be one AlertPolicy object", hint=HINT)
        per_service = "${service}" in path.read_text(encoding="utf-8")
        for service in services if per_service else [None]:
            policy = _fill(template, {**base, "service": service or ""}, path)
            key = path.stem + (f"-{service}" if service else "")
            policies.append(_identify(policy, key[:63], env, settings))
    _unique(policies, metrics)
    return Rendered(env.gcp.project, tuple(policies), tuple(metrics),
                    tuple(uptime_checks(env.name, settings)))


def _identify(policy: dict[str, Any], key: str, env: Environment,
              settings: MonitoringSettings) -> dict[str, Any]:
    labels = {**policy.get("userLabels", {}), KEY_LABEL: key, ENV_LABEL: env.name}
    policy = {**policy, "userLabels": labels}
    if settings.notification_channels:
        policy["notificationChannels"] = list(settings.notification_channels)
    return policy


def uptime_checks(env: str, settings: MonitoringSettings) -> list[UptimeCheck]:
    checks = []
    for service, url in sorted(settings.uptime_urls.items()):
        parts = urlsplit(url)
        https = parts.scheme == "https"
        checks.append(UptimeCheck(f"shipyard {env} uptime {service}", parts.hostname or "",
                                  parts.path or "/", https, parts.port or (443 if https else 80)))
    return checks


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path.name}: not valid JSON ({exc})", hint=HINT) from None


_WHOLE = re.compile(r"\$\{([a-z_0-9]+)\}")


def _fill(node: Any, known: dict[str, Any], path: Path) -> Any:
    """Placeholders in strings; a string that is one numeric placeholder becomes the number."""
    if isinstance(node, dict):
        return {k: _fill(v, known, path) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, known, path) for v in node]
    if not isinstance(node, str):
        return node
    whole = _WHOLE.fullmatch(node)
    if whole and whole[1] in NUMBERS:
        return known[whole[1]]
    try:
        return string.Template(node).substitute(known)
    except KeyError as exc:
        raise UsageError(f"{path.name}: unknown placeholder ${{{exc.args[0]}}}",
                         hint=f"known: {', '.join(sorted(known))}") from None
    except ValueError as exc:
        raise UsageError(f"{path.name}: bad placeholder ({exc})", hint=HINT) from None


def _unique(policies: list[dict[str, Any]], metrics: list[dict[str, Any]]) -> None:
    names = [p.get("displayName") for p in policies]
    for name in names:
        if not isinstance(name, str) or not name or names.count(name) > 1:
            raise UsageError(f"alert policy display names must be set and unique: {name!r}",
                             hint="a per-service template needs ${service} in displayName")
    ids = [m.get("name") for m in metrics]
    for metric in metrics:
        name = metric.get("name")
        if (not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name)
                or ids.count(name) > 1 or not isinstance(metric.get("filter"), str)):
            raise UsageError(f"{METRICS_FILE}: every metric needs a unique name "
                             f"([A-Za-z0-9_.-]) and a filter: {name!r}", hint=HINT)
