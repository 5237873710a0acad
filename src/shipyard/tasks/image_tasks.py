"""Fase 1 tasks: build and push images."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from shipyard.targets.local.registry import LocalRegistry
from shipyard.tasks._kit import (
    DRY_RUN_HELP,
    ENV_HELP,
    StageInputs,
    expected_failures,
    stage_inputs,
)
from shipyard.ui import console


@task(
    iterable=["service"],
    help={
        "version": "release version, e.g. v1.1.0 (the image tag)",
        "env": ENV_HELP,
        "service": "build only this service (repeatable; default: all)",
        "jobs": "services built at once (default: min(services, CPU cores))",
        "dry-run": DRY_RUN_HELP,
    },
)
@expected_failures
def build(
    c: Context,
    version: str | None = None,
    env: str = "local",
    service: list[str] | None = None,
    jobs: int = 0,
    dry_run: bool = False,
) -> None:
    """Build every service's image PREFIX/SERVICE:VERSION, in parallel, with OCI labels.

    An image whose inputs (context files after .dockerignore, Dockerfile, build args) match is
    retagged instead of rebuilt, from the local engine or the registry.
    """
    from shipyard.stages.build import build_images  # imported here: `invoke --list` stays quick

    run = _with_registry(stage_inputs(c, version, env, service, dry_run, jobs))
    build_images(run.config, run.env, run.runner, run.version, run.services, run.record,
                 jobs or None)


@task(
    iterable=["service"],
    help={
        "version": "release version whose images to push, e.g. v1.1.0",
        "env": ENV_HELP,
        "service": "push only this service (repeatable; default: all)",
        "jobs": "images pushed at once (default: min(services, CPU cores))",
        "dry-run": DRY_RUN_HELP,
    },
)
@expected_failures
def push(
    c: Context,
    version: str | None = None,
    env: str = "local",
    service: list[str] | None = None,
    jobs: int = 0,
    dry_run: bool = False,
) -> None:
    """Push each service's image and record its registry digest in .shipyard/releases/V.json.

    Transient failures are retried with backoff. A version already in the registry with a
    different digest is refused; the same digest is skipped.
    """
    from shipyard.stages.push import push_images

    run = _with_registry(stage_inputs(c, version, env, service, dry_run, jobs))
    push_images(run.env, run.runner, run.version, run.services, run.record, jobs or None)
    if not run.runner.dry_run:
        console.note(f"release record: {run.record.path}")


def _with_registry(run: StageInputs) -> StageInputs:
    """The local environment's registry is started on demand; others are assumed to exist."""
    if run.env.local is not None:
        LocalRegistry(run.config, run.env, run.runner).up()
    return run
