"""Contract-tier fixtures: the Cloud Run stand-in and a hermetic gcloud pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.cloudrun_standin import CloudRunStandIn
from tests.contract.gcloud_env import gcloud_env

PROJECT = "shipyard-test"
REGION = "us-central1"


@pytest.fixture
def cloudrun() -> Iterator[CloudRunStandIn]:
    """A Cloud Run stand-in for project `shipyard-test`, region us-central1; stops after."""
    with CloudRunStandIn(project=PROJECT, region=REGION) as standin:
        yield standin


@pytest.fixture
def cloudrun_env(tmp_path: Path, cloudrun: CloudRunStandIn) -> dict[str, str]:
    """gcloud_env(tmp_path, cloudrun): the variables to give gcloud (or shipyard)."""
    return gcloud_env(tmp_path, cloudrun)
