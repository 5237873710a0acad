"""An overlay over a base shipyard did not write (tests/contract/fixtures/acme-base): its
Deployments, containers and images are named its own way, with a sidecar first, mapped by
`[environments.prod.workloads]`. Rendered by the real `kubectl kustomize` through shipyard's
generated overlay; deployed through the real gcloud and kubectl against the stand-ins.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.targets.gke import render as r
from tests.conftest import git
from tests.contract.gke_app import (  # noqa: F401 - fixtures
    Prod,
    gke_cluster_fixture,
    prod_fixture,
    secret_manager_fixture,
)
from tests.contract.kube_fixtures import require_kubectl

pytestmark = pytest.mark.contract

BASE = Path(__file__).parent / "fixtures" / "acme-base"
NAMESPACE = "meta-ad-studio"
DIGEST_API, DIGEST_WEB = "sha256:" + "a1" * 32, "sha256:" + "b2" * 32
REGISTRY = "us-central1-docker.pkg.dev/p/repo"
WORKLOADS = """
[environments.prod.workloads.api-server]
deployment = "acme-backend"
image = "ghcr.io/acme/backend"
container = "app"

[environments.prod.workloads.meta-verse-visualizer-main]
deployment = "acme-frontend"
image = "ghcr.io/acme/frontend"
"""


def overlay_over_base(app: Path) -> Path:
    """The user's own overlay over the vendored base, as a project would keep it."""
    shutil.copytree(BASE, app / "k8s" / "vendor" / "acme")
    overlay = app / "k8s" / "overlays" / "acme"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"namespace: {NAMESPACE}\nresources:\n  - ../../vendor/acme\n")
    return overlay


def kustomize(directory: Path) -> list[dict[str, Any]]:
    done = subprocess.run((require_kubectl(32), "kustomize", str(directory)),
                          capture_output=True, text=True, timeout=120, check=True)
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for key in sorted(set(a) | set(b))
                for p in differences(a.get(key), b.get(key), f"{path}.{key}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b, strict=True))
                for p in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [path]


def test_golden_render_of_a_foreign_base_pins_its_images_and_changes_nothing_else(
        tmp_path: Path) -> None:
    overlay = overlay_over_base(tmp_path / "app")
    plain = kustomize(overlay)
    generated = tmp_path / "generated"
    generated.mkdir()
    r.write_overlay(generated, overlay, {
        "ghcr.io/acme/backend": f"{REGISTRY}/api-server@{DIGEST_API}",
        "ghcr.io/acme/frontend": f"{REGISTRY}/meta-verse-visualizer-main@{DIGEST_WEB}"},
        "v1.1.0")
    pinned = kustomize(generated)
    assert [(d["kind"], d["metadata"]["name"]) for d in pinned] == [
        (d["kind"], d["metadata"]["name"]) for d in plain]
    changed = {f"{d['kind']}/{d['metadata']['name']}": sorted(differences(d, p))
               for d, p in zip(plain, pinned, strict=True)}
    labels = [f".metadata.labels.{r.VERSION_LABEL}", f".metadata.labels.{r.MANAGED_LABEL}"]
    template = [f".spec.template.metadata.labels.{r.VERSION_LABEL}",
                f".spec.template.metadata.labels.{r.MANAGED_LABEL}"]
    assert changed == {
        "Service/acme-backend": sorted(labels),
        "Deployment/acme-backend": sorted([*labels, ".spec.template.spec.containers[1].image",
                                           *template]),
        "Deployment/acme-frontend": sorted([*labels, ".spec.template.spec.containers[0].image",
                                            *template]),
    }
    deployments = {d["metadata"]["name"]: d for d in pinned if d["kind"] == "Deployment"}
    backend = deployments["acme-backend"]["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in backend] == ["docker.io/prom/statsd-exporter:v0.26.1",
                                             f"{REGISTRY}/api-server@{DIGEST_API}"]
    front = deployments["acme-frontend"]["spec"]["template"]["spec"]["containers"]
    assert front[0]["image"] == f"{REGISTRY}/meta-verse-visualizer-main@{DIGEST_WEB}"
    assert deployments["acme-backend"]["spec"]["selector"] == {
        "matchLabels": {"acme.example/component": "backend"}}  # selectors are immutable


def use_the_vendored_base(prod: Prod, workloads: str) -> None:
    overlay_over_base(prod.work)
    config = prod.work / "shipyard.toml"
    config.write_text(config.read_text().replace(
        'overlay = "k8s/overlays/prod"', 'overlay = "k8s/overlays/acme"') + workloads)
    git(prod.work, "add", "-A")
    git(prod.work, "commit", "-q", "-m", "deploy the vendored acme base")
    git(prod.work, "push", "-q", "origin", "main")


def test_a_release_over_a_vendored_base_deploys_and_reads_the_mapped_container(
        prod: Prod) -> None:
    kube = prod.cluster.kube
    # A mapping that names a container the base does not have is bad input, before any build.
    use_the_vendored_base(prod, WORKLOADS.replace('container = "app"', 'container = "api"'))
    wrong = prod.invoke("release", "--version", "v1.1.0", "--env", "prod")
    assert wrong.code == 2, wrong.text
    assert "deployment/acme-backend: its container 'api' runs nothing" in wrong.err, wrong.err
    assert not [q for q in kube.requests if q.method == "PATCH"]

    config = prod.work / "shipyard.toml"
    config.write_text(config.read_text().replace('container = "api"', 'container = "app"'))
    git(prod.work, "commit", "-q", "-am", "the backend's container is called app")
    git(prod.work, "push", "-q", "origin", "main")
    prod.ok("release", "--version", "v1.1.0", "--env", "prod")
    record = json.loads((prod.work / ".shipyard/releases/prod/v1.1.0.json").read_text())
    pinned = {name: entry["pinned"] for name, entry in record["images"].items()}

    live = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"]
            for d in kube.objects("deployments", NAMESPACE)}
    assert {name: [(c["name"], c["image"]) for c in cs] for name, cs in live.items()} == {
        "acme-backend": [("metrics-exporter", "docker.io/prom/statsd-exporter:v0.26.1"),
                         ("app", pinned["api-server"])],
        "acme-frontend": [("web", pinned["meta-verse-visualizer-main"])]}

    status = json.loads(prod.ok("status", "--env", "prod", "--json").out)
    assert status["serving"] == "v1.1.0"
    assert {s["name"]: s["digest"] for s in status["services"]} == {
        name: image.rpartition("@")[2] for name, image in pinned.items()}
    assert {s["name"]: s["revision"].split()[0] for s in status["services"]} == {
        "api-server": "deployment/acme-backend",
        "meta-verse-visualizer-main": "deployment/acme-frontend"}
