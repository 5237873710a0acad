"""gcloud argv builders: Cloud Run deploys, traffic moves, reads, tokens. Pure.

Every builder returns the whole command line. No builder takes a secret value: secrets are
passed as references (`--set-secrets NAME=SECRET:VERSION`), tokens are read from gcloud's
output, never written on a command line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Argv = tuple[str, ...]
DELIMITERS = ",@#%:;|~+"  # gcloud's ^D^ escape: a delimiter that no key or value contains


def dict_flag(values: Mapping[str, str]) -> str:
    """gcloud's dict syntax, K1=V1,K2=V2; with `^D^` and another delimiter when a value
    holds a comma (gcloud would split it)."""
    pairs = [f"{key}={values[key]}" for key in sorted(values)]
    if not any("," in pair for pair in pairs):
        return ",".join(pairs)
    for delimiter in DELIMITERS[1:]:
        if not any(delimiter in pair for pair in pairs):
            return f"^{delimiter}^" + delimiter.join(pairs)
    raise ValueError("every delimiter gcloud accepts appears in a value")


@dataclass(frozen=True)
class RunService:
    """What one `gcloud run deploy` sets; every field comes from shipyard.toml."""

    name: str
    image: str  # REPOSITORY@sha256:...
    region: str
    project: str
    port: int
    health_path: str
    tag: str  # the revision tag, e.g. v1-1-0
    env: Mapping[str, str]
    secrets: Mapping[str, str]  # env name → SECRET:VERSION
    labels: Mapping[str, str]
    allow_unauthenticated: bool
    service_account: str | None = None
    cpu: str | None = None
    memory: str | None = None
    concurrency: int | None = None
    min_instances: int | None = None
    max_instances: int | None = None


def _where(region: str, project: str) -> list[str]:
    return ["--region", region, "--project", project]


def run_deploy(gcloud: str, service: RunService, *, no_traffic: bool) -> Argv:
    """Deploy a revision by digest. With `no_traffic` it gets no traffic, only its tag URL
    (gcloud refuses that for a service that does not exist yet)."""
    s = service
    argv = [gcloud, "run", "deploy", s.name, "--image", s.image, *_where(s.region, s.project),
            "--port", str(s.port), "--tag", s.tag,
            "--startup-probe", f"httpGet.path={s.health_path},httpGet.port={s.port}",
            "--allow-unauthenticated" if s.allow_unauthenticated
            else "--no-allow-unauthenticated"]
    if s.service_account:
        argv += ["--service-account", s.service_account]
    # --set-*: the revision carries exactly these; nothing lingers from an earlier deploy.
    argv += ["--set-env-vars", dict_flag(s.env)] if s.env else ["--clear-env-vars"]
    argv += ["--set-secrets", dict_flag(s.secrets)] if s.secrets else ["--clear-secrets"]
    if s.labels:
        argv += ["--labels", dict_flag(s.labels)]
    for flag, value in (("--cpu", s.cpu), ("--memory", s.memory),
                        ("--concurrency", s.concurrency), ("--min-instances", s.min_instances),
                        ("--max-instances", s.max_instances)):
        if value is not None:
            argv += [flag, str(value)]
    if no_traffic:
        argv.append("--no-traffic")
    argv += ["--format", "json", "--quiet"]  # the Service as deployed, so no describe after
    return tuple(argv)


def update_env(gcloud: str, name: str, region: str, project: str, env: Mapping[str, str],
               tag: str) -> Argv:
    """A new revision of what the service runs now (same image, same secrets) with these
    plain env vars changed; no traffic, only its tag URL, until it is verified and moved."""
    return (gcloud, "run", "services", "update", name, *_where(region, project),
            "--update-env-vars", dict_flag(env), "--tag", tag, "--no-traffic", "--quiet")


def update_traffic(gcloud: str, name: str, region: str, project: str,
                   revisions: Mapping[str, int]) -> Argv:
    return (gcloud, "run", "services", "update-traffic", name, *_where(region, project),
            "--to-revisions", dict_flag({r: str(p) for r, p in revisions.items()}), "--quiet")


def remove_tags(gcloud: str, name: str, region: str, project: str, tags: Sequence[str]) -> Argv:
    return (gcloud, "run", "services", "update-traffic", name, *_where(region, project),
            "--remove-tags", ",".join(sorted(tags)), "--quiet")


def describe_service(gcloud: str, name: str, region: str, project: str) -> Argv:
    return (gcloud, "run", "services", "describe", name, *_where(region, project),
            "--format", "json")


def list_revisions(gcloud: str, name: str, region: str, project: str) -> Argv:
    return (gcloud, "run", "revisions", "list", "--service", name, *_where(region, project),
            "--format", "json")


def logs_hint(name: str, region: str, project: str, revision: str) -> str:
    """The command that shows a revision's logs (for hints; not run by shipyard)."""
    return (f"gcloud logging read 'resource.type=cloud_run_revision AND "
            f"resource.labels.service_name={name} AND "
            f"resource.labels.revision_name={revision}' --project {project} --limit 50")


def print_access_token(gcloud: str) -> Argv:
    return (gcloud, "auth", "print-access-token", "--quiet")


def print_identity_token(gcloud: str, audience: str, impersonate: str | None = None) -> Argv:
    """An identity token for `audience` (a Cloud Run URL), on stdout. `--audiences` works for
    service-account credentials; a user login needs `impersonate` (an account it may mint
    tokens for: roles/iam.serviceAccountTokenCreator)."""
    argv = [gcloud, "auth", "print-identity-token", "--audiences", audience]
    if impersonate:
        argv += ["--impersonate-service-account", impersonate]
    return (*argv, "--quiet")


def config_value(gcloud: str, key: str) -> Argv:
    return (gcloud, "config", "get-value", key, "--quiet")


def accounts(gcloud: str) -> Argv:
    return (gcloud, "auth", "list", "--format", "json", "--quiet")



def get_credentials(gcloud: str, cluster: str, region: str, project: str) -> Argv:
    """Writes cluster credentials to $KUBECONFIG: the caller points it at a private file."""
    return (gcloud, "container", "clusters", "get-credentials", cluster,
            *_where(region, project), "--quiet")
