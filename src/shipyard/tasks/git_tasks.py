"""Fase 0 tasks: tag a release, clean up a merged feature branch."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from shipyard.errors import UsageError
from shipyard.tasks._kit import (
    DRY_RUN_HELP,
    expected_failures,
    is_dry_run,
    load_config,
    make_runner,
    require_version,
)
from shipyard.ui import console


@task(
    help={
        "version": "release version, vMAJOR.MINOR.PATCH[-PRERELEASE], e.g. v1.1.0",
        "message": "tag message (default: project.tag_message in shipyard.toml)",
        "remote": "git remote to push to (default: project.remote, usually origin)",
        "no-push": "create the tag locally only",
        "dry-run": DRY_RUN_HELP,
    }
)
@expected_failures
def tag(
    c: Context,
    version: str | None = None,
    message: str | None = None,
    remote: str | None = None,
    no_push: bool = False,
    dry_run: bool = False,
) -> None:
    """Create an annotated release tag on the release branch's HEAD and push it.

    Checks first, changes nothing until all pass: clean tree, HEAD on the release branch,
    in step with the remote. Rerunning for a tag already on HEAD does nothing; a tag that
    points anywhere else is refused.
    """
    from shipyard.stages.tag import tag_release  # imported here: `invoke --list` stays quick

    parsed = require_version(version)
    config = load_config(c)
    runner = make_runner(config, is_dry_run(c, dry_run))
    result = tag_release(config, runner, parsed, message=message, remote=remote, push=not no_push)
    console.note(("[dry-run] would have: " if runner.dry_run else "") + result.note)


@task(
    name="cleanup-branch",
    help={
        "branch": "branch to delete, e.g. feature/worker-provider-integration",
        "remote": "git remote (default: project.remote, usually origin)",
        "force": "delete even when not merged into the release branch",
        "dry-run": DRY_RUN_HELP,
    },
)
@expected_failures
def cleanup_branch(
    c: Context,
    branch: str | None = None,
    remote: str | None = None,
    force: bool = False,
    dry_run: bool = False,
) -> None:
    """Delete a merged feature branch on the remote, and locally if present.

    Protected branches and the release branch are always refused; an unmerged branch is
    refused unless --force. A branch that is already gone is a success (rerunnable).
    """
    if branch is None:
        raise UsageError("--branch is required", hint="e.g. --branch feature/my-change")
    from shipyard.stages.cleanup import cleanup_branch as cleanup_stage

    config = load_config(c)
    runner = make_runner(config, is_dry_run(c, dry_run))
    result = cleanup_stage(config, runner, branch, remote=remote, force=force)
    console.note(("[dry-run] would have: " if runner.dry_run else "") + result.note)
