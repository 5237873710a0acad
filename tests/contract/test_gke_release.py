"""`invoke release / deploy-gke / rollback / status --env prod` on GKE, through the real gcloud
(get-credentials) and kubectl (kustomize, server-side apply, rollout status), against the
Kubernetes, GKE and Secret Manager stand-ins, with the sample's own k8s/ overlays and images
built by the real Docker engine.

A release of v1.1.0; a v1.2.0 whose api-server never makes its progress deadline (exit 1,
v1.1.0's saved render applied back); a good v1.3.0; a rollback that re-applies v1.1.0's render.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LocalRegistryProcess, Ran, git, invoke
from tests.contract.kube_fixtures import (  # noqa: F401 - fixtures
    GkeCluster,
    gke_cluster_fixture,
)
from tests.contract.secret_manager_standin import SecretManagerStandIn
from tests.support.apps import sample_copy

pytestmark = pytest.mark.contract

PROJECT, NAMESPACE = "shipyard-test", "meta-ad-studio"
SA = f"meta-ad-studio@{PROJECT}.iam.gserviceaccount.com"
VALUES = {"db-url": "postgres://app:gke-secret-one@db/app", "runwayml-key": "rw-gke-secret-2",
          "redis-url": "redis://cache:gke-secret-3@redis:6379"}


@pytest.fixture
def secret_manager() -> Iterator[SecretManagerStandIn]:
    with SecretManagerStandIn({PROJECT: "100000000042"}, token="fake") as sm:
        for secret, value in VALUES.items():
            sm.add_secret(PROJECT, secret, (value, "ENABLED"))
            sm.grant(PROJECT, secret, f"serviceAccount:{SA}")
        yield sm


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


@pytest.fixture
def prod(tmp_path: Path, registry: LocalRegistryProcess, gke_cluster: GkeCluster,
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


def test_release_fail_and_rollback_on_gke(prod: Prod, secret_manager: SecretManagerStandIn
                                          ) -> None:
    kube = prod.cluster.kube
    prod.ok("release", "--version", "v1.1.0", "--env", "prod")
    record = json.loads((prod.work / ".shipyard/releases/prod/v1.1.0.json").read_text())
    pinned = {name: entry["pinned"] for name, entry in record["images"].items()}
    assert prod.images() == pinned  # every Deployment runs its image by digest
    saved = prod.work / ".shipyard/renders/prod/v1.1.0.yaml"
    assert all(image in saved.read_text() for image in pinned.values())
    applies = [r for r in kube.requests if r.method == "PATCH"]
    assert applies and all(r.query.get("fieldManager") == "shipyard" for r in applies)
    assert all(r.query.get("force") in ("false", None) for r in applies)

    # v1.2.0: the api-server never makes its progress deadline; v1.1.0 comes back.
    prod.change("v1.2.0")
    for step in ("build", "push"):
        prod.ok(step, "--version", "v1.2.0", "--env", "prod")
    bad = json.loads((prod.work / ".shipyard/releases/prod/v1.2.0.json").read_text())
    kube.image_mode(bad["images"]["api-server"]["pinned"], "deadline")
    failed = prod.invoke("deploy-gke", "--version", "v1.2.0", "--env", "prod")
    assert failed.code == 1, failed.text
    assert "deployment/api-server" in failed.err and "exceeded its progress deadline" in failed.err
    assert "rolled back: v1.1.0 serves again" in failed.err
    assert prod.images() == pinned
    status = json.loads(prod.ok("status", "--env", "prod", "--json").out)
    assert status["serving"] == "v1.1.0"

    # A good v1.3.0, then a rollback that re-applies v1.1.0's saved render.
    prod.change("v1.3.0")
    prod.ok("release", "--version", "v1.3.0", "--env", "prod")
    assert json.loads(prod.ok("status", "--env", "prod", "--json").out)["serving"] == "v1.3.0"
    rolled = prod.ok("rollback", "--env", "prod")
    assert "re-applying the saved render of v1.1.0" in rolled.err
    assert prod.images() == pinned
    assert json.loads(prod.ok("status", "--env", "prod", "--json").out)["serving"] == "v1.1.0"

    # No secret value in any render, request, record or log; the user's kubeconfig untouched.
    for path in (prod.work / ".shipyard").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not any(v in text for v in VALUES.values()), path
    assert not any(v in r.raw for r in kube.requests for v in VALUES.values())
    assert "kind: Secret\n" not in saved.read_text()
    assert prod.cluster.user_kubeconfig_untouched()
