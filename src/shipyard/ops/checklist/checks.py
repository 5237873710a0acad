"""The checklist's automated checks that need no cloud call. Pure: each takes what it
judges (config, the deploy history, a clock) and returns one Check."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from shipyard.config import Config, Environment
from shipyard.config.ops import DAYS, RunwayMl, Window

PASS, FAIL, SKIPPED, PENDING = "pass", "fail", "skipped", "pending"
TRACE_EXPORTER, TRACE_NAME = "OTEL_TRACES_EXPORTER", "OTEL_SERVICE_NAME"
DAYS_PER_MONTH = 30


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    status: str
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "title": self.title, "status": self.status,
                "detail": self.detail}


def staging_verified(version: str, staging: str | None, history: list[dict[str, Any]]
                     ) -> Check:
    title = "released to staging and verified there"
    if staging is None:
        return Check("staging", title, SKIPPED, "no checklist.staging environment configured")
    runs = [e for e in history if str(e.get("version")) == version]
    if any(e.get("verified") for e in runs):
        when = next(e.get("when") for e in reversed(runs) if e.get("verified"))
        return Check("staging", title, PASS, f"{version} verified in {staging} at {when}")
    seen = "deployed but never verified" if runs else "never released"
    return Check("staging", title, FAIL, f"{version} was {seen} in {staging}")


def migrations_marker(root: Path, marker: str, version: str) -> Check:
    path = marker.replace("{version}", version)
    title = "migrations marker for this version"
    if (root / path).is_file():
        return Check("migrations", title, PASS, f"{path} exists")
    return Check("migrations", title, FAIL, f"{path} is missing (the migration job writes it "
                                            "once the schema for this version is applied)")


def runwayml_budget(plan: RunwayMl | None) -> Check:
    title = "RunwayML quota and cost for the expected video volume"
    if plan is None:
        return Check("runwayml", title, SKIPPED, "no checklist.runwayml configured")
    videos = plan.videos_per_day * DAYS_PER_MONTH
    cost = videos * plan.cost_per_video
    detail = (f"{videos} videos/month ({plan.videos_per_day}/day) of a {plan.monthly_quota} "
              f"quota; about ${cost:,.2f} of a ${plan.monthly_budget:,.2f} budget")
    ok = videos <= plan.monthly_quota and cost <= plan.monthly_budget
    return Check("runwayml", title, PASS if ok else FAIL, detail)


def deploy_window(window: Window | None, now: datetime) -> Check:
    """`now` must be aware; the window is judged in its own time zone (DST included)."""
    title = "inside the deploy window"
    if window is None:
        return Check("window", title, SKIPPED, "no checklist.window configured")
    local = now.astimezone(zoneinfo.ZoneInfo(window.timezone))
    day, clock = DAYS[local.weekday()], local.strftime("%H:%M")
    inside = day in window.days and window.start <= clock < window.end
    detail = (f"now {day} {clock} {window.timezone}; window {','.join(window.days)} "
              f"{window.start}-{window.end}")
    return Check("window", title, PASS if inside else FAIL, detail)


def rollback_target(version: str, env: str, serving: str | None, previous: str | None
                    ) -> Check:
    """`serving`: what the last verified deploy put in service; `previous`: the good one
    before it. Releasing `version` needs some other verified release to go back to."""
    title = "a rollback target exists"
    target = serving if serving and serving != version else previous
    if target and target != version:
        return Check("rollback", title, PASS, f"{target} (verified in {env}) to go back to")
    return Check("rollback", title, FAIL, f"no other verified release of {env} to roll back to")


def traces_exported(config: Config, env: Environment) -> Check:
    """The signal: the service's env (what every target deploys) names an OpenTelemetry
    traces exporter and a service name."""
    title = "configured services export traces"
    wanted = env.ops.monitoring.trace_services
    if not wanted:
        return Check("tracing", title, SKIPPED, "no monitoring.trace_services configured")
    missing = []
    for service in config.select(list(wanted)):
        exporter = service.env.get(TRACE_EXPORTER, "").strip().lower()
        if exporter in ("", "none") or not service.env.get(TRACE_NAME):
            missing.append(service.name)
    if missing:
        return Check("tracing", title, FAIL, f"{', '.join(missing)}: set {TRACE_EXPORTER} "
                     f"(not none) and {TRACE_NAME} in services.NAME.env")
    return Check("tracing", title, PASS, f"{', '.join(wanted)} set {TRACE_EXPORTER} and "
                 f"{TRACE_NAME}")
