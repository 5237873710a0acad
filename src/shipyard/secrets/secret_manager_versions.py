"""Which version of a secret a deploy pins, asked of the API now (never from an earlier
answer): `latest` becomes the newest version that is ENABLED (the API's own `latest` alias is
the newest version *created*, which may be disabled); a pinned version is checked to exist and
be enabled. By name and metadata only (list versions, get a version, get the secret), never
`:access`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipyard.config.targets import LATEST
from shipyard.errors import UsageError
from shipyard.secrets.secret_manager_api import CALL_TIMEOUT, EnvSecret, SecretManagerApi
from shipyard.targets.base import SecretBinding

if TYPE_CHECKING:
    from google.cloud.secretmanager import SecretVersion

Versions = list[tuple[int, str]]  # (number, state name), newest first


@dataclass(frozen=True)
class Resolved:
    """One env var's secret, as the API answers now: the version a deploy would pin, or why
    there is none."""

    secret: EnvSecret
    version: str | None = None  # numeric
    problem: UsageError | None = None

    @property
    def binding(self) -> SecretBinding:
        assert self.version is not None
        return SecretBinding(env=self.secret.env, secret=self.secret.ref.reference,
                             version=self.version)


def version_number(version_name: str) -> int:
    """`projects/P/secrets/S/versions/7` → 7."""
    return int(version_name.rsplit("/", 1)[-1])


class VersionResolver:
    """Resolves the secrets of one environment (`environment`: its name, for hints)."""

    def __init__(self, api: SecretManagerApi, environment: str) -> None:
        self.api, self.environment = api, environment

    def resolve(self, secret: EnvSecret) -> Resolved:
        if secret.ref.version == LATEST:
            return self._newest_enabled(secret)
        return self._pinned(secret)

    def versions(self, secret: EnvSecret) -> Versions:
        """Every version of the secret and its state, newest first; UsageError if the secret
        does not exist."""
        from google.cloud.secretmanager import SecretVersion

        found = self._listed(secret)
        if found is None:
            raise self.not_found(secret)
        return sorted(((version_number(v.name), SecretVersion.State(v.state).name)
                       for v in found), reverse=True)

    def not_found(self, secret: EnvSecret) -> UsageError:
        ref, project = secret.ref, secret.project
        return UsageError(
            f"{ref.reference} not found in Secret Manager (project {project})",
            hint=f"create it: gcloud secrets create {ref.secret} --project {project} "
                 "--data-file=- (reads the value from stdin); or map "
                 f"{secret.env} to another secret in [environments.{self.environment}.secrets]")

    def _listed(self, secret: EnvSecret) -> list[SecretVersion] | None:
        """Every version (all pages); None if the secret does not exist."""
        from google.api_core.exceptions import NotFound

        try:
            return self.api.call(secret, lambda c: list(c.list_secret_versions(
                request={"parent": secret.name}, timeout=CALL_TIMEOUT)))
        except NotFound:
            return None

    def _newest_enabled(self, secret: EnvSecret) -> Resolved:
        from google.cloud.secretmanager import SecretVersion

        versions = self._listed(secret)
        if versions is None:
            return Resolved(secret, problem=self.not_found(secret))
        enabled = [version_number(v.name) for v in versions
                   if v.state == SecretVersion.State.ENABLED]
        if not enabled:
            ref, project = secret.ref, secret.project
            return Resolved(secret, problem=UsageError(
                f"{ref.reference} has no enabled version"
                f" ({len(versions)} version{'' if len(versions) == 1 else 's'}, none enabled)",
                hint=f"add one: gcloud secrets versions add {ref.secret} --project {project} "
                     "--data-file=- (reads the value from stdin); or enable one: gcloud "
                     f"secrets versions enable VERSION --secret {ref.secret} "
                     f"--project {project}"))
        return Resolved(secret, version=str(max(enabled)))

    def _pinned(self, secret: EnvSecret) -> Resolved:
        from google.api_core.exceptions import NotFound
        from google.cloud.secretmanager import SecretVersion

        ref, name, project = secret.ref, secret.name, secret.project
        try:
            found = self.api.call(secret, lambda c: c.get_secret_version(
                name=f"{name}/versions/{ref.version}", timeout=CALL_TIMEOUT))
        except NotFound:
            try:  # which is missing: the secret, or only that version?
                self.api.call(secret, lambda c: c.get_secret(name=name, timeout=CALL_TIMEOUT))
            except NotFound:
                return Resolved(secret, problem=self.not_found(secret))
            return Resolved(secret, problem=UsageError(
                f"{ref.reference} has no version {ref.version}",
                hint=f"pin a version that exists: gcloud secrets versions list {ref.secret} "
                     f"--project {project}"))
        state = SecretVersion.State(found.state)
        if state != SecretVersion.State.ENABLED:
            fix = (f"enable it (gcloud secrets versions enable {ref.version} --secret "
                   f"{ref.secret} --project {project}) or pin another version in shipyard.toml"
                   if state == SecretVersion.State.DISABLED
                   else "pin another version in shipyard.toml (a destroyed version is gone)")
            return Resolved(secret, problem=UsageError(
                f"{ref.reference} version {ref.version} is {state.name}", hint=fix))
        return Resolved(secret, version=ref.version)
