"""Fase 2-4 preconditions on Google Cloud: `invoke gcp-bootstrap --env E`."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from shipyard.errors import UsageError
from shipyard.tasks._kit import expected_failures, run_context


@task(name="gcp-bootstrap", help={
    "env": "a cloudrun or gke environment from shipyard.toml (required), e.g. staging",
    "dry-run": "read the project and print the plan and every gcloud command it would run; "
               "run none that changes anything",
    "json": "print the plan (and what was done) as JSON on stdout",
})
@expected_failures
def gcp_bootstrap(c: Context, env: str | None = None, dry_run: bool = False,
                  json_: bool = False) -> None:
    """Set up the environment's GCP project: APIs, repository, accounts, secrets, IAM.

    Reads the project first and prints a plan, one row per resource (present / will create /
    will change), then makes only what is missing: the APIs enabled in one call, the Artifact
    Registry docker repository, the runtime and deployer service accounts, every Secret
    Manager secret the services name (created empty: `invoke secrets-set` adds values), and
    least-privilege IAM bindings (docs/gcp-bootstrap.md). A rerun changes nothing.
    """
    if env is None:
        raise UsageError("--env is required",
                         hint="e.g. --env staging (a cloudrun or gke environment)")
    ctx = run_context(c, env=env, dry_run=dry_run, version_required=False)
    from shipyard.bootstrap import gcp_bootstrap as converge

    converge(ctx, as_json=json_)
