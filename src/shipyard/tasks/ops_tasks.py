"""Fase 6/7 tasks: alert policies as code, and the production checklist."""

from __future__ import annotations

import json

from invoke.context import Context
from invoke.tasks import task

from shipyard.errors import UsageError
from shipyard.tasks._kit import expected_failures, run_context

GCP_ENV_HELP = "a cloudrun or gke environment from shipyard.toml (required), e.g. staging"


def _env(env: str | None) -> str:
    if env is None:
        raise UsageError("--env is required", hint="e.g. --env staging")
    return env


@task(name="monitoring-render", help={
    "env": GCP_ENV_HELP,
    "dry-run": "render only reads files anyway; accepted so every task takes it"})
@expected_failures
def monitoring_render(c: Context, env: str | None = None, dry_run: bool = False) -> None:
    """Print the alert policies, log metrics and uptime checks as they would be sent (JSON).

    Rendered from the app's monitoring/ templates with the thresholds and notification
    channels of shipyard.toml. Reads files only; calls nothing.
    """
    ctx = run_context(c, env=_env(env), dry_run=True, version_required=False)
    from shipyard.ops.monitoring import render

    print(json.dumps(render(ctx.config, ctx.env).as_json(), indent=2, sort_keys=True))


@task(name="monitoring-apply", help={
    "env": GCP_ENV_HELP,
    "dry-run": "list what is there, print every create/update it would run; run none"})
@expected_failures
def monitoring_apply(c: Context, env: str | None = None, dry_run: bool = False) -> None:
    """Converge Cloud Monitoring with monitoring/: create what is missing, update what differs.

    Log-based metrics first, then alert policies (known by their shipyard-key label), then
    uptime checks (known by display name). What already matches gets no call: a rerun
    changes nothing. Policies no longer in monitoring/ are left alone.
    """
    ctx = run_context(c, env=_env(env), dry_run=dry_run, version_required=False)
    from shipyard.ops.monitoring_apply import apply

    apply(ctx)


@task(name="checklist", iterable=["confirm"], help={
    "env": "the environment to release to (required), e.g. prod",
    "version": "the version to release, e.g. v1.1.0",
    "confirm": "a manual item of checklist.manual that you confirm (repeatable; needs --by)",
    "by": "who confirms the --confirm items (recorded with the time)",
    "json": "print the report as JSON on stdout",
    "dry-run": "run the checks, write no report and record no confirmation"})
@expected_failures
def checklist(c: Context, env: str | None = None, version: str | None = None,
              confirm: list[str] | None = None, by: str | None = None, json_: bool = False,
              dry_run: bool = False) -> None:
    """The production checklist (Fase 7): check what can be checked, record what people confirm.

    Automated: released and verified in staging, Cloud SQL backups, the migrations marker,
    RunwayML quota and cost, no owner/editor on the runtime accounts, the deploy window, a
    rollback target, trace export. Writes .shipyard/checklists/ENV/VERSION.{md,json};
    exit 1 unless everything passed. `release` reads it where the environment requires it.
    """
    ctx = run_context(c, env=_env(env), version=version, dry_run=dry_run)
    from shipyard.ops.checklist import checklist as run
    from shipyard.ops.checklist import failed_error

    result = run(ctx, list(confirm or []), by, show=not json_)
    if json_:
        print(json.dumps(result, indent=2, sort_keys=True))
    if not result["passed"]:
        raise failed_error(result)
