"""The project-setup stand-in keeps the promises gcp-bootstrap relies on (spoken to over HTTP
as gcloud does, through it as a proxy): a stand-in that accepted everything could not catch
shipyard doing things in the wrong order or writing a policy it had not read."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.contract.gcp_standin import GcpStandIn

pytestmark = pytest.mark.contract

P = "demo-proj"
SA = f"app-runtime@{P}.iam.gserviceaccount.com"


@pytest.fixture
def gcp() -> Iterator[GcpStandIn]:
    with GcpStandIn(P, "100000000009") as standin:
        standin.enable("iam.googleapis.com", "artifactregistry.googleapis.com",
                       "secretmanager.googleapis.com", "cloudresourcemanager.googleapis.com")
        yield standin


def call(gcp: GcpStandIn, api: str, method: str, path: str,
         body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", gcp.port, timeout=10)
    try:
        conn.request(method, f"http://{api}.test:{gcp.port}{path}",
                     body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read() or b"{}")
    finally:
        conn.close()


def status(answer: tuple[int, dict[str, Any]]) -> tuple[int, str]:
    return answer[0], answer[1].get("error", {}).get("status", "OK")


def test_an_api_that_is_off_answers_service_disabled(gcp: GcpStandIn) -> None:
    gcp.enabled.discard("iam.googleapis.com")
    code, answer = call(gcp, "iam", "GET", f"/v1/projects/-/serviceAccounts/{SA}")
    assert code == 403 and answer["error"]["details"][0]["reason"] == "SERVICE_DISABLED"
    assert status(call(gcp, "serviceusage", "POST", f"/v1/projects/{P}/services:batchEnable",
                       {"serviceIds": ["iam.googleapis.com"]})) == (200, "OK")
    assert status(call(gcp, "iam", "GET", f"/v1/projects/-/serviceAccounts/{SA}")) == (
        404, "NOT_FOUND")


def test_creating_what_exists_is_already_exists(gcp: GcpStandIn) -> None:
    account = {"accountId": "app-runtime", "serviceAccount": {"displayName": "runtime"}}
    assert status(call(gcp, "iam", "POST", f"/v1/projects/{P}/serviceAccounts",
                       account)) == (200, "OK")
    assert status(call(gcp, "iam", "POST", f"/v1/projects/{P}/serviceAccounts",
                       account)) == (409, "ALREADY_EXISTS")
    repos = f"/v1/projects/{P}/locations/us-central1/repositories?repositoryId=images"
    assert status(call(gcp, "artifactregistry", "POST", repos, {})) == (400, "INVALID_ARGUMENT")
    assert status(call(gcp, "artifactregistry", "POST", repos, {"format": "DOCKER"})) == (
        200, "OK")
    assert status(call(gcp, "artifactregistry", "POST", repos, {"format": "DOCKER"})) == (
        409, "ALREADY_EXISTS")
    secrets = f"/v1/projects/{P}/secrets?secretId=db-url"
    assert status(call(gcp, "secretmanager", "POST", secrets, {})) == (400, "INVALID_ARGUMENT")
    assert status(call(gcp, "secretmanager", "POST", secrets,
                       {"replication": {"automatic": {}}})) == (200, "OK")


def test_a_policy_write_with_a_stale_etag_is_aborted(gcp: GcpStandIn) -> None:
    gcp.add_account(SA)
    path = f"/v1/projects/{P}"
    _, read = call(gcp, "cloudresourcemanager", "POST", f"{path}:getIamPolicy", {})
    binding = {"role": "roles/logging.logWriter", "members": [f"serviceAccount:{SA}"]}
    gcp.grant(f"projects/{P}", "roles/owner", "user:lead@example.com")  # another writer
    stale = {"policy": {"etag": read["etag"], "bindings": [binding]}}
    assert status(call(gcp, "cloudresourcemanager", "POST", f"{path}:setIamPolicy",
                       stale)) == (409, "ABORTED")
    assert gcp.granted(f"projects/{P}") == {("roles/owner", "user:lead@example.com")}
    _, fresh = call(gcp, "cloudresourcemanager", "POST", f"{path}:getIamPolicy", {})
    written = {"policy": {"etag": fresh["etag"], "bindings": [*fresh["bindings"], binding]}}
    assert status(call(gcp, "cloudresourcemanager", "POST", f"{path}:setIamPolicy",
                       written)) == (200, "OK")
    assert len(gcp.granted(f"projects/{P}")) == 2


def test_a_binding_must_name_a_real_account_and_a_role_that_fits(gcp: GcpStandIn) -> None:
    gcp.add_account(SA)
    path = f"/v1/projects/-/serviceAccounts/{SA}:setIamPolicy"
    ghost = {"policy": {"bindings": [{"role": "roles/iam.serviceAccountUser", "members": [
        f"serviceAccount:nobody-here@{P}.iam.gserviceaccount.com"]}]}}
    assert status(call(gcp, "iam", "POST", path, ghost)) == (400, "INVALID_ARGUMENT")
    misplaced = {"policy": {"bindings": [{"role": "roles/artifactregistry.writer",
                                          "members": [f"serviceAccount:{SA}"]}]}}
    assert status(call(gcp, "iam", "POST", path, misplaced)) == (400, "INVALID_ARGUMENT")
    assert gcp.granted(f"serviceAccounts/{SA}") == set()
