"""Operations settings: `[monitoring]` (defaults) and, per environment, `.monitoring` and
`.checklist`. The schema, with an example, is in docs/config.md ("Monitoring" and
"Production checklist")."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from types import MappingProxyType

from shipyard.config.schema import Table, dns_label_problem

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
MARKER_DEFAULT = "migrations/applied/{version}"
_EMPTY: MappingProxyType[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class MonitoringSettings:
    error_rate: float = 0.05  # share of requests answered 5xx
    latency_p95_ms: int = 2000
    video_failure_rate: float = 0.1  # failed video jobs / all video jobs
    window_seconds: int = 300  # how long a condition must hold before it fires
    video_service: str | None = None  # whose structured log lines report video jobs
    notification_channels: tuple[str, ...] = ()
    trace_services: tuple[str, ...] = ()  # services that must export traces
    uptime_urls: MappingProxyType[str, str] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True)
class Window:
    timezone: str
    days: tuple[str, ...]
    start: str  # HH:MM, local time, inclusive
    end: str  # HH:MM, local time, exclusive


@dataclass(frozen=True)
class CloudSql:
    instance: str
    max_backup_age_hours: int = 26


@dataclass(frozen=True)
class RunwayMl:
    monthly_quota: int  # videos the plan allows per month
    videos_per_day: int  # expected volume
    cost_per_video: float  # USD
    monthly_budget: float  # USD


@dataclass(frozen=True)
class ChecklistSettings:
    required: bool = False  # `release` refuses without a passing report
    staging: str | None = None  # the environment a version must have verified in first
    migrations_marker: str = MARKER_DEFAULT  # a repo path; {version} is replaced
    service_accounts: tuple[str, ...] = ()  # runtime accounts besides the environment's
    manual: MappingProxyType[str, str] = field(default_factory=lambda: _EMPTY)
    window: Window | None = None
    cloudsql: CloudSql | None = None
    runwayml: RunwayMl | None = None


@dataclass(frozen=True)
class OpsSettings:
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    checklist: ChecklistSettings = field(default_factory=ChecklistSettings)


def _number(value: object) -> float | None:
    """A TOML integer or float (not a boolean) as a float; None for anything else."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _ratio(t: Table, key: str, default: float) -> float:
    value = _number(t.get(key, object, default))
    if value is None or not 0 < value <= 1:
        raise t.fail(t.key(key), "must be a number above 0 and at most 1 (a share, 0.05 = 5%)")
    return value


def _positive(t: Table, key: str, default: int | None = None) -> int:
    value = t.get(key, int, default) if default is not None else t.get(key, int)
    if value < 1:
        raise t.fail(t.key(key), "must be 1 or more")
    return value


def _service(t: Table, key: str, value: str, services: tuple[str, ...]) -> str:
    if value not in services:
        raise t.fail(t.key(key), f"unknown service {value!r} (known: {', '.join(services)})")
    return value


def parse_monitoring(t: Table, base: MonitoringSettings, services: tuple[str, ...],
                     *, per_env: bool) -> MonitoringSettings:
    """`[monitoring]` (base = the built-in defaults) or `[environments.E.monitoring]` (base =
    `[monitoring]`): every key falls back to the base."""
    video = t.get("video_service", str, base.video_service)
    traces = t.str_list("trace_services") if "trace_services" in t.data else base.trace_services
    for name in traces:
        _service(t, "trace_services", name, services)
    urls: dict[str, str] = dict(base.uptime_urls)
    if per_env:
        table = t.table("uptime_urls")
        for name, _ in table.items():
            url = table.get(_service(table, name, name, services), str)
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[!-~]*)?", url):
                raise table.fail(table.key(name), "must be an http(s) URL such as "
                                 "https://api.example.com/healthz")
            urls[name] = url
    settings = MonitoringSettings(
        error_rate=_ratio(t, "error_rate", base.error_rate),
        latency_p95_ms=_positive(t, "latency_p95_ms", base.latency_p95_ms),
        video_failure_rate=_ratio(t, "video_failure_rate", base.video_failure_rate),
        window_seconds=_positive(t, "window_seconds", base.window_seconds),
        video_service=_service(t, "video_service", video, services) if video else None,
        notification_channels=(t.str_list("notification_channels")
                               if "notification_channels" in t.data
                               else base.notification_channels),
        trace_services=traces, uptime_urls=MappingProxyType(urls))
    for channel in settings.notification_channels:
        if not re.fullmatch(r"projects/[a-z0-9-]+/notificationChannels/[0-9]+", channel):
            raise t.fail(t.key("notification_channels"), f"{channel!r} is not a channel name "
                         "(projects/PROJECT/notificationChannels/ID)")
    t.done()
    return settings


def parse_checklist(t: Table, environments: tuple[str, ...]) -> ChecklistSettings:
    staging = t.get("staging", str, None)
    if staging is not None and staging not in environments:
        raise t.fail(t.key("staging"), f"unknown environment {staging!r}")
    marker = t.get("migrations_marker", str, MARKER_DEFAULT)
    if marker.startswith("/") or ".." in marker.split("/"):
        raise t.fail(t.key("migrations_marker"), "must be a path inside the app repo")
    manual = t.str_map("manual", dns_label_problem)
    settings = ChecklistSettings(
        required=t.get("required", bool, False), staging=staging, migrations_marker=marker,
        service_accounts=t.str_list("service_accounts"), manual=MappingProxyType(manual),
        window=_window(t.table("window")) if "window" in t.data else None,
        cloudsql=_cloudsql(t.table("cloudsql")) if "cloudsql" in t.data else None,
        runwayml=_runwayml(t.table("runwayml")) if "runwayml" in t.data else None)
    t.done()
    return settings


def _window(t: Table) -> Window:
    zone = t.get("timezone", str)
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise t.fail(t.key("timezone"), f"unknown time zone {zone!r} (e.g. Europe/Madrid)"
                     ) from None
    days = tuple(d.lower() for d in t.str_list("days")) or DAYS[:5]
    for day in days:
        if day not in DAYS:
            raise t.fail(t.key("days"), f"{day!r} is not one of {', '.join(DAYS)}")
    clock = {key: t.get(key, str) for key in ("start", "end")}
    for key, value in clock.items():
        if CLOCK.fullmatch(value) is None:
            raise t.fail(t.key(key), "must be a 24-hour time HH:MM")
    if clock["start"] >= clock["end"]:
        raise t.fail(t.key("end"), "must be later than start (same day)")
    t.done()
    return Window(zone, days, clock["start"], clock["end"])


def _cloudsql(t: Table) -> CloudSql:
    instance = t.get("instance", str)
    if problem := dns_label_problem(instance):
        raise t.fail(t.key("instance"), problem)
    settings = CloudSql(instance, _positive(t, "max_backup_age_hours", 26))
    t.done()
    return settings


def _money(t: Table, key: str) -> float:
    value = _number(t.get(key, object))
    if value is None or value < 0:
        raise t.fail(t.key(key), "must be a number, 0 or more")
    return value


def _runwayml(t: Table) -> RunwayMl:
    settings = RunwayMl(monthly_quota=_positive(t, "monthly_quota"),
                        videos_per_day=_positive(t, "videos_per_day"),
                        cost_per_video=_money(t, "cost_per_video"),
                        monthly_budget=_money(t, "monthly_budget"))
    t.done()
    return settings


def parse_env_ops(t: Table, base: MonitoringSettings, services: tuple[str, ...],
                  environments: tuple[str, ...]) -> OpsSettings:
    """Reads (and so claims) the environment's `monitoring` and `checklist` tables."""
    monitoring = parse_monitoring(t.table("monitoring"), base, services, per_env=True)
    return OpsSettings(monitoring, parse_checklist(t.table("checklist"), environments))
