"""The `[cloudbuild]` table of shipyard.toml: where the tag trigger builds from.

    [cloudbuild]
    config = "ci-cd/cloudbuild.yaml"      # the build file, relative to the app repo
    github_owner = "acme"                 # a GitHub repo connected to Cloud Build (1st gen)
    github_name = "meta-ad-studio"
    # or, a 2nd-gen repository resource instead of github_owner/github_name:
    # repository = "projects/P/locations/R/connections/C/repositories/NAME"
    require_approval = ["prod"]           # environments whose builds wait for an approval

The table is optional: `cloudbuild-submit` needs only `config`; `cloudbuild-trigger` needs a
repository.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.config.schema import Table

DEFAULT_BUILD_FILE = "ci-cd/cloudbuild.yaml"
GITHUB_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
REPOSITORY = re.compile(r"projects/[^/\s]+/locations/[^/\s]+/connections/[^/\s]+/"
                        r"repositories/[^/\s]+")


@dataclass(frozen=True)
class CloudBuildSettings:
    config: str = DEFAULT_BUILD_FILE
    github_owner: str | None = None
    github_name: str | None = None
    repository: str | None = None  # 2nd gen: a repository resource name
    require_approval: tuple[str, ...] = ()


def parse_cloudbuild(t: Table, environments: tuple[str, ...]) -> CloudBuildSettings:
    settings = CloudBuildSettings(
        config=t.get("config", str, DEFAULT_BUILD_FILE),
        github_owner=t.get("github_owner", str, None),
        github_name=t.get("github_name", str, None),
        repository=t.get("repository", str, None),
        require_approval=t.str_list("require_approval"),
    )
    for key in ("github_owner", "github_name"):
        value = getattr(settings, key)
        if value is not None and GITHUB_NAME.fullmatch(value) is None:
            raise t.fail(t.key(key), "must be a GitHub owner or repository name")
    if (settings.github_owner is None) != (settings.github_name is None):
        raise t.fail(t.key("github_owner"), "github_owner and github_name go together")
    if settings.repository is not None:
        if REPOSITORY.fullmatch(settings.repository) is None:
            raise t.fail(t.key("repository"), "must be projects/P/locations/R/connections/C/"
                                              "repositories/NAME")
        if settings.github_owner is not None:
            raise t.fail(t.key("repository"), "name either repository or github_owner/"
                                              "github_name, not both")
    for name in settings.require_approval:
        if name not in environments:
            raise t.fail(t.key("require_approval"), f"unknown environment {name!r}")
    t.done()
    return settings
