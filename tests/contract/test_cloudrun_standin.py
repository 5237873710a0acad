"""The Cloud Run stand-in, driven by the real gcloud (528) as shipyard will drive it.

Each test checks gcloud's exit code (2 = its parser refused), what it printed, and what the
stand-in recorded. gcloud calls are few (each costs 1-7 s here); the stand-in's own rules are
also checked with plain HTTP requests, which cost nothing.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.contract.cloudrun_standin import (
    CloudRunStandIn,
    RecordedRequest,
    decode_label_version,
    http_get,
    parse_label_selector,
)
from tests.contract.conftest import PROJECT, REGION
from tests.contract.gcloud_env import GcloudRun, gcloud_env, run_gcloud

pytestmark = pytest.mark.contract

REPO = f"{REGION}-docker.pkg.dev/{PROJECT}/meta-ad-studio/api-server"
DIGEST1 = "sha256:" + "1" * 64
DIGEST2 = "sha256:" + "2" * 64
DIGEST3 = "sha256:" + "3" * 64
SERVICES = f"/apis/serving.knative.dev/v1/namespaces/{PROJECT}/services"


def deploy_argv(service: str, digest: str, tag: str | None, *extra: str) -> list[str]:
    """The argv shape issue 10 asks shipyard to build (without --service-account)."""
    argv = ["run", "deploy", service, "--image", f"{REPO}@{digest}", "--region", REGION,
            "--project", PROJECT, "--no-allow-unauthenticated", "--quiet",
            "--set-secrets", "DATABASE_URL=db-url:7"]
    if tag:
        argv += ["--tag", tag, "--labels", f"shipyard-version={tag}"]
    return argv + list(extra)


def ok(run: GcloudRun) -> GcloudRun:
    assert run.code == 0, str(run)
    return run


def failed(run: GcloudRun) -> GcloudRun:
    assert run.code == 1, str(run)  # 1: accepted by the parser, failed later
    return run


def since(standin: CloudRunStandIn, mark: int) -> list[RecordedRequest]:
    return standin.requests[mark:]


def shape(requests: list[RecordedRequest]) -> list[str]:
    """METHOD PATH-below-the-project for Knative requests, verb for the others."""
    out = []
    for r in requests:
        path = r.path.replace(SERVICES, "services")
        out.append(f"{r.method} {path.rsplit('/', 1)[-1] if ':' in path else path}")
    return out


def revision_names(standin: CloudRunStandIn, service: str) -> list[str]:
    return [r["metadata"]["name"] for r in standin.revisions(service)]


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == kind)


def api(standin: CloudRunStandIn, method: str, path: str, body: Any = None,
        region: str = REGION) -> tuple[int, Any]:
    """One request through the stand-in as a proxy, like gcloud's."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://{region}-run.test:{standin.port}{path}",
                                     data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler(
        {"http": f"http://127.0.0.1:{standin.port}"}))
    try:
        with opener.open(request, timeout=5) as response:
            return int(response.status), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return int(err.code), json.loads(err.read() or b"null")


def knative(name: str, image: str = f"{REPO}@{DIGEST1}", traffic: Any = None,
            labels: dict[str, str] | None = None, env: Any = None,
            revision: str | None = None) -> dict[str, Any]:
    template: dict[str, Any] = {"metadata": {"labels": labels or {}},
                                "spec": {"containers": [{"image": image, "env": env or []}]}}
    if revision:
        template["metadata"]["name"] = revision
    spec: dict[str, Any] = {"template": template}
    if traffic is not None:
        spec["traffic"] = traffic
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": name, "namespace": PROJECT}, "spec": spec}


# -- against the real gcloud ------------------------------------------------------------------

def test_first_deploy_of_two_new_services(cloudrun: CloudRunStandIn,
                                          cloudrun_env: dict[str, str]) -> None:
    runs: dict[str, GcloudRun] = {}

    def deploy(service: str) -> None:
        runs[service] = run_gcloud(cloudrun_env, *deploy_argv(service, DIGEST1, "v1-0-0"))

    threads = [threading.Thread(target=deploy, args=(s,)) for s in ("api-server", "web")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    for service in ("api-server", "web"):
        ok(runs[service])
        (rev,) = revision_names(cloudrun, service)
        assert rev.startswith(f"{service}-00001-")
        assert cloudrun.traffic(service) == {rev: 100}
        assert [w.method for w in cloudrun.writes(service)] == ["POST"]
    run = runs["api-server"]
    mine = [r for r in cloudrun.requests if "api-server" in r.path
            or isinstance(r.body, dict) and r.body["metadata"]["name"] == "api-server"]
    assert shape(mine) == ["GET services/api-server", "POST services"]  # no IAM calls
    assert cloudrun.unhandled == []
    post = mine[1]
    template = post.body["spec"]["template"]
    assert template["spec"]["containers"][0]["env"] == [
        {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db-url", "key": "7"}}}]
    assert template["metadata"]["labels"]["shipyard-version"] == "v1-0-0"
    assert post.body["metadata"]["labels"]["shipyard-version"] == "v1-0-0"
    chosen = template["metadata"]["name"]  # gcloud names the revision itself with --tag
    assert chosen.startswith("api-server-00001-")
    assert revision_names(cloudrun, "api-server") == [chosen]
    assert f"revision [{chosen}] has been deployed and is serving 100 percent" in run.text

    service = cloudrun.service("api-server")
    assert service is not None
    assert condition(service, "Ready")["status"] == "True"
    assert service["status"]["latestReadyRevisionName"] == chosen
    assert service["metadata"]["generation"] == service["status"]["observedGeneration"] == 1
    assert cloudrun.traffic("api-server") == {chosen: 100}
    assert cloudrun.tags("api-server") == {"v1-0-0": chosen}
    (tag_url,) = [t["url"] for t in service["status"]["traffic"] if t.get("tag") == "v1-0-0"]
    assert tag_url == cloudrun.revision_url("api-server", chosen)
    assert f"reached directly at {tag_url}" in run.text

    revision = cloudrun.revisions("api-server")[0]
    assert revision["metadata"]["labels"]["serving.knative.dev/service"] == "api-server"
    assert revision["metadata"]["labels"]["shipyard-version"] == "v1-0-0"
    assert revision["spec"]["containers"][0]["image"] == f"{REPO}@{DIGEST1}"
    assert revision["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"] == {
        "name": "db-url", "key": "7"}
    assert condition(revision, "Active")["status"] == "True"

    # Not public (--no-allow-unauthenticated): the tag URL wants an identity token, which
    # gcloud can mint through the stand-in; the access token is not one.
    assert http_get(f"{tag_url}/version")[0] == 403
    assert http_get(f"{tag_url}/version", "fake")[0] == 401
    minted = ok(run_gcloud(cloudrun_env, "auth", "print-identity-token",
                           f"--impersonate-service-account=verifier@{PROJECT}.iam."
                           "gserviceaccount.com", f"--audiences={tag_url}"))
    token = minted.out.strip()
    assert http_get(f"{tag_url}/healthz", token) == (200, "ok\n")
    assert http_get(f"{tag_url}/version", token) == (200, "v1.0.0")
    assert http_get(f"{service['status']['url']}/version", token) == (200, "v1.0.0")
    assert cloudrun.revision_hits("api-server", chosen)[-3:] == [
        "/healthz", "/version", "/version"]
    assert cloudrun.unhandled == []


def test_no_traffic_deploy_then_traffic_moves(cloudrun: CloudRunStandIn,
                                              cloudrun_env: dict[str, str]) -> None:
    cloudrun.identity_token = token = "id-token-for-tests"
    ok(run_gcloud(cloudrun_env, *deploy_argv("api-server", DIGEST1, "v1-0-0")))
    (rev1,) = revision_names(cloudrun, "api-server")

    mark = len(cloudrun.requests)
    run = ok(run_gcloud(cloudrun_env, *deploy_argv("api-server", DIGEST2, "v2-0-0",
                                                   "--no-traffic")))
    assert "serving 0 percent of traffic" in run.text
    rev1_, rev2 = revision_names(cloudrun, "api-server")
    assert rev1_ == rev1
    writes = [r for r in since(cloudrun, mark) if r.method in ("POST", "PUT")
              and r.path.startswith(SERVICES)]
    assert [w.method for w in writes] == ["PUT"]
    assert writes[0].body["spec"]["traffic"] == [
        {"percent": 100, "revisionName": rev1}, {"revisionName": rev1, "tag": "v1-0-0"},
        {"revisionName": rev2, "tag": "v2-0-0"}]
    assert cloudrun.traffic("api-server") == {rev1: 100}
    assert cloudrun.tags("api-server") == {"v1-0-0": rev1, "v2-0-0": rev2}
    service = cloudrun.service("api-server")
    assert service and service["metadata"]["generation"] == 2
    assert service["status"]["latestReadyRevisionName"] == rev2
    v2_url = cloudrun.revision_url("api-server", rev2)
    assert http_get(f"{v2_url}/version", token) == (200, "v2.0.0")
    assert http_get(f"{service['status']['url']}/version", token) == (200, "v1.0.0")

    mark = len(cloudrun.requests)
    ok(run_gcloud(cloudrun_env, "run", "services", "update-traffic", "api-server",
                  "--to-revisions", f"{rev2}=100", "--region", REGION, "--quiet"))
    assert shape(since(cloudrun, mark)) == ["GET services/api-server",
                                            "PUT services/api-server"]
    assert revision_names(cloudrun, "api-server") == [rev1, rev2]  # no new revision
    assert cloudrun.traffic("api-server") == {rev2: 100}
    assert http_get(f"{service['status']['url']}/version", token) == (200, "v2.0.0")

    described = json.loads(ok(run_gcloud(
        cloudrun_env, "run", "services", "describe", "api-server", "--region", REGION,
        "--format", "json")).out)
    assert described["status"]["traffic"][0] == {"percent": 100, "revisionName": rev2}
    assert {t.get("tag"): t["revisionName"] for t in described["status"]["traffic"]} == {
        None: rev2, "v1-0-0": rev1, "v2-0-0": rev2}

    mark = len(cloudrun.requests)
    listed = json.loads(ok(run_gcloud(
        cloudrun_env, "run", "revisions", "list", "--service", "api-server", "--region",
        REGION, "--format", "json")).out)
    (query,) = [r.query for r in since(cloudrun, mark)]
    assert query["labelSelector"] == "serving.knative.dev/service = api-server"
    active = {r["metadata"]["name"]: condition(r, "Active")["status"] for r in listed}
    assert active == {rev1: "False", rev2: "True"}
    assert {r["metadata"]["labels"]["shipyard-version"] for r in listed} == {"v1-0-0", "v2-0-0"}

    assert cloudrun.unhandled == []


def test_a_revision_that_fails_to_become_ready(cloudrun: CloudRunStandIn,
                                               cloudrun_env: dict[str, str]) -> None:
    cloudrun.fail_ready("web", "Container failed to start")
    run = failed(run_gcloud(cloudrun_env, *deploy_argv("web", DIGEST1, "v1-0-0")))
    assert "Container failed to start" in run.err
    (failed_first,) = cloudrun.revisions("web")
    assert condition(failed_first, "Ready") == {**condition(failed_first, "Ready"),
                                                "status": "False",
                                                "message": "Container failed to start"}
    assert "url" not in failed_first["status"]  # nothing serves it
    assert cloudrun.traffic("web") == {}

    ok(run_gcloud(cloudrun_env, *deploy_argv("api-server", DIGEST1, "v1-0-0")))
    (rev1,) = revision_names(cloudrun, "api-server")
    cloudrun.fail_ready("api-server", "Container failed to start")
    run = failed(run_gcloud(cloudrun_env, *deploy_argv("api-server", DIGEST2, "v2-0-0",
                                                       "--no-traffic")))
    assert "Container failed to start" in run.err
    _, rev2 = revision_names(cloudrun, "api-server")
    assert f"Revision '{rev2}' is not ready" in run.err
    service = cloudrun.service("api-server")
    assert service is not None
    assert condition(service, "Ready")["status"] == "False"
    assert service["status"]["latestCreatedRevisionName"] == rev2
    assert service["status"]["latestReadyRevisionName"] == rev1
    assert cloudrun.traffic("api-server") == {rev1: 100}
    assert cloudrun.tags("api-server") == {"v1-0-0": rev1}  # the route kept what served
    assert cloudrun.revision_url("api-server", rev2) is None

    # As on Cloud Run, a failed revision still referenced by a tag fails the next deploy too,
    # although its own revision is fine, until the tag goes.
    run = failed(run_gcloud(cloudrun_env, *deploy_argv("api-server", DIGEST3, "v3-0-0",
                                                       "--no-traffic")))
    assert f"Revision '{rev2}' is not ready" in run.err
    *_, rev3 = revision_names(cloudrun, "api-server")
    assert condition(cloudrun.revisions("api-server")[-1], "Ready")["status"] == "True"
    # Removing the tag (what `update-traffic --remove-tags v2-0-0` PUTs) clears it.
    body = cloudrun.service("api-server") or {}
    body["spec"]["traffic"] = [t for t in body["spec"]["traffic"] if t.get("tag") != "v2-0-0"]
    assert api(cloudrun, "PUT", f"{SERVICES}/api-server", body)[0] == 200
    assert cloudrun.tags("api-server") == {"v1-0-0": rev1, "v3-0-0": rev3}
    assert cloudrun.traffic("api-server") == {rev1: 100}
    assert condition(cloudrun.service("api-server") or {}, "Ready")["status"] == "True"


def test_a_ready_revision_that_answers_the_wrong_version(
        cloudrun: CloudRunStandIn, cloudrun_env: dict[str, str]) -> None:
    cloudrun.identity_token = token = "id-token-for-tests"
    cloudrun.wrong_version("api-server", "v0.0.0")
    ok(run_gcloud(cloudrun_env, *deploy_argv("api-server", DIGEST1, "v1-0-0")))
    (rev,) = revision_names(cloudrun, "api-server")
    url = cloudrun.revision_url("api-server", rev)
    assert http_get(f"{url}/healthz", token) == (200, "ok\n")
    assert http_get(f"{url}/version", token) == (200, "v0.0.0")  # the label says v1-0-0


def test_traffic_pinned_by_hand(cloudrun: CloudRunStandIn,
                                cloudrun_env: dict[str, str]) -> None:
    ok(run_gcloud(cloudrun_env, *deploy_argv("api-server", DIGEST1, "v1-0-0")))
    (rev1,) = revision_names(cloudrun, "api-server")
    latest = cloudrun.service("api-server")["status"]["traffic"][0]  # type: ignore[index]
    assert latest == {"latestRevision": True, "percent": 100, "revisionName": rev1}

    cloudrun.pin("api-server", rev1)
    described = json.loads(ok(run_gcloud(
        cloudrun_env, "run", "services", "describe", "api-server", "--region", REGION,
        "--format", "json")).out)
    serving = [t for t in described["status"]["traffic"] if t.get("percent")]
    assert serving == [{"percent": 100, "revisionName": rev1}]  # no latestRevision: a pin
    assert described["spec"]["traffic"][0] == {"percent": 100, "revisionName": rev1}

    run = ok(run_gcloud(cloudrun_env, *deploy_argv("api-server", DIGEST2, None)))
    assert "serving 0 percent of traffic" in run.text  # plain deploys keep the pin
    _, rev2 = revision_names(cloudrun, "api-server")
    assert cloudrun.traffic("api-server") == {rev1: 100}
    assert condition(cloudrun.revisions("api-server")[1], "Active")["status"] == "False"


def test_gcloud_refusals(cloudrun: CloudRunStandIn, cloudrun_env: dict[str, str]) -> None:
    run = run_gcloud(cloudrun_env, "run", "deploy", "api-server", "--image",
                     f"{REPO}@{DIGEST1}", "--region", REGION, "--quiet",
                     "--set-secrets=DATABASE_URL")
    assert run.code == 2, str(run)  # the parser refused: nothing was sent
    assert cloudrun.requests == []

    run = failed(run_gcloud(cloudrun_env, *deploy_argv("api-server", DIGEST1, "v1-0-0",
                                                       "--no-traffic")))
    assert "--no-traffic not supported when creating a new service" in run.err
    assert shape(cloudrun.requests) == ["GET services/api-server"]


def test_the_platform_refuses_labels_gcloud_lets_through(
        cloudrun: CloudRunStandIn, cloudrun_env: dict[str, str]) -> None:
    run = failed(run_gcloud(cloudrun_env, "run", "deploy", "api-server", "--image",
                            f"{REPO}@{DIGEST1}", "--region", REGION, "--quiet",
                            "--no-allow-unauthenticated",
                            "--labels", "dev.shipyard.version=v1.1.0"))
    assert "dev.shipyard.version" in run.err
    assert cloudrun.service("api-server") is None
    assert [r.status for r in cloudrun.writes()] == [400]


def test_gcloud_polls_until_the_service_is_fresh(tmp_path: Path) -> None:
    with CloudRunStandIn(project=PROJECT, region=REGION, reconcile_gets=2) as standin:
        env = gcloud_env(tmp_path, standin)
        ok(run_gcloud(env, *deploy_argv("api-server", DIGEST1, "v1-0-0")))
        after_post = shape(standin.requests)[2:]
        assert len(after_post) >= 3 and set(after_post) == {"GET services/api-server"}
        assert standin.traffic("api-server") != {}


# -- the stand-in's own rules, over plain HTTP -------------------------------------------------

def test_label_versions_and_selectors() -> None:
    assert decode_label_version("v1-1-0") == "v1.1.0"
    assert decode_label_version("v1-1-0-rc-1") == "v1.1.0-rc.1"
    assert decode_label_version("v10_2_3") == "v10.2.3"
    assert decode_label_version("latest") == "latest"
    assert parse_label_selector("serving.knative.dev/service = api, a!=b,c==d") == [
        ("serving.knative.dev/service", "=", "api"), ("a", "!=", "b"), ("c", "=", "d")]


def test_version_rules_and_split_routing() -> None:
    with CloudRunStandIn(project=PROJECT, region=REGION) as standin:
        standin.image_version(DIGEST2, "v9.9.9")
        assert api(standin, "POST", SERVICES, knative(
            "web", labels={"dev-shipyard-version": "v1-0-0"}, revision="web-one"))[0] == 200
        assert api(standin, "POST", SERVICES, knative(
            "api", env=[{"name": "VERSION", "value": "v3.0.0"}]))[0] == 200
        code, got = api(standin, "PUT", f"{SERVICES}/web", knative(
            "web", image=f"{REPO}@{DIGEST2}", labels={"dev-shipyard-version": "v2-0-0"},
            revision="web-two", traffic=[{"revisionName": "web-one", "percent": 50},
                                         {"revisionName": "web-two", "percent": 50}]))
        assert code == 200, got
        url = got["status"]["url"]
        standin.identity_token = "t"
        assert http_get(f"{standin.revision_url('api', revision_names(standin, 'api')[0])}"
                        "/version", "t") == (200, "v3.0.0")
        # request i goes to the target whose cumulative percent holds i % 100; the image's
        # own version (image_version) wins over the v2-0-0 label
        split = [http_get(f"{url}/version", "t")[1] for _ in range(100)]
        assert split == ["v1.0.0"] * 50 + ["v9.9.9"] * 50
        assert got["metadata"]["generation"] == 2
        assert standin.traffic("web") == {"web-one": 50, "web-two": 50}


def test_what_the_platform_rejects() -> None:
    with CloudRunStandIn(project=PROJECT, region=REGION) as standin:
        assert api(standin, "GET", f"{SERVICES}/web")[0] == 404
        assert api(standin, "POST", SERVICES, knative("web", revision="web-a"))[0] == 200
        assert api(standin, "POST", SERVICES, knative("web"))[0] == 409
        bad = {
            "sum": knative("web", traffic=[{"latestRevision": True, "percent": 90}]),
            "both": knative("web", traffic=[{"latestRevision": True, "revisionName": "web-a",
                                             "percent": 100}]),
            "unknown": knative("web", traffic=[{"revisionName": "web-x", "percent": 100}]),
            "long tag": knative("web", traffic=[{"latestRevision": True, "percent": 100},
                                                {"revisionName": "web-a", "tag": "t" * 44}]),
            "reserved env": knative("web", env=[{"name": "PORT", "value": "1"}]),
            "value and secret": knative("web", env=[{"name": "A", "value": "x", "valueFrom": {
                "secretKeyRef": {"name": "s", "key": "1"}}}]),
            "secret version": knative("web", env=[{"name": "A", "valueFrom": {
                "secretKeyRef": {"name": "s", "key": "v1"}}}]),
            "label": knative("web", labels={"Version": "v1"}),
            "revision name": knative("web", revision="other-00001-abc"),
            "same name, other template": knative("web", image=f"{REPO}@{DIGEST2}",
                                                 revision="web-a"),
        }
        for what, body in bad.items():
            code, answer = api(standin, "PUT", f"{SERVICES}/web", body)
            assert code in (400, 409), (what, code, answer)
            assert answer["error"]["message"], what
        assert revision_names(standin, "web") == ["web-a"]
        service = standin.service("web")
        assert service and service["metadata"]["generation"] == 1

        stale = knative("web", image=f"{REPO}@{DIGEST2}")
        stale["metadata"]["resourceVersion"] = "old"
        assert api(standin, "PUT", f"{SERVICES}/web", stale)[0] == 409
        assert api(standin, "GET", f"{SERVICES}/web", region="europe-west1")[0] == 404
        assert api(standin, "GET", SERVICES.replace(PROJECT, "other-project"))[0] == 403
        assert api(standin, "DELETE", SERVICES.replace("services", "revisions") +
                   "/web-a")[0] == 400  # it serves
        assert api(standin, "GET", "/v2/projects/p/locations/l/services")[0] == 404
        assert [r.path for r in standin.unhandled] == ["/v2/projects/p/locations/l/services"]


def test_close_stops_every_server_quickly() -> None:
    standin = CloudRunStandIn(project=PROJECT, region=REGION).start()
    api(standin, "POST", SERVICES, knative("web"))
    rev_url = standin.revision_url("web", revision_names(standin, "web")[0])
    ports = [standin.port, int((rev_url or "").rsplit(":", 1)[1]),
             int(standin.service("web")["status"]["url"].rsplit(":", 1)[1])]  # type: ignore[index]
    began = time.monotonic()
    standin.close()
    assert time.monotonic() - began < 3
    for port in ports:
        with socket.socket() as sock, pytest.raises(OSError):
            sock.settimeout(1)
            sock.connect(("127.0.0.1", port))


def test_a_standin_in_another_process(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        (sys.executable, "-m", "tests.contract.cloudrun_standin", "--config-dir",
         str(tmp_path / "cfg"), "--seconds", "60"), cwd=root, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout
        exports = {}
        for line in proc.stdout:
            if line.startswith("# cloudrun stand-in ready"):
                break
            key, _, value = line.removeprefix("export ").rstrip("\n").partition("=")
            exports[key] = value
        port = int(exports["CLOUDSDK_PROXY_PORT"])
        assert exports["CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN"] == f"http://run.test:{port}/"
        control = f"http://127.0.0.1:{port}/_standin"
        request = urllib.request.Request(f"{control}/fail_ready", method="POST",
                                         data=json.dumps({"service": "web"}).encode())
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=5) as response:
            assert response.status == 200
        with opener.open(f"{control}/requests", timeout=5) as response:
            assert json.loads(response.read()) == []  # control calls are not logged
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
