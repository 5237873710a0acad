"""The plan of one service's new revision on the local target: the image pinned by digest,
its env (the service's, the flags', the secrets'), and the container name and labels they
make. The same image with the same settings gets the same name, so a deploy finds the kept
container of it instead of making another."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.build.images import SERVICE_LABEL
from shipyard.config import Service
from shipyard.errors import UsageError
from shipyard.targets.base import ServicePlan
from shipyard.targets.local.revisions import (
    DIGEST_LABEL,
    SETTINGS_LABEL,
    VERSION_LABEL,
    settings_hash,
)
from shipyard.targets.local.rollout import Plan
from shipyard.version import Version

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext

PINNED = re.compile(r"[^@\s]+@(sha256:[0-9a-f]{64})")


def revision_plan(ctx: RunContext, service: Service, planned: ServicePlan, version: Version,
                  key_file: Path) -> Plan:
    """`key_file`: the settings hash's key (made on first use, never by a dry run)."""
    name = planned.service
    pinned = PINNED.fullmatch(planned.image)
    if pinned is None:
        raise UsageError(f"{name}: {planned.image!r} is not pinned by digest",
                         hint="deploy REPOSITORY@sha256:... (the push stage records it)")
    secrets = ctx.secrets.reveal(planned.secrets) if planned.secrets else {}
    env = {**service.env, **planned.env, **secrets}
    settings = settings_hash(key_file, env, create=not ctx.runner.dry_run)
    digest = pinned.group(1)
    stem = f"shipyard-{ctx.config.project.name}-{ctx.env.name}-{name}-{version}"
    labels = {SERVICE_LABEL: name, VERSION_LABEL: str(version), DIGEST_LABEL: digest,
              SETTINGS_LABEL: settings[:16]}
    return Plan(service, version, planned.image, digest,
                f"{stem}-{digest[7:19]}-{settings[:6]}", labels, env)
