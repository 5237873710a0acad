"""gcloud argv builders for Cloud Build: a manual submit, and the tag trigger. Pure.

No builder takes a secret value: substitutions are the four names a build file declares
(_VERSION, _ENV, _REGION, _PROJECT_ID), the trigger carries only `_ENV`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.commands.gcloud import Argv, dict_flag


def builds_submit(gcloud: str, *, config: str, source: str | None,
                  substitutions: Mapping[str, str], project: str | None = None,
                  region: str | None = None, asynchronous: bool = False,
                  ignore_file: str | None = None) -> Argv:
    """`gcloud builds submit`: SOURCE (a directory gcloud tars and uploads to the project's
    `_cloudbuild` bucket; `ignore_file`, relative to it, says what stays out) or
    `--no-source` when `source` is None. JSON output: the build."""
    argv = [gcloud, "builds", "submit", source if source is not None else "--no-source",
            "--config", config]
    if source is not None and ignore_file:
        argv += ["--ignore-file", ignore_file]
    if substitutions:
        argv += ["--substitutions", dict_flag(substitutions)]
    if region:
        argv += ["--region", region]
    if project:
        argv += ["--project", project]
    if asynchronous:
        argv.append("--async")
    argv += ["--format", "json", "--quiet"]
    return tuple(argv)


@dataclass(frozen=True)
class TagTrigger:
    """The tag trigger of one environment, every field from shipyard.toml."""

    name: str
    project: str
    region: str
    build_file: str
    tag_pattern: str
    service_account: str  # an email
    substitutions: Mapping[str, str]
    require_approval: bool
    description: str
    github_owner: str | None = None
    github_name: str | None = None
    repository: str | None = None  # 2nd gen: projects/.../connections/C/repositories/R

    @property
    def service_account_resource(self) -> str:
        return f"projects/{self.project}/serviceAccounts/{self.service_account}"


def trigger_body(t: TagTrigger) -> dict[str, Any]:
    """The BuildTrigger as Cloud Build holds it: what `describe` reads back and `import`
    writes. Approval is always spelled out, so an update can also turn it off."""
    body: dict[str, Any] = {
        "name": t.name, "description": t.description, "filename": t.build_file,
        "serviceAccount": t.service_account_resource,
        "substitutions": dict(t.substitutions),
        "approvalConfig": {"approvalRequired": t.require_approval},
    }
    push = {"tag": t.tag_pattern}
    if t.repository:
        body["repositoryEventConfig"] = {"repository": t.repository, "push": push}
    else:
        body["github"] = {"owner": t.github_owner, "name": t.github_name, "push": push}
    return body


def _where(region: str, project: str) -> list[str]:
    return ["--region", region, "--project", project]


def trigger_describe(gcloud: str, name: str, region: str, project: str) -> Argv:
    return (gcloud, "builds", "triggers", "describe", name, *_where(region, project),
            "--format", "json", "--quiet")


def trigger_create(gcloud: str, t: TagTrigger) -> Argv:
    """`triggers create github`: a 1st-gen GitHub repo (owner/name), or with `--repository`
    a 2nd-gen connected repository."""
    argv = [gcloud, "builds", "triggers", "create", "github", "--name", t.name,
            *_where(t.region, t.project), "--description", t.description]
    if t.repository:
        argv += ["--repository", t.repository]
    else:
        argv += ["--repo-owner", str(t.github_owner), "--repo-name", str(t.github_name)]
    argv += ["--tag-pattern", t.tag_pattern, "--build-config", t.build_file,
             "--service-account", t.service_account_resource]
    if t.substitutions:
        argv += ["--substitutions", dict_flag(t.substitutions)]
    if t.require_approval:
        argv.append("--require-approval")
    argv += ["--format", "json", "--quiet"]
    return tuple(argv)


def trigger_import(gcloud: str, source: str, region: str, project: str) -> Argv:
    """`triggers import --source FILE`: replaces the named trigger with the file's (a PATCH
    of the whole BuildTrigger), so every drifted field comes back, approval included."""
    return (gcloud, "builds", "triggers", "import", "--source", source,
            *_where(region, project), "--format", "json", "--quiet")
