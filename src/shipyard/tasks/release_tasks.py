"""Fase 4/5 tasks: release end to end, deploy, roll back, and show what runs."""

from __future__ import annotations

import json

from invoke.context import Context
from invoke.tasks import task

from shipyard.tasks._kit import (
    DRY_RUN_HELP,
    ENV_HELP,
    expected_failures,
    run_context,
)
from shipyard.version import Version

BREAK_LOCK_HELP = "break a lock left by a deploy whose process has died (never a live one)"
RESET_FLAGS_HELP = ("put every feature flag back to its shipyard.toml default (without it, "
                    "the flags keep the states serving now: see `invoke flag`)")


@task(help={"version": "release version, e.g. v1.1.0", "env": ENV_HELP,
            "break-lock": BREAK_LOCK_HELP, "reset-flags": RESET_FLAGS_HELP,
            "dry-run": "print the complete plan; change nothing",
            "skip-checklist": "REASON: release without the passing checklist the environment "
                              "requires (the reason goes to the audit log)"})
@expected_failures
def release(c: Context, version: str | None = None, env: str = "local",
            break_lock: bool = False, dry_run: bool = False,
            skip_checklist: str | None = None, reset_flags: bool = False) -> None:
    """Release end to end: preflight, tag, build, scan, push, deploy, verify, record.

    Every check runs before any change. A failed verification rolls back to the previous good
    release and exits 1. Rerunning after a failure or a kill resumes where it stopped.
    An environment whose checklist is required needs `invoke checklist` to have passed.
    """
    ctx = run_context(c, env=env, version=version, dry_run=dry_run)
    from shipyard.pipeline import release as pipeline  # loaded when a task runs, not on --list

    pipeline.release(ctx, break_lock=break_lock, skip_checklist=skip_checklist,
                     reset_flags=reset_flags)


@task(help={"version": "a pushed release, e.g. v1.1.0", "env": ENV_HELP,
            "break-lock": BREAK_LOCK_HELP, "reset-flags": RESET_FLAGS_HELP,
            "dry-run": DRY_RUN_HELP})
@expected_failures
def deploy(c: Context, version: str | None = None, env: str = "local",
           break_lock: bool = False, reset_flags: bool = False, dry_run: bool = False) -> None:
    """Deploy a pushed release by digest, all services switched together once healthy.

    New revisions start first and must pass their health and version checks; then one traffic
    switch moves every service. The old revisions are kept for an instant rollback.
    """
    ctx = run_context(c, env=env, version=version, dry_run=dry_run)
    from shipyard.pipeline import release as pipeline

    pipeline.deploy(ctx, break_lock=break_lock, reset_flags=reset_flags)


@task(help={"env": ENV_HELP, "to": "release to go back to (default: the last good one "
            "before the current)", "break-lock": BREAK_LOCK_HELP,
            "reset-flags": RESET_FLAGS_HELP, "dry-run": DRY_RUN_HELP})
@expected_failures
def rollback(c: Context, env: str = "local", to: str | None = None, break_lock: bool = False,
             reset_flags: bool = False, dry_run: bool = False) -> None:
    """Move every service back to an earlier verified release, together, without rebuilding.

    Feature flags keep the states serving now (a flag switched off stays off); pass
    --reset-flags to go back to their shipyard.toml defaults.
    """
    target = Version.parse(to) if to is not None else None
    ctx = run_context(c, env=env, dry_run=dry_run, version_required=False)
    from shipyard.pipeline import release as pipeline

    pipeline.rollback(ctx, target, break_lock=break_lock, reset_flags=reset_flags)


@task(name="status", help={
    "env": ENV_HELP,
    "json": "print machine-readable JSON on stdout",
    "dry-run": "status only reads anyway; with it, not even the command log is written",
})
@expected_failures
def status(c: Context, env: str = "local", json_: bool = False, dry_run: bool = False) -> None:
    """Show what each service runs now (version, digest, URL) and the last releases."""
    from shipyard.pipeline.status import collect_status, show_status

    data = collect_status(run_context(c, env=env, dry_run=dry_run, version_required=False))
    if json_:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        show_status(data)
