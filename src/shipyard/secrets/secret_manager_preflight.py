"""The preflight of a Secret Manager environment, read-only: each secret exists, the version a
deploy would pin is enabled, and the runtime service account may access the secret (its IAM
policy, read on the secret itself). `missing()` and the checks run in one preflight, so one
answer per secret serves both.

The deploying account therefore needs only `roles/secretmanager.viewer` on the secrets; the
runtime account (`service_account`) needs `roles/secretmanager.secretAccessor`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

from shipyard.config.targets import LATEST
from shipyard.errors import UsageError
from shipyard.secrets.secret_manager_api import CALL_TIMEOUT, SecretManagerApi
from shipyard.secrets.secret_manager_versions import Resolved
from shipyard.targets.base import Check

ACCESSOR = "roles/secretmanager.secretAccessor"
# Roles that carry secretmanager.versions.access, as granted on the secret itself.
GRANTS_ACCESS = (ACCESSOR, "roles/secretmanager.admin")
PROJECT_LEVEL_NOTE = ("a grant on the project cannot be read through the Secret Manager API, "
                      "so shipyard asks for one on the secret")


class SecretManagerPreflight:
    """`environment`: its name, for messages; `resolve`: env var → its version, asked now."""

    def __init__(self, api: SecretManagerApi, environment: str, service_account: str | None,
                 resolve: Callable[[str], Resolved]) -> None:
        self.api, self.environment = api, environment
        self.service_account = service_account
        self._resolve = resolve
        self._seen: dict[str, Resolved] = {}  # what this preflight asked, per env var

    def resolved(self, names: Iterable[str]) -> dict[str, Resolved]:
        """Each of NAMES resolved once per preflight (and every one resolved before)."""
        for name in names:
            if name not in self._seen:
                self._seen[name] = self._resolve(name)
        return self._seen

    def checks(self, names: Iterable[str]) -> list[Check]:
        return [Check(f"secret {name}", partial(self._check, name)) for name in names]

    def _check(self, name: str) -> str:
        resolved = self.resolved([name])[name]
        if resolved.problem is not None:
            raise resolved.problem
        ref, version = resolved.secret.ref, resolved.version
        which = (f"version {version} (pinned)" if ref.version != LATEST
                 else f"version {version} (newest enabled)")
        return f"{ref.reference} {which}; {self._access(resolved)}"

    def _access(self, resolved: Resolved) -> str:
        secret = resolved.secret
        ref = secret.ref
        if not self.service_account:
            raise UsageError(
                f"cannot check who may access {ref.reference}: environments.{self.environment}."
                "service_account (the account the services run as) is not set",
                hint=f"set service_account in [environments.{self.environment}] of shipyard.toml")
        member = f"serviceAccount:{self.service_account}"
        policy = self.api.call(secret, lambda c: c.get_iam_policy(
            request={"resource": secret.name, "options": {"requested_policy_version": 3}},
            timeout=CALL_TIMEOUT))
        for binding in policy.bindings:
            if binding.role in GRANTS_ACCESS and member.lower() in (
                    m.lower() for m in binding.members):
                condition = (f" (if {binding.condition.title or binding.condition.expression})"
                             if binding.condition.expression else "")
                return f"{member} has {binding.role}{condition}"
        raise UsageError(
            f"{member} may not access {ref.reference}: its IAM policy has no {ACCESSOR} "
            f"binding for that account ({PROJECT_LEVEL_NOTE})",
            hint=f"gcloud secrets add-iam-policy-binding {ref.secret} --project "
                 f"{secret.project} --member {member} --role {ACCESSOR}")
