"""The local environment: start and stop its registry, reverse proxy and revision containers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.tasks import task

if TYPE_CHECKING:
    from shipyard.targets.local import LocalTarget

from shipyard.tasks._kit import (
    DRY_RUN_HELP,
    ENV_HELP,
    expected_failures,
    is_dry_run,
    load_config,
    make_runner,
)


def _target(c: Context, env: str, dry_run: bool) -> LocalTarget:
    from shipyard.targets.local import LocalTarget  # loaded when a task runs, not on --list

    config = load_config(c)
    environment = config.environment(env)
    return LocalTarget(config, environment, make_runner(config, is_dry_run(c, dry_run)))


@task(name="local-up", help={"env": ENV_HELP, "dry-run": DRY_RUN_HELP})
@expected_failures
def local_up(c: Context, env: str = "local", dry_run: bool = False) -> None:
    """Start the local environment: the registry and nginx on 127.0.0.1.

    nginx listens on each service's proxy port (proxy_ports in shipyard.toml) and forwards to
    the revision that serves it; state, config and logs are under .shipyard/local/. Whatever
    already runs is left alone, so a second local-up does nothing.
    """
    _target(c, env, dry_run).up()


@task(name="local-down", help={"env": ENV_HELP, "dry-run": DRY_RUN_HELP})
@expected_failures
def local_down(c: Context, env: str = "local", dry_run: bool = False) -> None:
    """Stop the local environment: nginx, this app's revision containers and the registry.

    Every revision container of this app and environment, serving or kept, is removed. The
    registry's images stay on disk under .shipyard/local/registry/.
    """
    _target(c, env, dry_run).down()
