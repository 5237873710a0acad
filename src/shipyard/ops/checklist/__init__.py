"""`invoke checklist` (Fase 7) and the release gate that reads its report.

The checklist runs every automated check, adds the manual items with who confirmed them and
when, writes the report (Markdown and JSON) and fails unless all passed. `release` to an
environment whose checklist is `required` refuses to start without a passing report for the
version (or an override, recorded in the audit log)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shipyard.errors import ShipyardError, UsageError
from shipyard.ops.checklist import checks as c
from shipyard.ops.checklist import gcp, report
from shipyard.pipeline.context import RunContext
from shipyard.state import audit
from shipyard.state.records import now as stamp
from shipyard.ui import console, table


def confirm(ctx: RunContext, items: list[str], by: str | None) -> None:
    """Record manual confirmations (validated first: all or none are written)."""
    manual = ctx.env.ops.checklist.manual
    if items and not (by or "").strip():
        raise UsageError("--confirm needs --by NAME (who confirms it)",
                         hint="e.g. --confirm rollback-plan --by 'Ana García'")
    for item in items:
        if item not in manual:
            raise UsageError(f"unknown checklist item {item!r}",
                             hint=f"manual items of {ctx.env.name}: "
                                  f"{', '.join(manual) or 'none'}")
    if not items or ctx.dry_run:
        return
    root, env, version = ctx.config.root, ctx.env.name, str(ctx.release)
    done = report.confirmations(root, env, version)
    name = " ".join(str(by).split())[:100]
    for item in items:
        done[item] = {"by": name, "when": stamp(), "user": audit.who()}
    report.save_confirmations(root, env, version, done)


def run_checks(ctx: RunContext, now: datetime) -> list[c.Check]:
    from shipyard.targets.gcloud_auth import gcloud_path

    root, env, version = ctx.config.root, ctx.env, str(ctx.release)
    settings = env.ops.checklist
    gcloud = gcloud_path()
    staging = audit.history(root, settings.staging) if settings.staging else []
    return [
        c.staging_verified(version, settings.staging, staging),
        gcp.backups_check(ctx.runner, gcloud, env, now),
        c.migrations_marker(root, settings.migrations_marker, version),
        c.runwayml_budget(settings.runwayml),
        gcp.roles_check(ctx.runner, gcloud, env),
        c.deploy_window(settings.window, now),
        c.rollback_target(version, env.name, audit.serving(root, env.name),
                          audit.previous_good(root, env.name)),
        c.traces_exported(ctx.config, env),
        *report.manual_checks(dict(settings.manual),
                              report.confirmations(root, env.name, version)),
    ]


def checklist(ctx: RunContext, items: list[str], by: str | None, *, show: bool = True
              ) -> dict[str, Any]:
    """`show`: print the table (stdout); off when stdout carries the JSON report."""
    confirm(ctx, items, by)
    result = report.build(ctx.env.name, str(ctx.release), stamp(),
                          run_checks(ctx, datetime.now(UTC)))
    if show:
            table(f"checklist {ctx.release} → {ctx.env.name}", ("check", "status", "detail"),
              [(x["title"], x["status"].upper() if x["status"] != "pass" else "ok",
                x["detail"]) for x in result["checks"]])
    if ctx.dry_run:
        console.note("[dry-run] no report written, no confirmation recorded")
    else:
        json_path, md_path = report.write(ctx.config.root, result)
        console.note(f"report: {md_path.relative_to(ctx.config.root)} and "
                     f"{json_path.name}")
    return result


def require_passing(ctx: RunContext, skip_reason: str | None) -> None:
    """The release gate: before preflight, before anything changes."""
    env, version = ctx.env, str(ctx.release)
    if not env.ops.checklist.required:
        return
    if skip_reason is not None:
        if not skip_reason.strip():
            raise UsageError("--skip-checklist needs a reason",
                             hint="e.g. --skip-checklist 'hotfix for incident 42'")
        if not ctx.dry_run:
            audit.audit(ctx.config.root, action="checklist-skipped", version=version,
                        env=env.name, result="override", reason=" ".join(skip_reason.split()))
        console.note(f"warning: checklist for {version} → {env.name} skipped: {skip_reason}")
        return
    hint = (f"run `invoke checklist --env {env.name} --version {version}` until it passes "
            "(or --skip-checklist REASON, recorded in the audit log)")
    found = report.load(ctx.config.root, env.name, version)
    if found is None:
        raise UsageError(f"{env.name} needs a passing checklist for {version}; there is none",
                         hint=hint)
    if not found.get("passed") or found.get("version") != version:
        failed = [x.get("title", "?") for x in found.get("checks", [])
                  if x.get("status") in (c.FAIL, c.PENDING)]
        raise UsageError(f"the checklist for {version} → {env.name} did not pass"
                         f" ({'; '.join(failed) or 'see its report'})", hint=hint)
    window = c.deploy_window(env.ops.checklist.window, datetime.now(UTC))
    if window.status == c.FAIL:  # the report may be hours old; the window is judged now
        raise UsageError(f"outside the deploy window of {env.name}: {window.detail}",
                         hint="wait for the window, or --skip-checklist REASON")


def failed_error(result: dict[str, Any]) -> ShipyardError:
    failed = [x["title"] for x in result["checks"] if x["status"] in (c.FAIL, c.PENDING)]
    return ShipyardError(f"checklist for {result['version']} → {result['env']} not passed: "
                         + "; ".join(failed),
                         hint="fix what failed, confirm what is pending (--confirm ITEM --by "
                              "NAME), and run it again")
