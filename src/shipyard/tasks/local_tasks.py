"""Start and stop what an environment's target runs (local: the registry, nginx and the
revision containers)."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from shipyard.tasks._kit import DRY_RUN_HELP, ENV_HELP, expected_failures, run_context


@task(name="local-up", help={"env": ENV_HELP, "dry-run": DRY_RUN_HELP})
@expected_failures
def local_up(c: Context, env: str = "local", dry_run: bool = False) -> None:
    """Start the local environment: the registry and nginx on 127.0.0.1.

    nginx listens on each service's proxy port (proxy_ports in shipyard.toml) and forwards to
    the revision that serves it; state, config and logs are under .shipyard/local/. Whatever
    already runs is left alone, so a second local-up does nothing.
    """
    run_context(c, env=env, dry_run=dry_run, version_required=False).target.up()


@task(name="local-down", help={"env": ENV_HELP, "dry-run": DRY_RUN_HELP})
@expected_failures
def local_down(c: Context, env: str = "local", dry_run: bool = False) -> None:
    """Stop the local environment: nginx, this app's revision containers and the registry.

    Every revision container of this app and environment, serving or kept, is removed. The
    registry's images stay on disk under .shipyard/local/registry/.
    """
    run_context(c, env=env, dry_run=dry_run, version_required=False).target.down()
