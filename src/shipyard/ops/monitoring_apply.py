"""`monitoring-apply`: converge Cloud Monitoring with the rendered policies, through gcloud.

Read what is there (three list calls), compare, then create what is missing and update what
differs; what matches gets no call at all, so a rerun changes nothing. `plan` is pure.
Log-based metrics go first: the video-job policy counts them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from shipyard.commands import gcloud_monitoring as gm
from shipyard.commands.gcloud import Argv
from shipyard.errors import ShipyardError
from shipyard.ops.monitoring import ENV_LABEL, KEY_LABEL, Rendered, UptimeCheck, render
from shipyard.pipeline.context import RunContext
from shipyard.ui import console, table

Current = dict[str, list[dict[str, Any]]]  # "metrics" | "policies" | "uptime" → as listed


@dataclass(frozen=True)
class Change:
    kind: str  # log metric | alert policy | uptime check
    name: str
    action: str  # create | update | replace | unchanged
    argv: tuple[Argv, ...] = field(default=())


def covers(want: Any, have: Any) -> bool:
    """Whether what the API returned holds everything we send (it adds ids, records and
    defaults of its own, which are no difference)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and covers(v, have[k])
                                              for k, v in want.items())
    if isinstance(want, list):
        return (isinstance(have, list) and len(want) == len(have)
                and all(covers(w, h) for w, h in zip(want, have, strict=True)))
    if isinstance(want, bool) or isinstance(have, bool):
        return want is have
    return bool(want == have)


def plan(rendered: Rendered, current: Current, env: str, gcloud: str) -> list[Change]:
    project = rendered.project
    changes: list[Change] = []
    metrics = {m.get("name"): m for m in current["metrics"]}
    for metric in rendered.metrics:
        have, name = metrics.get(metric["name"]), metric["name"]
        args = (metric.get("description", ""), metric["filter"])
        if have is None:
            changes.append(Change("log metric", name, "create",
                                  (gm.log_metric(gcloud, project, "create", name, *args),)))
        elif not covers(metric, have):
            changes.append(Change("log metric", name, "update",
                                  (gm.log_metric(gcloud, project, "update", name, *args),)))
        else:
            changes.append(Change("log metric", name, "unchanged"))
    ours = {p.get("userLabels", {}).get(KEY_LABEL): p for p in current["policies"]
            if p.get("userLabels", {}).get(ENV_LABEL) == env}
    for policy in rendered.policies:
        key, shown = policy["userLabels"][KEY_LABEL], policy["displayName"]
        existing = ours.get(key)
        if existing is None:
            changes.append(Change("alert policy", shown, "create",
                                  (gm.create_policy(gcloud, project, policy),)))
        elif not covers(policy, existing):
            changes.append(Change("alert policy", shown, "update",
                                  (gm.update_policy(gcloud, project, existing["name"], policy),)))
        else:
            changes.append(Change("alert policy", shown, "unchanged"))
    checks = {c.get("displayName"): c for c in current["uptime"]}
    for check in rendered.uptime:
        changes.append(_uptime_change(check, checks.get(check.display_name), project, gcloud))
    return changes


def _uptime_change(check: UptimeCheck, have: dict[str, Any] | None, project: str,
                   gcloud: str) -> Change:
    create = gm.create_uptime(gcloud, project, check.display_name, check.host, check.path,
                              https=check.https, port=check.port,
                              period_minutes=check.period_minutes,
                              timeout_seconds=check.timeout_seconds)
    if have is None:
        return Change("uptime check", check.display_name, "create", (create,))
    want = check.as_config(project)
    if covers(want, have):
        return Change("uptime check", check.display_name, "unchanged")
    check_id = str(have.get("name", "")).rsplit("/", 1)[-1]
    fixed = ("monitoredResource",)  # the host cannot be updated in place
    if not all(covers(want[k], have.get(k)) for k in fixed) or \
            want["httpCheck"]["useSsl"] is not have.get("httpCheck", {}).get("useSsl", False):
        return Change("uptime check", check.display_name, "replace",
                      (gm.delete_uptime(gcloud, project, check_id), create))
    return Change("uptime check", check.display_name, "update", (gm.update_uptime(
        gcloud, project, check_id, check.path, port=check.port,
        period_minutes=check.period_minutes, timeout_seconds=check.timeout_seconds),))


def read_current(ctx: RunContext, project: str, gcloud: str) -> Current:
    """What the project has now. A dry run that cannot read plans as if nothing existed."""
    reads: dict[str, Callable[[], Argv]] = {
        "metrics": lambda: gm.list_log_metrics(gcloud, project),
        "policies": lambda: gm.list_policies(gcloud, project),
        "uptime": lambda: gm.list_uptime(gcloud, project)}
    current: Current = {}
    with ThreadPoolExecutor(max_workers=len(reads)) as pool:  # gcloud starts slowly
        results = dict(zip(reads, pool.map(lambda make: ctx.runner.run(
            make(), mutates=False, check=False, timeout=120), reads.values()), strict=True))
    for kind, result in results.items():
        if not result.ok:
            tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
            if ctx.dry_run:
                console.note(f"[dry-run] could not list {kind} ({tail}); planning as if "
                             "there were none")
                current[kind] = []
                continue
            raise ShipyardError(f"gcloud could not list {kind} in {project}: {tail}",
                                hint="check `gcloud auth list`, the project, and that the "
                                     "Monitoring and Logging APIs are enabled")
        try:
            listed = json.loads(result.stdout or "[]")
        except json.JSONDecodeError:
            raise ShipyardError(f"gcloud listed {kind} as something other than JSON",
                                hint="rerun with --verbosity=debug to see the answer") from None
        current[kind] = [item for item in listed if isinstance(item, dict)]
    return current


def apply(ctx: RunContext) -> list[Change]:
    from shipyard.targets.gcloud_auth import gcloud_path

    rendered = render(ctx.config, ctx.env)  # bad templates are refused before any call
    gcloud = gcloud_path()
    changes = plan(rendered, read_current(ctx, rendered.project, gcloud), ctx.env.name, gcloud)
    # Metrics first (the video-job policy counts them), then the rest side by side; each
    # change's own calls stay in order (an uptime replace deletes before it creates).
    for wave in ([c for c in changes if c.kind == "log metric"],
                 [c for c in changes if c.kind != "log metric"]):
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda change: [ctx.runner.run(argv, timeout=120)
                                          for argv in change.argv], wave))
    table(f"monitoring {ctx.env.name} ({rendered.project})", ("kind", "name", "action"),
          [(c.kind, c.name, c.action) for c in changes])
    done = sum(1 for c in changes if c.argv)
    verb = "would change" if ctx.dry_run else "changed"
    console.note(f"{verb} {done} of {len(changes)}" if done else
                 f"nothing to do: all {len(changes)} match monitoring/")
    return changes
