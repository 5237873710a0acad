"""Fase 1 tasks: build and push images."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from shipyard import console
from shipyard.errors import UsageError
from shipyard.ledger import ReleaseRecord
from shipyard.stages.build import build_images
from shipyard.stages.push import push_images
from shipyard.targets.local_registry import LocalRegistry
from shipyard.tasks._kit import (
    DRY_RUN_HELP,
    ENV_HELP,
    expected_failures,
    is_dry_run,
    load_config,
    make_runner,
    require_version,
)


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
    parsed = require_version(version)
    if jobs < 0:
        raise UsageError("--jobs must be 1 or more", hint="omit it for the default")
    config = load_config(c)
    environment = config.environment(env)
    services = config.select(service or [])
    runner = make_runner(config, is_dry_run(c, dry_run))
    if environment.local is not None:
        LocalRegistry(config, environment, runner).up()
    record = ReleaseRecord.open(config.root, parsed, environment.name, runner.dry_run)
    build_images(config, environment, runner, parsed, services, record, jobs or None)


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
    parsed = require_version(version)
    if jobs < 0:
        raise UsageError("--jobs must be 1 or more", hint="omit it for the default")
    config = load_config(c)
    environment = config.environment(env)
    services = config.select(service or [])
    runner = make_runner(config, is_dry_run(c, dry_run))
    if environment.local is not None:
        LocalRegistry(config, environment, runner).up()
    record = ReleaseRecord.open(config.root, parsed, environment.name, runner.dry_run)
    push_images(environment, runner, parsed, services, record, jobs or None)
    if not runner.dry_run:
        console.note(f"release record: {record.path}")
