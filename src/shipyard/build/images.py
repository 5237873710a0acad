"""Image names and the labels shipyard puts on every image it builds."""

from __future__ import annotations

from datetime import UTC, datetime

from shipyard.config import Environment, Service
from shipyard.version import Version

INPUTS_LABEL = "dev.shipyard.build.inputs"
SERVICE_LABEL = "dev.shipyard.service"
PROJECT_LABEL = "dev.shipyard.project"


def repository(env: Environment, service: Service | str) -> str:
    name = service if isinstance(service, str) else service.name
    return f"{env.registry}/{name}"


def image_ref(env: Environment, service: Service | str, version: Version | str) -> str:
    return f"{repository(env, service)}:{version}"


def labels(*, project: str, service: str, version: Version, revision: str, source: str,
           commit_time: int, inputs: str) -> dict[str, str]:
    # created = the commit's time, so rebuilding the same commit gives the same labels.
    created = datetime.fromtimestamp(commit_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "org.opencontainers.image.title": service,
        "org.opencontainers.image.version": str(version),
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.source": source,
        "org.opencontainers.image.created": created,
        PROJECT_LABEL: project,
        SERVICE_LABEL: service,
        INPUTS_LABEL: inputs,
    }
