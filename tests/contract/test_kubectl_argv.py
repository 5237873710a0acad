"""Every command line commands/kubectl.py builds is accepted by the real kubectl.

kubectl exits 1 for a flag it does not know and for a server's refusal alike, so the exit code
cannot tell them apart. What can: its flag parser runs before kubectl talks to the cluster
(gcloud's dispatcher only asks `/version` first, to pick kubectl.1.N). So an argv counts as
accepted when kubectl went on to request the object or collection it names from the
Kubernetes stand-in; a bogus flag never gets that far (the negative case shows it). The
builders are listed by introspection, so a new one without a case here fails the test.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.commands import kubectl as k
from tests.contract.kube_fixtures import (  # noqa: F401 - fixtures
    Kubectl,
    kube_fixture,
    kubectl_fixture,
)
from tests.contract.kube_standin import KubeStandIn

pytestmark = pytest.mark.contract

NS = "default"
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"
LEASE = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
         "metadata": {"name": "shipyard-deploy", "namespace": NS},
         "spec": {"holderIdentity": "dev@laptop", "leaseDurationSeconds": 60,
                  "acquireTime": "2026-01-01T00:00:00.000000Z",
                  "renewTime": "2026-01-01T00:00:00.000000Z"}}
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api-server, namespace: default, labels: {app: api-server}}
spec:
  selector: {matchLabels: {app: api-server}}
  template:
    metadata: {labels: {app: api-server}}
    spec: {containers: [{name: api-server, image: "r.example/api@sha256:%s"}]}
""" % ("ab" * 32)


@dataclass(frozen=True)
class Case:
    """One argv, what it sends on stdin, and the request path that shows kubectl ran it."""

    argv: tuple[str, ...]
    reaches: str  # a regex over "METHOD PATH"
    stdin: str | None = None


def cases(binary: str, kubeconfig: Path, tmp: Path) -> dict[str, Case]:
    manifest = tmp / "render.yaml"
    manifest.write_text(DEPLOYMENT)
    lease = json.dumps(LEASE)
    options = json.dumps({"kind": "DeleteOptions", "apiVersion": "v1",
                          "preconditions": {"resourceVersion": "1"}})
    return {
        "apply": Case(k.apply(binary, kubeconfig, manifest, force_conflicts=False),
                      r"PATCH /apis/apps/v1/namespaces/default/deployments/api-server"),
        "apply, forced": Case(k.apply(binary, kubeconfig, manifest, force_conflicts=True),
                              r"PATCH /apis/apps/v1/namespaces/default/deployments/api-server"),
        "rollout_status": Case(k.rollout_status(binary, kubeconfig, NS, "api-server", 5),
                               r"GET /apis/apps/v1/namespaces/default/deployments"),
        "get_json": Case(k.get_json(binary, kubeconfig, NS, "deployments"),
                         r"GET /apis/apps/v1/namespaces/default/deployments$"),
        "get_json, selector": Case(
            k.get_json(binary, kubeconfig, NS, "deployments",
                       "app.kubernetes.io/managed-by=shipyard"),
            r"GET /apis/apps/v1/namespaces/default/deployments$"),
        "get_namespace": Case(k.get_namespace(binary, kubeconfig, NS),
                              r"GET /api/v1/namespaces/default$"),
        "create_from_stdin": Case(k.create_from_stdin(binary, kubeconfig, NS), f"POST {LEASES}$",
                                  lease),
        "get_object": Case(k.get_object(binary, kubeconfig, NS, "lease", "shipyard-deploy"),
                           f"GET {LEASES}/shipyard-deploy$"),
        "replace_from_stdin": Case(k.replace_from_stdin(binary, kubeconfig, NS),
                                   f"PUT {LEASES}/shipyard-deploy$", lease),
        "delete_raw": Case(k.delete_raw(binary, kubeconfig, f"{LEASES}/shipyard-deploy"),
                           f"DELETE {LEASES}/shipyard-deploy$", options),
    }


def builders() -> set[str]:
    return {name for name, fn in inspect.getmembers(k, inspect.isfunction)
            if fn.__module__ == k.__name__ and not name.startswith("_")}


def run(kubectl: Kubectl, case: Case) -> subprocess.CompletedProcess[str]:
    return subprocess.run(case.argv, env=kubectl.env, input=case.stdin, capture_output=True,
                          text=True, timeout=60, check=False)


def reached(kube: KubeStandIn, mark: int, pattern: str) -> bool:
    return any(re.fullmatch(pattern, f"{r.method} {r.path}") for r in kube.requests_since(mark))


def test_every_kubectl_argv_is_accepted_by_the_real_kubectl(
        kube: KubeStandIn, kubectl: Kubectl, tmp_path: Path) -> None:
    table = cases(kubectl.binary, kubectl.kubeconfig, tmp_path)
    covered = {name.split(",")[0] for name in table} | {"kustomize"}
    assert covered == builders(), f"builders without a case: {builders() - covered}"
    for name, case in table.items():  # in order: the create comes before its replace
        mark = kube.mark()
        done = run(kubectl, case)
        assert "unknown flag" not in done.stderr and "--help' for usage" not in done.stderr, \
            f"{name}: kubectl refused the command line:\n{done.stderr}"
        assert reached(kube, mark, case.reaches), \
            f"{name}: never reached the server (exit {done.returncode}):\n{done.stderr}"

    # kustomize runs offline: a kustomization it accepts renders, exit 0.
    folder = tmp_path / "overlay"
    folder.mkdir()
    (folder / "deployment.yaml").write_text(DEPLOYMENT)
    (folder / "kustomization.yaml").write_text("resources: [deployment.yaml]\n")
    done = subprocess.run(k.kustomize(kubectl.binary, folder), env=kubectl.env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "kind: Deployment" in done.stdout, done.stderr


def test_the_argv_check_can_fail(kube: KubeStandIn, kubectl: Kubectl, tmp_path: Path) -> None:
    # The same check on command lines kubectl must refuse: a flag no kubectl has.
    table = cases(kubectl.binary, kubectl.kubeconfig, tmp_path)
    for name in ("get_object", "create_from_stdin"):
        case = table[name]
        bogus = Case((*case.argv, "--no-such-flag"), case.reaches, case.stdin)
        mark = kube.mark()
        done = run(kubectl, bogus)
        assert done.returncode == 1 and "unknown flag: --no-such-flag" in done.stderr, \
            done.stderr
        assert not reached(kube, mark, case.reaches), f"{name}: a bogus flag reached the server"
    done = subprocess.run((*k.kustomize(kubectl.binary, tmp_path), "--no-such-flag"),
                          env=kubectl.env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 1 and "unknown flag" in done.stderr, done.stderr

