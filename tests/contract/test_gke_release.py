"""`invoke release / deploy-gke / rollback / status --env prod` on GKE, through the real gcloud
(get-credentials) and kubectl (kustomize, server-side apply, rollout status), against the
Kubernetes, GKE and Secret Manager stand-ins, with the sample's own k8s/ overlays and images
built by the real Docker engine.

A release of v1.1.0; a v1.2.0 whose api-server never makes its progress deadline (exit 1,
v1.1.0's saved render applied back); a good v1.3.0; a rollback that re-applies v1.1.0's render.
"""

from __future__ import annotations

import json

import pytest

from tests.contract.gke_app import (  # noqa: F401 - fixtures
    VALUES,
    Prod,
    SecretManagerStandIn,
    gke_cluster_fixture,
    lease_released,
    prod_fixture,
    secret_manager_fixture,
)

pytestmark = pytest.mark.contract


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
    assert lease_released(kube)

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
    assert lease_released(kube)  # a failed deploy lets go of the Lease too
    status = json.loads(prod.ok("status", "--env", "prod", "--json").out)
    assert status["serving"] == "v1.1.0"

    # A good v1.3.0, then a rollback that re-applies v1.1.0's saved render.
    prod.change("v1.3.0")
    prod.ok("release", "--version", "v1.3.0", "--env", "prod")
    assert json.loads(prod.ok("status", "--env", "prod", "--json").out)["serving"] == "v1.3.0"
    rolled = prod.ok("rollback", "--env", "prod")
    assert "re-applying the saved render of v1.1.0" in rolled.err
    assert prod.images() == pinned
    assert lease_released(kube)
    assert json.loads(prod.ok("status", "--env", "prod", "--json").out)["serving"] == "v1.1.0"

    # No secret value in any render, request, record or log; the user's kubeconfig untouched.
    for path in (prod.work / ".shipyard").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not any(v in text for v in VALUES.values()), path
    assert not any(v in r.raw for r in kube.requests for v in VALUES.values())
    assert "kind: Secret\n" not in saved.read_text()
    assert prod.cluster.user_kubeconfig_untouched()
