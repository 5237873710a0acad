"""Fixtures for tests that drive the real kubectl and gcloud against the stand-ins.

Use them from a test module (or a conftest) by importing them; the fixtures are named
`kube`, `kubectl` and `gke_cluster`, the functions `*_fixture` (so parameters do not shadow
the imports):

    from tests.contract.kube_fixtures import (  # noqa: F401 - fixtures
        gke_cluster_fixture, kube_fixture, kubectl_fixture)

- `kube`: a started plain-http `KubeStandIn` (default namespace only; `kube.set_mode(...)`,
  `kube.image_mode(...)` before the apply). Stops after the test; the test fails in teardown
  when the stand-in had an internal error (a 500 or a controller step that raised).
- `kubectl`: a `Kubectl` runner for `kube` with HOME and KUBECONFIG private to the test
  (`kubectl.env`, `kubectl.kubeconfig`): `kubectl("get", "deploy", "-o", "json").json()`.
- `gke_cluster`: a `GkeCluster`: a TLS `KubeStandIn` that wants `Bearer fake` (`.kube`), a
  `GkeStandIn` serving it as cluster CLUSTER in REGION of PROJECT (`.gke`), and `.env`, the
  hermetic environment for gcloud, kubectl and shipyard (CONTAINER override, HOME private,
  `KUBECONFIG` set to `.user_kubeconfig`, a file standing for the user's own kubeconfig that
  `.user_kubeconfig_untouched()` checks). `.get_credentials(path)` runs the real `gcloud
  container clusters get-credentials` into PATH and returns a `Kubectl` that uses it.

Tools missing here (kubectl, kubectl.1.N, gcloud, gke-gcloud-auth-plugin, openssl) fail the
test under CI=true and skip it elsewhere (tests/conftest.py's `missing_component`).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing_component, require_tool
from tests.contract.gke_standin import GkeStandIn, gke_gcloud_env
from tests.contract.kube_standin import (
    GCLOUD_SDK_BIN,
    KubeStandIn,
    installed_kubectl_minors,
)

PROJECT = "shipyard-test"
REGION = "us-central1"
CLUSTER = "meta-ad-studio"
TOKEN = "fake"
USER_KUBECONFIG = "# the user's own kubeconfig: a deploy must never write here\n"


@dataclass
class KubectlRun:
    argv: tuple[str, ...]
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __str__(self) -> str:
        return f"$ {' '.join(self.argv)}\nexit {self.code}\n{self.out}{self.err}"


@dataclass
class Kubectl:
    """The real kubectl (gcloud's dispatcher) with an environment of its own."""

    binary: str
    env: dict[str, str]
    kubeconfig: Path

    def __call__(self, *args: str, timeout: float = 90) -> KubectlRun:
        argv = (self.binary, *args)
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        return KubectlRun(argv, done.returncode, done.stdout, done.stderr)


def require_kubectl(minor: int) -> str:
    binary = require_tool("kubectl", "the contract tests drive the real kubectl",
                          install="the Google Cloud SDK with its kubectl component",
                          also_in=[str(GCLOUD_SDK_BIN)])
    if minor not in installed_kubectl_minors():
        missing_component(f"kubectl.1.{minor} not found next to the kubectl dispatcher",
                          "gcloud components install kubectl (or the google-cloud-cli-kubectl "
                          "package)")
    return binary


def check_standin_health(kube: KubeStandIn) -> None:
    errors = [str(r) for r in kube.requests if r.status >= 500] + kube.controller_errors
    assert not errors, "the Kubernetes stand-in failed internally:\n" + "\n".join(errors)


@pytest.fixture(name="kube")
def kube_fixture() -> Iterator[KubeStandIn]:
    """A plain-http Kubernetes stand-in on 127.0.0.1; stops after the test."""
    with KubeStandIn() as standin:
        yield standin
        check_standin_health(standin)


@pytest.fixture(name="kubectl")
def kubectl_fixture(tmp_path: Path, kube: KubeStandIn) -> Kubectl:
    """kubectl for `kube`, with HOME (the discovery cache) and KUBECONFIG in tmp_path."""
    binary = require_kubectl(kube.minor)
    home = tmp_path / "kube-home"
    home.mkdir()
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": str(kubeconfig)}
    return Kubectl(binary, env, kubeconfig)


@dataclass
class GkeCluster:
    kube: KubeStandIn
    gke: GkeStandIn
    env: dict[str, str]
    user_kubeconfig: Path
    gcloud: str
    kubectl: str
    project: str = PROJECT
    region: str = REGION
    name: str = CLUSTER
    runs: list[KubectlRun] = field(default_factory=list)

    @property
    def context(self) -> str:
        """The context gcloud names: gke_PROJECT_REGION_CLUSTER."""
        return f"gke_{self.project}_{self.region}_{self.name}"

    def get_credentials(self, kubeconfig: Path) -> tuple[KubectlRun, Kubectl]:
        """The real get-credentials into KUBECONFIG; and kubectl using what it wrote."""
        env = {**self.env, "KUBECONFIG": str(kubeconfig)}
        argv = (self.gcloud, "container", "clusters", "get-credentials", self.name,
                "--region", self.region, "--project", self.project)
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120,
                              check=False)
        run = KubectlRun(argv, done.returncode, done.stdout, done.stderr)
        self.runs.append(run)
        return run, Kubectl(self.kubectl, env, kubeconfig)

    def user_kubeconfig_untouched(self) -> bool:
        home_config = Path(self.env["HOME"]) / ".kube" / "config"
        return self.user_kubeconfig.read_text() == USER_KUBECONFIG and not home_config.exists()


@contextmanager
def gke_cluster(tmp_path: Path) -> Iterator[GkeCluster]:
    """A GKE cluster stand-in (TLS Kubernetes API + GKE API) and a hermetic environment in
    `tmp_path`; stopped after. (The `gke_cluster` fixture, and tests/contract/standins.py.)"""
    gcloud = require_tool("gcloud", "get-credentials is the real gcloud",
                          install="the Google Cloud SDK", also_in=[str(GCLOUD_SDK_BIN)])
    require_tool("gke-gcloud-auth-plugin", "the kubeconfig gcloud writes runs it",
                 install="gcloud components install gke-gcloud-auth-plugin",
                 also_in=[str(GCLOUD_SDK_BIN)])
    require_tool("openssl", "the TLS stand-in makes its certificate with it",
                 install="apt-get install openssl")
    with KubeStandIn(tls=True, token=TOKEN) as kube, GkeStandIn(PROJECT) as gke:
        binary = require_kubectl(kube.minor)
        gke.add_cluster(CLUSTER, REGION, kube)
        user_kubeconfig = tmp_path / "user-kubeconfig"
        user_kubeconfig.write_text(USER_KUBECONFIG)
        env = gke_gcloud_env(gke, tmp_path / "gcloud-config", home=tmp_path / "home",
                             kubeconfig=user_kubeconfig, token=TOKEN)
        yield GkeCluster(kube, gke, env, user_kubeconfig, gcloud, binary)
        check_standin_health(kube)


@pytest.fixture(name="gke_cluster")
def gke_cluster_fixture(tmp_path: Path) -> Iterator[GkeCluster]:
    """A GKE cluster stand-in (TLS Kubernetes API + GKE API) and a hermetic environment."""
    with gke_cluster(tmp_path) as cluster:
        yield cluster
