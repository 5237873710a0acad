"""gcloud argv builders for `gcp-bootstrap`: APIs, the Artifact Registry repository, service
accounts, Secret Manager secrets and IAM policies. Pure.

No builder takes a secret value: a secret is created empty (`secrets create` without
`--data-file`); its values are added by `invoke secrets-set`, from stdin.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

Argv = tuple[str, ...]
PROJECT, ACCOUNT, REPOSITORY, SECRET = "project", "service account", "repository", "secret"


@dataclass(frozen=True, order=True)
class PolicyHolder:
    """A resource with an IAM policy: the project, a service account (by email), the
    repository, or a secret. `location` is the repository's region."""

    kind: str
    name: str
    project: str
    location: str = ""

    def _address(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(command group, the resource's positional and scoping flags)."""
        if self.kind == PROJECT:
            return ("projects",), (self.name,)
        if self.kind == ACCOUNT:
            return ("iam", "service-accounts"), (self.name, "--project", self.project)
        if self.kind == REPOSITORY:
            return ("artifacts", "repositories"), (self.name, "--location", self.location,
                                                   "--project", self.project)
        if self.kind == SECRET:
            return ("secrets",), (self.name, "--project", self.project)
        raise ValueError(f"no IAM policy commands for {self.kind!r}")


def enabled_services(gcloud: str, project: str) -> Argv:
    return (gcloud, "services", "list", "--enabled", "--project", project, "--format", "json",
            "--quiet")


def enable_services(gcloud: str, project: str, apis: Iterable[str]) -> Argv:
    """One call for all of them: gcloud sends one batchEnable and waits for its operation."""
    names = sorted(set(apis))
    if not names:
        raise ValueError("no API to enable")
    return (gcloud, "services", "enable", *names, "--project", project, "--quiet")


def describe_repository(gcloud: str, name: str, region: str, project: str) -> Argv:
    return (gcloud, "artifacts", "repositories", "describe", name, "--location", region,
            "--project", project, "--format", "json", "--quiet")


def create_repository(gcloud: str, name: str, region: str, project: str,
                      description: str) -> Argv:
    return (gcloud, "artifacts", "repositories", "create", name, "--repository-format",
            "docker", "--location", region, "--project", project, "--description",
            description, "--quiet")


def describe_service_account(gcloud: str, email: str, project: str) -> Argv:
    return (gcloud, "iam", "service-accounts", "describe", email, "--project", project,
            "--format", "json", "--quiet")


def create_service_account(gcloud: str, account_id: str, display_name: str,
                           project: str) -> Argv:
    return (gcloud, "iam", "service-accounts", "create", account_id, "--display-name",
            display_name, "--project", project, "--quiet")


def describe_secret(gcloud: str, secret: str, project: str) -> Argv:
    return (gcloud, "secrets", "describe", secret, "--project", project, "--format", "json",
            "--quiet")


def create_secret(gcloud: str, secret: str, project: str) -> Argv:
    """An empty secret (no version): values come from `invoke secrets-set`, never argv."""
    return (gcloud, "secrets", "create", secret, "--replication-policy", "automatic",
            "--project", project, "--quiet")


def get_iam_policy(gcloud: str, holder: PolicyHolder) -> Argv:
    group, address = holder._address()
    return (gcloud, *group, "get-iam-policy", *address, "--format", "json", "--quiet")


def add_iam_binding(gcloud: str, holder: PolicyHolder, member: str, role: str) -> Argv:
    """gcloud reads the policy, adds the member and writes it back with the etag it read
    (a concurrent change makes the write fail with 409 ABORTED; the caller retries).
    `--condition=None`: an unconditional binding, even where the policy holds conditional
    ones (gcloud would otherwise ask which condition)."""
    group, address = holder._address()
    return (gcloud, *group, "add-iam-policy-binding", *address, "--member", member, "--role",
            role, "--condition=None", "--format", "none", "--quiet")
