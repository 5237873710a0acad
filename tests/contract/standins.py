"""The contract stand-ins for code outside the test suite (the bench): its one entry.

    with cloud_run(project, region) as run:        # the Cloud Run stand-in (Knative v1)
        env = gcloud_settings(folder, run)         # gcloud (and shipyard) pointed at it
    with gke_cluster(folder) as cluster:           # Kubernetes + GKE stand-ins, cluster.env

Everything else in tests/contract/ may change with the tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.contract.cloudrun_standin import CloudRunStandIn
from tests.contract.gcloud_env import gcloud_env, run_gcloud
from tests.contract.kube_fixtures import GkeCluster, gke_cluster

__all__ = ["CloudRunStandIn", "GkeCluster", "cloud_run", "gcloud_settings", "gke_cluster",
           "run_gcloud"]


@contextmanager
def cloud_run(project: str, region: str) -> Iterator[CloudRunStandIn]:
    with CloudRunStandIn(project=project, region=region) as standin:
        yield standin


def gcloud_settings(folder: Path, standin: CloudRunStandIn) -> dict[str, str]:
    """The variables that make gcloud hermetic and send its Cloud Run calls to `standin`."""
    return gcloud_env(folder, standin)
