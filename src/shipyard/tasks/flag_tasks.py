"""Fase 5: switch a feature flag (the video kill switch) without a rebuild."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from shipyard.tasks._kit import DRY_RUN_HELP, ENV_HELP, expected_failures, run_context
from shipyard.tasks.release_tasks import BREAK_LOCK_HELP


@task(positional=["flags"], help={
    "flags": "NAME=on or NAME=off, e.g. video_generation=off; several: comma-separated "
             "or quoted with spaces (the flags are declared in [flags.NAME] of shipyard.toml)",
    "env": ENV_HELP, "break-lock": BREAK_LOCK_HELP, "dry-run": DRY_RUN_HELP})
@expected_failures
def flag(c: Context, flags: str, env: str = "local", break_lock: bool = False,
         dry_run: bool = False) -> None:
    """Switch feature flags: a new revision of the release serving now, same images.

    No build, no push: each changed service gets a new revision of the image it runs (same
    digest) with the flag's env var, checked (health, version) before traffic moves to it.
    The new states are kept: later releases and rollbacks keep them (--reset-flags resets).
    """
    ctx = run_context(c, env=env, dry_run=dry_run, version_required=False)
    from shipyard.pipeline.flags import parse_assignments, switch_flags

    switch_flags(ctx, parse_assignments(ctx.config, flags), break_lock=break_lock)
