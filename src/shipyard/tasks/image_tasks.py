"""Fase 1 tasks: build and push images."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from shipyard.tasks._kit import DRY_RUN_HELP, ENV_HELP, JOBS_HELP, expected_failures, run_context
from shipyard.ui import console


@task(
    iterable=["service"],
    help={
        "version": "release version, e.g. v1.1.0 (the image tag)",
        "env": ENV_HELP,
        "service": "build only this service (repeatable; default: all)",
        "jobs": JOBS_HELP.format(what="services built"),
        "dry-run": DRY_RUN_HELP,
    },
)
@expected_failures
def build(
    c: Context,
    version: str | None = None,
    env: str = "local",
    service: list[str] | None = None,
    jobs: str | None = None,
    dry_run: bool = False,
) -> None:
    """Build every service's image PREFIX/SERVICE:VERSION, in parallel, with OCI labels.

    An image whose inputs (context files after .dockerignore, Dockerfile, build args) match is
    retagged instead of rebuilt, from the local engine or the registry.
    """
    from shipyard.stages.build import build_images  # imported here: `invoke --list` stays quick

    build_images(run_context(c, env=env, version=version, services=service, jobs=jobs,
                             dry_run=dry_run))


@task(
    iterable=["service"],
    help={
        "version": "release version whose images to push, e.g. v1.1.0",
        "env": ENV_HELP,
        "service": "push only this service (repeatable; default: all)",
        "jobs": JOBS_HELP.format(what="images pushed"),
        "dry-run": DRY_RUN_HELP,
    },
)
@expected_failures
def push(
    c: Context,
    version: str | None = None,
    env: str = "local",
    service: list[str] | None = None,
    jobs: str | None = None,
    dry_run: bool = False,
) -> None:
    """Push each service's image and record its registry digest in .shipyard/releases/V.json.

    Transient failures are retried with backoff. A version already in the registry with a
    different digest is refused; the same digest is skipped.
    """
    from shipyard.stages.push import push_images

    ctx = run_context(c, env=env, version=version, services=service, jobs=jobs, dry_run=dry_run)
    push_images(ctx)
    if not ctx.dry_run:
        console.note(f"release record: {ctx.record.path}")

