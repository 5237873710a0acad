"""The Kubernetes and GKE stand-ins, driven by the real kubectl and gcloud as deploy-gke will.

Each test runs the real binaries (kubectl through gcloud's dispatcher, which picks
`kubectl.1.N` from the stand-in's /version) with HOME and KUBECONFIG private to the test, and
checks exit codes, what kubectl printed, and what the stand-in recorded. kubectl calls are few
(0.1-0.6 s each here), gcloud calls fewer (1-2 s); the stand-ins' own rules are also checked
with plain HTTP requests, which cost nothing.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.contract.kube_fixtures import (  # noqa: F401 - fixtures
    GkeCluster,
    Kubectl,
    gke_cluster_fixture,
    kube_fixture,
    kubectl_fixture,
    require_kubectl,
)
from tests.contract.kube_standin import (
    REVISION,
    KubeStandIn,
    iter_watch_events,
    labels_match,
    parse_label_selector,
)

pytestmark = pytest.mark.contract

REPO = "us-central1-docker.pkg.dev/shipyard-test/meta-ad-studio/api-server"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"


def render(digest: str = D1, version: str = "v1.1.0", selector_extra: str = "") -> str:
    """A small render as deploy-gke will apply it: SA, Service, Deployment, HPA, PDB, SPC."""
    return f"""\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: api-server
  namespace: default
  annotations:
    iam.gke.io/gcp-service-account: api-server@shipyard-test.iam.gserviceaccount.com
---
apiVersion: v1
kind: Service
metadata:
  name: api-server
  namespace: default
  labels: {{app: api-server}}
spec:
  selector: {{app: api-server}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api-server
  namespace: default
  labels: {{app: api-server, app.kubernetes.io/version: {version}}}
spec:
  progressDeadlineSeconds: 120
  selector:
    matchLabels: {{app: api-server{selector_extra}}}
  template:
    metadata:
      labels: {{app: api-server, app.kubernetes.io/version: {version}}}
    spec:
      serviceAccountName: api-server
      containers:
      - name: api-server
        image: {REPO}@{digest}
        ports: [{{containerPort: 8080}}]
        readinessProbe: {{httpGet: {{path: /healthz, port: 8080}}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: api-server
  namespace: default
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: api-server}}
  minReplicas: 2
  maxReplicas: 5
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: api-server
  namespace: default
spec:
  minAvailable: 1
  selector:
    matchLabels: {{app: api-server}}
---
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: api-server
  namespace: default
spec:
  provider: gke
  parameters:
    secrets: |
      - resourceName: "projects/shipyard-test/secrets/db-url/versions/7"
        path: "db-url"
"""


APPLIED = ("serviceaccount/api-server serverside-applied",
           "service/api-server serverside-applied",
           "deployment.apps/api-server serverside-applied",
           "horizontalpodautoscaler.autoscaling/api-server serverside-applied",
           "poddisruptionbudget.policy/api-server serverside-applied",
           "secretproviderclass.secrets-store.csi.x-k8s.io/api-server serverside-applied")


def apply(kubectl: Kubectl, path: Path, text: str, *extra: str) -> str:
    path.write_text(text)
    run = kubectl("apply", "--server-side", "--field-manager=shipyard", *extra, "-f", str(path))
    assert run.code == 0, str(run)
    return run.out


def rollout(kubectl: Kubectl, timeout: str = "30s") -> tuple[int, str]:
    run = kubectl("rollout", "status", "deployment/api-server", "--timeout", timeout)
    return run.code, run.out + run.err


def image_of(dep: dict) -> str:
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


# --- kubectl against the plain-http stand-in -------------------------------------------------


def test_apply_render_then_get_and_rollout_status(kube: KubeStandIn, kubectl: Kubectl,
                                                  tmp_path: Path) -> None:
    mark = kube.mark()
    out = apply(kubectl, tmp_path / "render.yaml", render())
    assert out.splitlines() == list(APPLIED)

    patches = [r for r in kube.requests_since(mark) if r.method == "PATCH"]
    assert [r.path.rsplit("/", 2)[1] for r in patches] == [
        "serviceaccounts", "services", "deployments", "horizontalpodautoscalers",
        "poddisruptionbudgets", "secretproviderclasses"]
    for request in patches:
        assert request.content_type == "application/apply-patch+yaml"
        assert request.query == {"fieldManager": "shipyard", "fieldValidation": "Strict",
                                 "force": "false"}
        assert request.status == 201 and request.body["metadata"]["name"] == "api-server"
        # The dispatcher ran the kubectl.1.N that matches the server's minor version.
        assert request.user_agent.startswith(f"kubectl/v1.{kube.minor}."), request.user_agent
    assert any(r.path.startswith("/openapi/v3/apis/apps/v1") for r in kube.requests)

    code, text = rollout(kubectl)
    assert code == 0, text
    assert 'deployment "api-server" successfully rolled out' in text

    run = kubectl("get", "deployment", "api-server", "-o", "json")
    assert run.code == 0, str(run)
    dep = run.json()
    assert image_of(dep) == f"{REPO}@{D1}"
    assert dep["spec"]["replicas"] == 2  # no replicas in the render: the HPA's minReplicas
    assert dep["metadata"]["generation"] == dep["status"]["observedGeneration"]
    assert dep["metadata"]["annotations"][REVISION] == "1"
    assert dep["status"]["availableReplicas"] == dep["status"]["updatedReplicas"] == 2
    assert {c["type"]: c["reason"] for c in dep["status"]["conditions"]} == {
        "Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}
    assert "managedFields" not in dep["metadata"]  # kubectl hides them without a flag
    stored = kube.get("Deployment", "api-server")
    assert {(e["manager"], e["operation"]) for e in stored["metadata"]["managedFields"]} >= {
        ("shipyard", "Apply"), ("kube-controller-manager", "Update")}
    (rs,) = kube.replicasets("api-server")
    assert rs["metadata"]["ownerReferences"][0] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "api-server",
        "uid": dep["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    assert kube.get("Service", "api-server")["spec"]["clusterIP"].startswith("10.96.")
    watches = [r for r in kube.requests if r.watch]
    assert watches and watches[0].query["fieldSelector"] == "metadata.name=api-server"


def test_rollout_status_fails_past_the_progress_deadline(kube: KubeStandIn, kubectl: Kubectl,
                                                         tmp_path: Path) -> None:
    kube.set_mode("api-server", "deadline")
    apply(kubectl, tmp_path / "render.yaml", render())
    started = time.monotonic()
    code, text = rollout(kubectl)
    assert code == 1, text
    assert 'error: deployment "api-server" exceeded its progress deadline' in text
    assert time.monotonic() - started < 15  # the deadline is compressed, not 120 s
    progressing = {c["type"]: c for c in kube.get("Deployment", "api-server")["status"][
        "conditions"]}["Progressing"]
    assert (progressing["status"], progressing["reason"]) == ("False",
                                                              "ProgressDeadlineExceeded")


def test_rollout_status_times_out_when_stuck(kube: KubeStandIn, kubectl: Kubectl,
                                             tmp_path: Path) -> None:
    kube.set_mode("api-server", "stuck")
    apply(kubectl, tmp_path / "render.yaml", render())
    code, text = rollout(kubectl, timeout="2s")
    assert code == 1, text
    assert "timed out waiting for the condition" in text
    status = kube.get("Deployment", "api-server")["status"]
    assert status["updatedReplicas"] == 2 and "availableReplicas" not in status
    assert {c["type"]: c["status"] for c in status["conditions"]}["Available"] == "False"


def test_rollout_status_waits_run_in_parallel(kube: KubeStandIn, kubectl: Kubectl,
                                             tmp_path: Path) -> None:
    """One apply, then one `rollout status` per Deployment at once, as deploy-gke waits."""
    names = ("api-server", "visualizer", "worker")
    kube.set_mode("worker", "deadline")
    path = tmp_path / "render.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                "items": [deployment(name) for name in names]}))
    run = kubectl("apply", "--server-side", "--field-manager=shipyard", "-f", str(path))
    assert run.code == 0, str(run)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        runs = dict(zip(names, pool.map(lambda name: kubectl(
            "rollout", "status", f"deployment/{name}", "--timeout", "30s"), names),
            strict=True))
    assert time.monotonic() - started < 10
    assert runs["api-server"].code == 0 and runs["visualizer"].code == 0, runs
    assert runs["worker"].code == 1 and "exceeded its progress deadline" in runs["worker"].err
    watched = {r.query["fieldSelector"] for r in kube.requests if r.watch}
    assert watched == {f"metadata.name={name}" for name in names}


def test_a_changed_image_bumps_generation_and_makes_a_second_replicaset(
        kube: KubeStandIn, kubectl: Kubectl, tmp_path: Path) -> None:
    path = tmp_path / "render.yaml"
    apply(kubectl, path, render())
    assert rollout(kubectl)[0] == 0
    before = kube.get("Deployment", "api-server")

    apply(kubectl, path, render())  # the same render again changes nothing
    same = kube.get("Deployment", "api-server")
    assert same["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

    apply(kubectl, path, render(D2, "v1.2.0"))
    after = kube.get("Deployment", "api-server")
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert rollout(kubectl)[0] == 0

    run = kubectl("get", "replicasets", "-l", "app=api-server", "-o", "json")
    assert run.code == 0, str(run)
    by_revision = {rs["metadata"]["annotations"][REVISION]: rs for rs in run.json()["items"]}
    assert sorted(by_revision) == ["1", "2"]
    assert image_of(by_revision["2"]) == f"{REPO}@{D2}"
    assert by_revision["1"]["spec"]["replicas"] == 0
    assert by_revision["2"]["status"]["availableReplicas"] == 2
    assert kube.get("Deployment", "api-server")["metadata"]["annotations"][REVISION] == "2"


def test_a_bad_image_exceeds_its_deadline_and_the_good_render_comes_back(
        kube: KubeStandIn, kubectl: Kubectl, tmp_path: Path) -> None:
    """The deploy-gke failure path: v2's image never gets ready; v1's render is re-applied."""
    kube.image_mode(D2, "deadline")
    path = tmp_path / "render.yaml"
    apply(kubectl, path, render(D1, "v1.1.0"))
    assert rollout(kubectl)[0] == 0
    apply(kubectl, path, render(D2, "v1.2.0"))
    code, text = rollout(kubectl)
    assert code == 1 and "exceeded its progress deadline" in text, text
    serving = kube.get("Deployment", "api-server")["status"]
    assert serving["availableReplicas"] == 2  # v1's pods kept serving meanwhile

    apply(kubectl, path, render(D1, "v1.1.0"))
    code, text = rollout(kubectl)
    assert code == 0, text
    dep = kube.get("Deployment", "api-server")
    assert image_of(dep) == f"{REPO}@{D1}"
    assert dep["metadata"]["labels"]["app.kubernetes.io/version"] == "v1.1.0"
    old, bad = kube.replicasets("api-server")[-1], kube.replicasets("api-server")[0]
    assert image_of(old) == f"{REPO}@{D1}" and old["metadata"]["annotations"][REVISION] == "3"
    assert image_of(bad) == f"{REPO}@{D2}" and bad["spec"]["replicas"] == 0


def test_conflicts_and_invalid_changes_are_refused_as_a_cluster_would(
        kube: KubeStandIn, kubectl: Kubectl, tmp_path: Path) -> None:
    path = tmp_path / "render.yaml"
    apply(kubectl, path, render())
    kube.claim_field("Deployment", "api-server", ".spec.template.spec.containers",
                     manager="kubectl-set")
    path.write_text(render(D2, "v1.2.0"))
    run = kubectl("apply", "--server-side", "--field-manager=shipyard", "-f", str(path))
    assert run.code == 1, str(run)
    assert ('conflict with "kubectl-set" using apps/v1: .spec.template.spec.containers'
            in run.err), run.err
    assert "--force-conflicts" in run.err
    assert image_of(kube.get("Deployment", "api-server")) == f"{REPO}@{D1}"

    apply(kubectl, path, render(D2, "v1.2.0"), "--force-conflicts")
    assert image_of(kube.get("Deployment", "api-server")) == f"{REPO}@{D2}"

    path.write_text(render(D2, "v1.2.0", selector_extra=", tier: api"))
    run = kubectl("apply", "--server-side", "--field-manager=shipyard", "-f", str(path))
    assert run.code == 1, str(run)
    assert 'The Deployment "api-server" is invalid' in run.err
    assert "spec.selector" in run.err and "field is immutable" in run.err


def test_a_lease_is_created_read_and_guarded_by_resource_version(
        kube: KubeStandIn, kubectl: Kubectl, tmp_path: Path) -> None:
    lease = tmp_path / "lease.yaml"
    lease.write_text("""\
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: shipyard-deploy
  namespace: default
  annotations: {shipyard.dev/version: v1.1.0, shipyard.dev/since: "2026-01-01T00:00:00Z"}
spec:
  holderIdentity: laptop-alice
  leaseDurationSeconds: 900
""")
    run = kubectl("create", "-f", str(lease))
    assert run.code == 0, str(run)
    assert run.out.strip() == "lease.coordination.k8s.io/shipyard-deploy created"
    (post,) = [r for r in kube.requests if r.method == "POST"]
    assert post.path == LEASES and post.status == 201

    run = kubectl("get", "lease")
    assert run.code == 0 and "shipyard-deploy" in run.out, str(run)

    current = kube.get("Lease", "shipyard-deploy")
    assert current["spec"]["holderIdentity"] == "laptop-alice"
    stale = json.loads(json.dumps(current))
    stale["metadata"]["resourceVersion"] = "1"
    stale["spec"]["holderIdentity"] = "cloud-build"
    code, body = kube.call("PUT", f"{LEASES}/shipyard-deploy", stale)
    assert code == 409 and body["reason"] == "Conflict", body
    assert "the object has been modified" in body["message"]
    assert kube.get("Lease", "shipyard-deploy")["spec"]["holderIdentity"] == "laptop-alice"

    taken = json.loads(json.dumps(current))
    taken["spec"]["holderIdentity"] = "cloud-build"
    code, body = kube.call("PUT", f"{LEASES}/shipyard-deploy", taken)
    assert code == 200, body
    assert int(body["metadata"]["resourceVersion"]) > int(current["metadata"]["resourceVersion"])

    # The same through kubectl: a replace carrying the old resourceVersion loses.
    lease.write_text(json.dumps(current))
    run = kubectl("replace", "-f", str(lease))
    assert run.code == 1 and "Error from server (Conflict)" in run.err, str(run)
    assert kube.get("Lease", "shipyard-deploy")["spec"]["holderIdentity"] == "cloud-build"

    code, body = kube.call("POST", LEASES, current)
    assert code == 409 and body["reason"] == "AlreadyExists", body
    code, body = kube.call("DELETE", f"{LEASES}/shipyard-deploy",
                           {"preconditions": {"resourceVersion": "1"}})
    assert code == 409, body
    code, body = kube.call("DELETE", f"{LEASES}/shipyard-deploy", {
        "preconditions": {"resourceVersion": taken_rv(kube)}})
    assert code == 200 and kube.get("Lease", "shipyard-deploy") is None, body


def taken_rv(kube: KubeStandIn) -> str:
    lease = kube.get("Lease", "shipyard-deploy")
    assert lease is not None
    return str(lease["metadata"]["resourceVersion"])


def test_without_the_secret_manager_add_on_the_crd_kind_is_unknown(tmp_path: Path) -> None:
    with KubeStandIn(secret_store_csi=False) as kube:
        binary = require_kubectl(kube.minor)
        kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
        kubectl = Kubectl(binary, {**os.environ, "HOME": str(tmp_path / "home"),
                                   "KUBECONFIG": str(kubeconfig)}, kubeconfig)
        path = tmp_path / "render.yaml"
        path.write_text(render())
        run = kubectl("apply", "--server-side", "--field-manager=shipyard", "-f", str(path))
        assert run.code == 1, str(run)
        assert 'no matches for kind "SecretProviderClass"' in run.err, run.err


# --- the real gcloud against the GKE stand-in --------------------------------------------


def test_get_credentials_writes_a_private_kubeconfig_that_reaches_the_cluster(
        gke_cluster: GkeCluster, tmp_path: Path) -> None:
    private = tmp_path / "run" / "kubeconfig"
    run, kubectl = gke_cluster.get_credentials(private)
    assert run.code == 0, str(run)
    assert "kubeconfig entry generated for meta-ad-studio" in run.err
    (request,) = gke_cluster.gke.requests
    assert request.path == ("/v1/projects/shipyard-test/locations/us-central1/clusters/"
                            "meta-ad-studio")
    assert request.authorization == "Bearer fake"
    assert gke_cluster.user_kubeconfig_untouched()

    view = kubectl("config", "view", "--raw", "-o", "json")
    assert view.code == 0, str(view)
    config = view.json()
    assert config["current-context"] == gke_cluster.context
    (cluster,) = config["clusters"]
    assert cluster["cluster"]["server"] == gke_cluster.kube.url
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == \
        gke_cluster.kube.ca_pem
    assert config["users"][0]["user"]["exec"]["command"] == "gke-gcloud-auth-plugin"

    mark = gke_cluster.kube.mark()
    path = tmp_path / "render.yaml"
    path.write_text(render())
    applied = kubectl("apply", "--server-side", "--field-manager=shipyard", "-f", str(path))
    assert applied.code == 0, str(applied)
    code, text = rollout(kubectl)
    assert code == 0, text
    seen = gke_cluster.kube.requests_since(mark)
    assert {r.authorization for r in seen if r.path != "/version"} == {"Bearer fake"}
    assert gke_cluster.user_kubeconfig_untouched()

    # Another token: the plugin reads CLOUDSDK_AUTH_ACCESS_TOKEN; the cluster says 401.
    wrong = Kubectl(kubectl.binary, {**kubectl.env, "CLOUDSDK_AUTH_ACCESS_TOKEN": "other"},
                    private)
    denied = wrong("get", "deployment", "api-server")
    assert denied.code == 1 and "Unauthorized" in denied.err, str(denied)


def test_the_gke_api_refuses_what_gke_refuses(gke_cluster: GkeCluster) -> None:
    base = gke_cluster.gke.url + "v1/projects/"

    def get(path: str, token: str | None = "fake") -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers),
                                        timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    code, body = get("shipyard-test/locations/us-central1/clusters/meta-ad-studio")
    assert code == 200 and body["endpoint"] == gke_cluster.kube.endpoint
    assert body["zone"] == "us-central1" and body["status"] == "RUNNING"
    assert body["currentMasterVersion"].startswith(f"1.{gke_cluster.kube.minor}.")
    assert get("shipyard-test/locations/us-central1/clusters/other")[0] == 404
    assert get("shipyard-test/locations/europe-west1/clusters/meta-ad-studio")[0] == 404
    assert get("someone-else/locations/us-central1/clusters/meta-ad-studio")[0] == 403
    assert get("shipyard-test/locations/us-central1/clusters/meta-ad-studio", None)[0] == 401


# --- the Kubernetes stand-in's own rules, over plain HTTP --------------------------------


def deployment(name: str = "web", image: str = f"{REPO}@{D1}", **spec: object) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": image}]}},
                     **spec}}


def ssa(kube: KubeStandIn, obj: dict, namespace: str = "default", manager: str = "shipyard",
        extra: str = "") -> tuple[int, dict]:
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{obj['metadata']['name']}"
    return kube.call("PATCH", f"{path}?fieldManager={manager}&fieldValidation=Strict{extra}",
                     obj, "application/apply-patch+yaml")


def test_apply_rules(kube: KubeStandIn) -> None:
    code, body = ssa(kube, deployment(), namespace="prod")
    assert code == 404 and body["message"] == 'namespaces "prod" not found'
    kube.add_namespace("prod")
    assert ssa(kube, deployment(), namespace="prod")[0] == 201

    bad_label = deployment()
    bad_label["metadata"]["labels"]["image"] = D1
    code, body = ssa(kube, bad_label)
    assert code == 422 and body["reason"] == "Invalid", body
    mismatch = deployment()
    mismatch["spec"]["selector"]["matchLabels"] = {"app": "other"}
    code, body = ssa(kube, mismatch)
    assert code == 422 and "`selector` does not match template `labels`" in body["message"]
    unknown = deployment()
    unknown["spex"] = {}
    code, body = ssa(kube, unknown)
    assert code == 400 and ".spex: field not declared in schema" in body["message"]

    code, body = kube.call("PATCH", f"{DEPLOYMENTS}/web", deployment(),
                           "application/apply-patch+yaml")
    assert code == 400, body  # no fieldManager
    code, body = kube.call("PATCH", f"{DEPLOYMENTS}/web", {"spec": {"replicas": 3}},
                           "application/merge-patch+json")
    assert code == 415, body

    code, dry = ssa(kube, deployment(), extra="&dryRun=All")
    assert code == 201 and kube.get("Deployment", "web") is None
    code, first = ssa(kube, deployment())
    assert code == 201 and first["metadata"]["generation"] == 1
    assert first["spec"]["replicas"] == 1 and first["spec"]["progressDeadlineSeconds"] == 600
    code, again = ssa(kube, deployment())
    assert code == 200
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]

    # A field this manager set and then leaves out goes back to its default (real SSA).
    assert ssa(kube, deployment(replicas=3))[1]["spec"]["replicas"] == 3
    assert ssa(kube, deployment())[1]["spec"]["replicas"] == 1
    # Labels another manager set survive an apply that does not mention them.
    other = deployment()
    other["metadata"]["labels"] = {"team": "ads"}
    del other["spec"]
    assert ssa(kube, other, manager="someone")[0] == 200
    labels = ssa(kube, deployment())[1]["metadata"]["labels"]
    assert labels == {"app": "web", "team": "ads"}


def test_list_and_watch(kube: KubeStandIn) -> None:
    assert ssa(kube, deployment("web"))[0] == 201
    assert ssa(kube, deployment("api"))[0] == 201
    code, listed = kube.call("GET", f"{DEPLOYMENTS}?labelSelector=app%20in%20(web,x)")
    assert code == 200 and [i["metadata"]["name"] for i in listed["items"]] == ["web"]
    assert "kind" not in listed["items"][0]  # as on a real server
    code, listed = kube.call("GET", f"{DEPLOYMENTS}?fieldSelector=metadata.name%3Dapi")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["api"]
    assert kube.call("GET", f"{DEPLOYMENTS}?fieldSelector=spec.replicas%3D1")[0] == 400
    code, everywhere = kube.call("GET", "/apis/apps/v1/deployments")
    assert len(everywhere["items"]) == 2

    assert kube.wait_for(lambda: (kube.get("Deployment", "web") or {}).get("status", {}).get(
        "availableReplicas") == 1)
    since = kube.get("Deployment", "web")["metadata"]["resourceVersion"]
    assert ssa(kube, deployment("web", f"{REPO}@{D2}"))[0] == 200
    code, text = kube.call("GET", f"{DEPLOYMENTS}?watch=true&fieldSelector=metadata.name%3Dweb"
                                  f"&resourceVersion={since}&timeoutSeconds=1")
    assert code == 200
    lines = text.encode().splitlines() if isinstance(text, str) else [
        json.dumps(text).encode()]
    events = list(iter_watch_events(iter(lines)))
    assert events and {e["type"] for e in events} == {"MODIFIED"}
    assert {e["object"]["metadata"]["name"] for e in events} == {"web"}
    assert image_of(events[0]["object"]) == f"{REPO}@{D2}"
    assert events[-1]["object"]["status"].get("observedGeneration") == 2


def test_label_selector_parsing() -> None:
    selector = parse_label_selector("app=web, tier!=db,env in (prod, staging),!legacy,team")
    assert selector == [("app", "=", ("web",)), ("tier", "!=", ("db",)),
                        ("env", "in", ("prod", "staging")), ("legacy", "!exists", ()),
                        ("team", "exists", ())]
    assert labels_match({"app": "web", "env": "prod", "team": "ads"}, selector)
    assert not labels_match({"app": "web", "env": "dev", "team": "ads"}, selector)
    assert not labels_match({"app": "web", "env": "prod", "team": "a", "legacy": ""}, selector)
    with pytest.raises(ValueError):
        parse_label_selector("app in web")
