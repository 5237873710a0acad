"""Fase 3/4 tasks for Google Cloud: deploy a pushed release to Cloud Run or to GKE."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from shipyard.errors import UsageError
from shipyard.tasks._kit import expected_failures, run_context
from shipyard.tasks.release_tasks import BREAK_LOCK_HELP


@task(name="deploy-run", iterable=["service"], help={
    "version": "a pushed release, e.g. v1.2.0",
    "env": "a cloudrun environment from shipyard.toml (required), e.g. staging",
    "service": "deploy only this service (repeatable; default: all)",
    "break-lock": BREAK_LOCK_HELP,
    "dry-run": "print every gcloud command it would run; run none that changes anything",
})
@expected_failures
def deploy_run(c: Context, version: str | None = None, env: str | None = None,
               service: list[str] | None = None, break_lock: bool = False,
               dry_run: bool = False) -> None:
    """Deploy a pushed release to Cloud Run by digest; traffic moves once all verified.

    Each service gets a new revision with no traffic and a version tag (a new service takes
    its first revision directly). Every new revision must answer its health path and its
    version through its tag URL; only then one update-traffic per service moves it all.
    If any fails, no traffic moves anywhere.
    """
    if env is None:
        raise UsageError("--env is required", hint="e.g. --env staging (a cloudrun environment)")
    ctx = run_context(c, env=env, version=version, services=service, dry_run=dry_run)
    from shipyard.pipeline import release as pipeline
    from shipyard.targets import require_kind

    require_kind(ctx, "cloudrun", "deploy-run")
    pipeline.deploy(ctx, break_lock=break_lock)


@task(name="deploy-gke", help={
    "version": "a pushed release, e.g. v1.1.0",
    "env": "a gke environment from shipyard.toml (required), e.g. prod",
    "break-lock": BREAK_LOCK_HELP,
    "dry-run": "render and print every kubectl command it would run; run none that changes "
               "anything",
})
@expected_failures
def deploy_gke(c: Context, version: str | None = None, env: str | None = None,
               break_lock: bool = False, dry_run: bool = False) -> None:
    """Deploy a pushed release to GKE: the overlay rendered with images pinned, then applied.

    `kubectl kustomize` of the environment's overlay through a generated overlay that pins
    every image by digest (no repo file is edited); the render is saved next to the release
    record; `kubectl apply --server-side --field-manager=shipyard`; then `kubectl rollout
    status` for every Deployment, in parallel. A failure re-applies the last good release's
    saved render and exits 1.
    """
    if env is None:
        raise UsageError("--env is required", hint="e.g. --env prod (a gke environment)")
    ctx = run_context(c, env=env, version=version, dry_run=dry_run)
    from shipyard.pipeline import release as pipeline
    from shipyard.targets import require_kind

    require_kind(ctx, "gke", "deploy-gke")
    pipeline.deploy(ctx, break_lock=break_lock)
