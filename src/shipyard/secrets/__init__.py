"""Where secret values come from, per environment: a 0600 dotenv file for `local`
(secrets/dotenv.py); Google Secret Manager for GCP (not here yet).

A source hands out values for the names each service lists in `secrets`, and registers every
value it reads with the runner's redactor, so no output, log or record ever shows one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from shipyard.config import Config, Environment
from shipyard.errors import UsageError
from shipyard.exec.runner import Runner


class SecretSource(Protocol):
    def require(self, names: Iterable[str]) -> dict[str, str]:
        """The value of every name; UsageError listing the missing NAMES (never values)."""

    def values(self) -> dict[str, dict[str, str]]:
        """service → {NAME: value} for every service's `secrets`, as `Deployer.deploy` takes
        them; UsageError naming everything missing, across all services, at once."""

    def missing(self) -> dict[str, list[str]]:
        """service → the NAMES it needs that the source lacks (checked by name only)."""


def secret_source(config: Config, env: Environment, runner: Runner) -> SecretSource:
    if env.target == "local":
        from shipyard.secrets.dotenv import DotenvSecrets

        return DotenvSecrets.for_environment(config, env, runner)
    raise UsageError(f"no secret source for target {env.target!r} ({env.name}) yet",
                     hint="Secret Manager support is planned; use the local environment")


def by_service(values: Mapping[str, str], wanted: Mapping[str, Iterable[str]]
               ) -> dict[str, dict[str, str]]:
    return {svc: {name: values[name] for name in names} for svc, names in wanted.items()}
