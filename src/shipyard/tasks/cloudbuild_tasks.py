"""Cloud Build tasks: submit the build file by hand, and converge the tag trigger."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from shipyard.config.cloudbuild import DEFAULT_BUILD_FILE
from shipyard.errors import UsageError
from shipyard.tasks._kit import DRY_RUN_HELP, expected_failures, run_context


@task(name="cloudbuild-submit", help={
    "version": "the release to build, e.g. v1.1.0 (passed as _VERSION)",
    "env": "a cloudrun or gke environment: passes _ENV, _REGION, _PROJECT_ID and submits in "
           "its project and region (default: the file's _ENV and gcloud's project)",
    "config": f"the build file, relative to the app repo (default: [cloudbuild] config, "
              f"else {DEFAULT_BUILD_FILE})",
    "async": "return once the build is queued; do not wait for its result",
    "no-source": "send the build without uploading the repo (steps that need a checkout "
                 "then have none; used by the tests)",
    "json": "print the build's id, status and log URL as JSON on stdout",
    "dry-run": DRY_RUN_HELP,
})
@expected_failures
def cloudbuild_submit(c: Context, version: str | None = None, env: str | None = None,
                      config: str | None = None, async_: bool = False, no_source: bool = False,
                      json: bool = False, dry_run: bool = False) -> None:
    """Submit ci-cd/cloudbuild.yaml to Cloud Build by hand, as a tag push would.

    `gcloud builds submit APP_DIR --config FILE --substitutions _VERSION=V[,_ENV=E,...]`:
    the repo is uploaded as the build's source (or not, with --no-source). Checked first: V
    by shipyard's version rule, the file exists and parses, and every substitution passed is
    one the file declares and uses. Exits 1 if the build ends in any status but SUCCESS,
    naming the build and `gcloud builds log ID`.
    """
    ctx = run_context(c, env=env or "local", version=version, dry_run=dry_run)
    from shipyard.cloudbuild import submit as cb

    submission = cb.plan(ctx, config or ctx.config.cloudbuild.config, env_given=env is not None)
    build = cb.submit(ctx, submission, upload_source=not no_source, asynchronous=async_)
    if json and build is not None:
        import json as json_lib

        print(json_lib.dumps(build))


@task(name="cloudbuild-trigger", help={
    "env": "the cloudrun or gke environment the trigger releases to (required)",
    "dry-run": "read the trigger and print the command that would create or update it; "
               "change nothing",
})
@expected_failures
def cloudbuild_trigger(c: Context, env: str | None = None, dry_run: bool = False) -> None:
    """Create or update the Cloud Build trigger that releases ENV on a version tag.

    Tag pattern: shipyard's version rule; build file: [cloudbuild] config; runs as the
    environment's deployer_service_account (default shipyard-deployer@PROJECT); passes
    _ENV=ENV; waits for an approval when [cloudbuild] require_approval lists ENV. The trigger
    is read first: a rerun writes nothing, a drifted trigger is updated whole.
    """
    if env is None:
        raise UsageError("--env is required", hint="e.g. --env staging")
    ctx = run_context(c, env=env, dry_run=dry_run, version_required=False)
    from shipyard.cloudbuild import trigger as cb

    cb.converge(ctx, cb.desired(ctx))
