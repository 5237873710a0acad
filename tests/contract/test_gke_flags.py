"""`invoke flag --env prod video_generation=off` on GKE, through the real gcloud and kubectl
against the Kubernetes, GKE and Secret Manager stand-ins, with the sample's own k8s/ overlays:
the env value is set by a patch in the generated overlay (no repo file edited), the render is
applied, the api-server Deployment rolls (a new ReplicaSet, same image digest) and rollout
status waits for it. A later release keeps the flag; a rollback re-applies the render of the
release as it last ran, flag included."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.conftest import git
from tests.contract.gke_app import (  # noqa: F401 - fixtures
    NAMESPACE,
    Prod,
    gke_cluster_fixture,
    prod_fixture,
    secret_manager_fixture,
)

pytestmark = pytest.mark.contract

FLAG_ENV = "VIDEO_GENERATION_ENABLED"


def rendered_env(text: str, deployment: str) -> dict[str, str]:
    for doc in yaml.safe_load_all(text):
        if isinstance(doc, dict) and doc.get("kind") == "Deployment" and \
                doc["metadata"]["name"] == deployment:
            env = doc["spec"]["template"]["spec"]["containers"][0].get("env") or []
            return {e["name"]: e.get("value", "") for e in env}
    raise AssertionError(f"no Deployment {deployment} in the render")


def deployment(app: Prod, name: str) -> dict[str, Any]:
    found = app.cluster.kube.get("Deployment", name, NAMESPACE)
    assert found is not None
    return found


def live_env(app: Prod, name: str) -> dict[str, str]:
    container = deployment(app, name)["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container.get("env") or []}


def test_the_flag_is_an_env_patch_in_the_render_then_a_rollout(prod: Prod) -> None:
    kube = prod.cluster.kube
    prod.ok("release", "--version", "v1.1.0", "--env", "prod")
    assert live_env(prod, "api-server")[FLAG_ENV] == "true"
    images = prod.images()
    generations = {n: deployment(prod, n)["metadata"]["generation"]
                   for n in ("api-server", "meta-verse-visualizer-main")}
    sets = len(kube.replicasets("api-server", NAMESPACE))
    log = prod.work / ".shipyard" / "logs" / "commands.log"
    logged = len(log.read_text().splitlines())

    prod.ok("flag", "--env", "prod", "video_generation=off")
    saved = (prod.work / ".shipyard" / "renders" / "prod" / "v1.1.0.yaml").read_text()
    assert rendered_env(saved, "api-server")[FLAG_ENV] == "false"
    assert rendered_env(saved, "api-server")["DATABASE_URL_FILE"] == "/var/secrets/DATABASE_URL"
    assert git(prod.work, "status", "--porcelain") == ""  # no repo file was edited
    assert live_env(prod, "api-server")[FLAG_ENV] == "false"
    assert prod.images() == images  # the same digests: nothing built or pushed
    api = deployment(prod, "api-server")
    assert api["metadata"]["generation"] == generations["api-server"] + 1
    assert api["status"]["observedGeneration"] == api["metadata"]["generation"]
    assert len(kube.replicasets("api-server", NAMESPACE)) == sets + 1  # it rolled
    assert deployment(prod, "meta-verse-visualizer-main")["metadata"]["generation"] == \
        generations["meta-verse-visualizer-main"]  # the other Deployment did not
    ran = log.read_text().splitlines()[logged:]
    assert any(" apply --server-side" in line for line in ran), ran
    assert any("rollout status deployment/api-server" in line for line in ran), ran
    status = json.loads(prod.ok("status", "--env", "prod", "--json").out)
    assert status["serving"] == "v1.1.0"
    assert status["flags"]["video_generation"]["state"] == "off"

    # A later release keeps it off; a rollback re-applies v1.1.0's render as it last ran.
    prod.change("v1.2.0")
    prod.ok("release", "--version", "v1.2.0", "--env", "prod")
    assert live_env(prod, "api-server")[FLAG_ENV] == "false"
    rolled = prod.ok("rollback", "--env", "prod")
    assert "re-applying the saved render of v1.1.0" in rolled.err
    assert prod.images() == images
    assert live_env(prod, "api-server")[FLAG_ENV] == "false"
