"""What a `cloudrun` or `gke` environment needs in its project, read from shipyard.toml. Pure.

The APIs, the Artifact Registry repository, the runtime and deployer service accounts, every
Secret Manager secret the services name, and the least-privilege IAM bindings, each with the
reason it exists (docs/gcp-bootstrap.md lists them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.commands.gcloud_bootstrap import ACCOUNT, PROJECT, REPOSITORY, SECRET, PolicyHolder
from shipyard.config import Environment
from shipyard.errors import UsageError

# Service account ids: 6 to 30 characters, lowercase letters, digits and hyphens (IAM's rule).
ACCOUNT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
COMMON_APIS = {
    "artifactregistry.googleapis.com": "holds the release images",
    "secretmanager.googleapis.com": "holds the secrets the services read",
    "cloudbuild.googleapis.com": "runs ci-cd/cloudbuild.yaml on a release tag",
    "iam.googleapis.com": "the runtime and deployer service accounts",
    "cloudresourcemanager.googleapis.com": "reads and writes the project's IAM policy",
}
KIND_APIS = {"cloudrun": {"run.googleapis.com": "runs the services (Cloud Run)"},
             "gke": {"container.googleapis.com": "the GKE cluster the services run on"}}
DEPLOY_ROLE = {"cloudrun": ("roles/run.admin", "deploys revisions and moves traffic"),
               "gke": ("roles/container.developer", "applies the manifests to the cluster")}
# The API each kind of resource is served by: a resource of an API that is off is not read.
API_OF = {REPOSITORY: "artifactregistry.googleapis.com", ACCOUNT: "iam.googleapis.com",
          SECRET: "secretmanager.googleapis.com",
          PROJECT: "cloudresourcemanager.googleapis.com"}


@dataclass(frozen=True, order=True)
class Binding:
    holder: PolicyHolder
    role: str
    member: str
    reason: str = ""


@dataclass(frozen=True)
class Account:
    email: str
    account_id: str
    display_name: str
    key: str  # the config key that names it


@dataclass(frozen=True)
class Desired:
    project: str
    apis: dict[str, str]  # API → why it is needed
    repository: PolicyHolder
    accounts: tuple[Account, ...]  # runtime, deployer
    secrets: tuple[PolicyHolder, ...]
    bindings: tuple[Binding, ...]


def account(email: str, project: str, key: str, role: str) -> Account:
    """A service account of this project, by its email; bad input is refused (exit 2)."""
    account_id, at, domain = email.partition("@")
    if not at or domain != f"{project}.iam.gserviceaccount.com" or \
            ACCOUNT_ID.fullmatch(account_id) is None:
        raise UsageError(f"{key} = {email!r}: gcp-bootstrap creates it, so it must be "
                         f"ID@{project}.iam.gserviceaccount.com with an ID of 6 to 30 "
                         "lowercase letters, digits or hyphens, starting with a letter",
                         hint=f"e.g. {key} = \"app-{role}@{project}.iam.gserviceaccount.com\"")
    return Account(email, account_id, f"shipyard {role}", key)


def desired(env: Environment) -> Desired:
    gcp = env.gcp
    if gcp is None or env.target not in KIND_APIS:
        raise UsageError(f"gcp-bootstrap sets up a cloudrun or gke environment; {env.name!r} "
                         f"is {env.target!r}", hint="pass --env with a cloudrun or gke "
                                                    "environment from shipyard.toml")
    where = f"environments.{env.name}"
    if not gcp.service_account:
        raise UsageError(f"{where}.service_account is not set: the services would run as "
                         "the project's default compute account (Editor on everything)",
                         hint=f'add service_account = "app-runtime@{gcp.project}.iam.'
                              f'gserviceaccount.com" to [{where}]')
    runtime = account(gcp.service_account, gcp.project, f"{where}.service_account", "runtime")
    deployer = account(gcp.deployer_service_account, gcp.project,
                       f"{where}.deployer_service_account", "deployer")
    if runtime.email == deployer.email:
        raise UsageError(f"{where}: service_account and deployer_service_account are the same "
                         "account", hint="the services must not run with deploy rights: name "
                                         "two accounts")
    project = PolicyHolder(PROJECT, gcp.project, gcp.project)
    repository = PolicyHolder(REPOSITORY, gcp.repository, gcp.project, gcp.region)
    runtime_holder = PolicyHolder(ACCOUNT, runtime.email, gcp.project)
    run_member, deploy_member = (f"serviceAccount:{a.email}" for a in (runtime, deployer))
    secrets: dict[PolicyHolder, list[str]] = {}
    for name, ref in gcp.secrets.items():
        holder = PolicyHolder(SECRET, ref.secret, ref.project or gcp.project)
        secrets.setdefault(holder, []).append(name)
    deploy_role, deploy_reason = DEPLOY_ROLE[env.target]
    bindings = [
        Binding(project, "roles/logging.logWriter", run_member, "the services write logs"),
        Binding(project, "roles/monitoring.metricWriter", run_member,
                "the services write metrics"),
        Binding(project, "roles/cloudtrace.agent", run_member, "the services write traces"),
        Binding(project, deploy_role, deploy_member, deploy_reason),
        Binding(runtime_holder, "roles/iam.serviceAccountUser", deploy_member,
                "deploys services that run as the runtime account (this account only)"),
        Binding(repository, "roles/artifactregistry.writer", deploy_member,
                "pushes the release images (this repository only)"),
    ]
    for holder, names in secrets.items():
        bindings.append(Binding(holder, "roles/secretmanager.secretAccessor", run_member,
                                f"the services read {', '.join(names)}"))
        bindings.append(Binding(holder, "roles/secretmanager.viewer", deploy_member,
                                "pins `latest` to a version number and checks the runtime's "
                                "access; reads no value"))
    return Desired(project=gcp.project, apis={**COMMON_APIS, **KIND_APIS[env.target]},
                   repository=repository, accounts=(runtime, deployer),
                   secrets=tuple(secrets), bindings=tuple(bindings))
