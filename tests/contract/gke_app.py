"""The sample app on the GKE stand-ins, for the contract tests that deploy it to `prod`.

`prod` (a fixture): a copy of examples/meta-ad-studio, committed and pushed, whose prod
environment points at the stand-ins (`gke_cluster`, a Secret Manager stand-in holding VALUES,
images in the test `registry`); `Prod.invoke/ok` run `invoke` in it. Import the fixtures:

    from tests.contract.gke_app import (  # noqa: F401 - fixtures
        gke_cluster_fixture, prod_fixture, secret_manager_fixture)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LocalRegistryProcess, Ran, git, invoke
from tests.contract.kube_fixtures import (  # noqa: F401 - fixtures
    GkeCluster,
    gke_cluster_fixture,
)
from tests.contract.kube_standin import KubeStandIn
from tests.contract.secret_manager_standin import SecretManagerStandIn
from tests.support.apps import sample_copy

PROJECT, NAMESPACE = "shipyard-test", "meta-ad-studio"
SA = f"meta-ad-studio@{PROJECT}.iam.gserviceaccount.com"
VALUES = {"db-url": "postgres://app:gke-secret-one@db/app", "runwayml-key": "rw-gke-secret-2",
          "redis-url": "redis://cache:gke-secret-3@redis:6379"}


@pytest.fixture(name="secret_manager")
def secret_manager_fixture() -> Iterator[SecretManagerStandIn]:
    with SecretManagerStandIn({PROJECT: "100000000042"}, token="fake") as sm:
        for secret, value in VALUES.items():
            sm.add_secret(PROJECT, secret, (value, "ENABLED"))
            sm.grant(PROJECT, secret, f"serviceAccount:{SA}")
        yield sm


LEASE = "shipyard-deploy"
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases"


def lease_released(kube: KubeStandIn) -> bool:
    """The deploy Lease was taken (create) and let go (a DELETE guarded by the resourceVersion
    shipyard wrote last), and the namespace holds none now."""
    writes = [r for r in kube.requests if r.path.startswith(LEASES) and r.method != "GET"]
    created = [r for r in writes if r.method == "POST" and r.status == 201]
    deleted = [r for r in writes if r.method == "DELETE" and r.status == 200]
    return (kube.get("Lease", LEASE, NAMESPACE) is None and bool(created) and bool(deleted)
            and writes[-1].method == "DELETE"
            and all((r.body or {}).get("preconditions", {}).get("resourceVersion")
                    for r in deleted))


class Prod:
    def __init__(self, work: Path, env: dict[str, str], cluster: GkeCluster) -> None:
        self.work, self.env, self.cluster = work, env, cluster

    def invoke(self, *args: str) -> Ran:
        return invoke(self.work, *args, env=self.env, timeout=900)

    def ok(self, *args: str) -> Ran:
        ran = self.invoke(*args)
        assert ran.code == 0, f"invoke {' '.join(args)} exited {ran.code}:\n{ran.text}"
        return ran

    def change(self, message: str) -> None:
        page = self.work / "meta-verse-visualizer-main" / "www" / "index.html"
        page.write_text(page.read_text() + f"<!-- {message} -->\n")
        git(self.work, "commit", "-q", "-am", message)
        git(self.work, "push", "-q", "origin", "main")

    def images(self) -> dict[str, str]:
        kube = self.cluster.kube
        return {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
                for d in kube.objects("deployments", NAMESPACE)}


@pytest.fixture(name="prod")
def prod_fixture(tmp_path: Path, registry: LocalRegistryProcess, gke_cluster: GkeCluster,
         secret_manager: SecretManagerStandIn) -> Prod:
    app = tmp_path / "meta-ad-studio"
    sample_copy(app, tmp_path / "remote.git")  # committed and pushed, on ports of its own
    config = app / "shipyard.toml"
    text = config.read_text().replace('project = "meta-ad-studio-prod"', f'project = "{PROJECT}"')
    text = text.replace("required = true", "required = false")  # the checklist gate: elsewhere
    config.write_text(text.replace('namespace = "meta-ad-studio"', f'namespace = "{NAMESPACE}"\n'
                                   f'registry = "127.0.0.1:{registry.port}/meta-ad-studio"\n'
                                   f'service_account = "{SA}"'))
    git(app, "commit", "-q", "-am", "prod on the stand-ins, images in the test registry")
    git(app, "push", "-q", "origin", "main")
    gke_cluster.kube.add_namespace(NAMESPACE)
    env = {**gke_cluster.env, "SHIPYARD_SECRETMANAGER_ENDPOINT": secret_manager.url}
    return Prod(app, env, gke_cluster)
