"""The secret source of GCP environments (`cloudrun`, `gke`): Google Secret Manager, by
reference only. shipyard never reads a value from it.

`[environments.E.secrets]` in shipyard.toml maps each env var a service lists to a secret
(`DATABASE_URL = "db-url"` or `"db-url:7"`; config/targets.py parses it). This source:

- `bindings()` pins each to a numeric version, now (secret_manager_versions.py: `latest` is the
  newest ENABLED version). Cloud Run then gets `--set-secrets NAME=SECRET:VERSION` and reads the
  value itself, at instance start.
- `missing()` and `checks()` are the preflight (secret_manager_preflight.py): by name and
  metadata only (list versions, get a version, the secret's IAM policy), never `:access`.
- `reveal()` refuses: no target of this source needs values.

The client and its error handling: secret_manager_client.py and secret_manager_api.py. The
store that writes versions (`secrets-set`) works through the public methods below.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from shipyard.config import Environment
from shipyard.config.targets import GcpSettings
from shipyard.errors import ShipyardError, UsageError
from shipyard.secrets.secret_manager_api import EnvSecret, SecretManagerApi
from shipyard.secrets.secret_manager_preflight import SecretManagerPreflight
from shipyard.secrets.secret_manager_versions import Resolved, VersionResolver, Versions
from shipyard.targets.base import Check, SecretBinding

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext


class SecretManagerSecrets:
    """Secret Manager references for one GCP environment; see the module docstring."""

    def __init__(self, env: str, gcp: GcpSettings, needs: Mapping[str, Sequence[str]],
                 environ: Mapping[str, str] | None = None) -> None:
        self.env = env  # the environment's name, for messages
        self.project = gcp.project
        self.refs = dict(gcp.secrets)  # env var → secret
        self.service_account = gcp.service_account
        self.needs = {svc: list(names) for svc, names in needs.items()}  # svc → NAMES
        self.api = SecretManagerApi(os.environ if environ is None else environ)
        self._versions = VersionResolver(self.api, env)
        self._preflight = SecretManagerPreflight(self.api, env, self.service_account,
                                                 self.resolve)

    @classmethod
    def for_environment(cls, services: Mapping[str, Sequence[str]], env: Environment,
                        environ: Mapping[str, str] | None = None) -> SecretManagerSecrets:
        if env.gcp is None:
            raise UsageError(f"environment {env.name!r} does not keep its secrets in Secret "
                             "Manager", hint='Secret Manager is for target = "cloudrun" or "gke"')
        return cls(env.name, env.gcp, services, environ)

    @classmethod
    def from_context(cls, ctx: RunContext) -> SecretManagerSecrets:
        return cls.for_environment({s.name: s.secrets for s in ctx.config.services}, ctx.env)

    # --- the SecretSource protocol -------------------------------------------------------

    def missing(self) -> dict[str, list[str]]:
        """service → env names whose secret does not exist, has no enabled version, or whose
        pinned version is not enabled. API failures (no permission, no answer) raise."""
        resolved = self._preflight.resolved(self.names())
        return {svc: [n for n in names if resolved[n].problem is not None]
                for svc, names in self.needs.items()}

    def bindings(self) -> dict[str, tuple[SecretBinding, ...]]:
        """Pinned now (never from an earlier answer); UsageError naming every secret that
        cannot be bound, across all services, at once."""
        resolved = {name: self.resolve(name) for name in self.names()}
        problems = [r.problem for r in resolved.values() if r.problem is not None]
        if problems:
            raise UsageError(
                "cannot bind secrets: " + "; ".join(
                    f"{r.secret.env}: {r.problem.message}"
                    for r in resolved.values() if r.problem),
                hint=problems[0].hint)
        return {svc: tuple(resolved[n].binding for n in names)
                for svc, names in self.needs.items()}

    def reveal(self, bindings: Sequence[SecretBinding]) -> dict[str, str]:
        raise ShipyardError(
            f"secret values are never read from Secret Manager (env {self.env}): Cloud Run and "
            "GKE get references (SECRET:VERSION) and read the values themselves",
            hint="a target that injects values itself needs a local environment and its "
                 "secrets_file")

    def checks(self) -> list[Check]:
        """One read-only check per env var: its secret exists, the version a deploy would pin
        is enabled, and the runtime service account may access the secret."""
        return self._preflight.checks(self.names())

    # --- by env var: what the store (secret_manager_store.py) uses too ---------------------

    def names(self) -> list[str]:
        """Every env name any service lists, once, in config order."""
        return list(dict.fromkeys(n for names in self.needs.values() for n in names))

    def secret(self, name: str) -> EnvSecret:
        """The secret env var NAME is mapped to."""
        ref = self.refs.get(name)
        if ref is None:  # config validation maps every listed name; a stale object may not
            raise UsageError(f"{name}: not mapped to a Secret Manager secret in environment "
                             f"{self.env}", hint=f"add {name} = \"SECRET_ID\" to "
                                                 f"[environments.{self.env}.secrets]")
        return EnvSecret.of(name, ref, self.project)

    def resolve(self, name: str) -> Resolved:
        """The version a deploy would pin for NAME now, or the problem why there is none."""
        return self._versions.resolve(self.secret(name))

    def versions(self, name: str) -> Versions:
        """Every version of NAME's secret and its state, newest first; UsageError if the
        secret does not exist."""
        return self._versions.versions(self.secret(name))
