"""What one Cloud Run deploy sends, built from shipyard.toml: the `gcloud run deploy` fields,
Cloud Run's name limits, a revision label back to its version, gcloud's error sentence."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from shipyard.commands import gcloud as g
from shipyard.errors import UsageError
from shipyard.state.records import releases_dir
from shipyard.targets.base import ServicePlan
from shipyard.targets.cloudrun.state import (
    MANAGED_LABEL,
    MAX_TAG_AND_SERVICE,
    VERSION_LABEL,
    tag_of,
)
from shipyard.version import Version

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext


def run_service(ctx: RunContext, planned: ServicePlan, version: Version) -> g.RunService:
    gcp = ctx.env.gcp
    assert gcp is not None and gcp.run is not None
    run, service = gcp.run, ctx.config.select([planned.service])[0]
    return g.RunService(
        name=planned.service, image=planned.image, region=gcp.region, project=gcp.project,
        port=service.port, health_path=service.health_path, tag=tag_of(version),
        env={**service.env, **planned.env},
        secrets={b.env: f"{b.secret}:{b.version}" for b in planned.secrets},
        labels={MANAGED_LABEL: "shipyard", VERSION_LABEL: tag_of(version)},
        allow_unauthenticated=run.is_public(planned.service), service_account=gcp.service_account,
        cpu=run.cpu, memory=run.memory, concurrency=run.concurrency,
        min_instances=run.min_instances, max_instances=run.max_instances)


def flag_tag(service: str, version: Version, env: Mapping[str, str]) -> str:
    """The tag of a revision that only changed plain env vars (a flag): the version's tag and
    a short hash of those values, so each state of the flags has its own tag URL."""
    digest = hashlib.sha256(json.dumps(sorted(env.items())).encode()).hexdigest()[:6]
    tag = f"{tag_of(version)}-f{digest}"
    if len(tag) + len(service) > MAX_TAG_AND_SERVICE:
        raise UsageError(f"{service}: revision tag {tag} plus the service name is "
                         f"{len(tag) + len(service)} characters; Cloud Run allows "
                         f"{MAX_TAG_AND_SERVICE}", hint="shorten the service name or the "
                         "version's pre-release part")
    return tag


def check_names(ctx: RunContext, version: Version | None = None) -> str:
    """Cloud Run's limit on a revision tag plus the service name: bad input (exit 2).
    `version`: the one deployed when it is not the run's --version (a rollback has none)."""
    tag = tag_of(version or ctx.release)
    for service in ctx.services:
        if len(tag) + len(service.name) > MAX_TAG_AND_SERVICE:
            raise UsageError(f"{service.name}: revision tag {tag} plus the service name "
                             f"is {len(tag) + len(service.name)} characters; Cloud Run "
                             f"allows {MAX_TAG_AND_SERVICE}", hint="shorten the service "
                             "name or the version's pre-release part")
    return f"tag {tag} fits every service name"


def version_of_label(ctx: RunContext, label: str) -> str:
    """A revision's version label back to the version: the recorded release whose tag form it
    is (labels cannot hold dots), else the label as it is."""
    folder = releases_dir(ctx.config.root, ctx.env.name)
    for path in folder.glob("v*.json") if folder.is_dir() else []:
        name = path.name.removesuffix(".json")
        if tag_of(name) == label:
            return name
    return label


def gcloud_error(stderr: str) -> str:
    """gcloud's own `ERROR: ...` sentence (it wraps long ones over several lines)."""
    lines = [line.strip() for line in stderr.strip().splitlines()]
    start = next((i for i, line in enumerate(lines) if line.startswith("ERROR:")), None)
    if start is None:
        return lines[-1] if lines else "no output"
    text = " ".join(lines[start:start + 4]).removeprefix("ERROR:").strip()
    return text[:300]
