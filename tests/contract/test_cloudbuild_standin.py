"""The Cloud Build stand-in refuses what Cloud Build refuses, and its builds move as the test
drives them: plain HTTP here (fast); the gcloud paths are in test_cloudbuild.py."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.contract.cloudbuild_standin import CloudBuildStandIn

pytestmark = pytest.mark.contract

BASE = "/v1/projects/p/locations/us-central1"
STEP = {"name": "ubuntu", "id": "a", "args": ["echo", "${_VERSION}"]}


@pytest.fixture
def standin() -> Iterator[CloudBuildStandIn]:
    with CloudBuildStandIn(project="p") as s:
        yield s


def call(s: CloudBuildStandIn, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{s.port}{path}", data=data,
                                     method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def build(**changes: Any) -> dict[str, Any]:
    return {"steps": [STEP], "substitutions": {"_VERSION": "v1.0.0"}, **changes}


@pytest.mark.parametrize(("body", "message"), [
    (build(steps=[]), "no build steps"),
    (build(steps=[{"args": ["x"]}]), "has no name"),
    (build(steps=[{**STEP, "waitFor": ["later"]}]), "unknown or later step"),
    (build(substitutions={"_VERSION": "v1", "lower": "x"}), "must begin with an underscore"),
    (build(substitutions={}), '"_VERSION" is not a valid built-in substitution'),
    (build(substitutions={"_VERSION": "v1", "_SPARE": "x"}), '"_SPARE" in the substitution'),
    (build(source={"storageSource": {"bucket": "b", "object": "o", "generation": "1"}}),
     "not found"),
])
def test_an_invalid_build_is_refused_and_nothing_is_created(
        standin: CloudBuildStandIn, body: dict[str, Any], message: str) -> None:
    code, answer = call(standin, "POST", f"{BASE}/builds", body)
    assert code == 400 and message in answer["error"]["message"]
    assert standin.builds == []


def test_loose_substitutions_and_escaped_dollars_are_accepted(standin: CloudBuildStandIn) -> None:
    loose = build(substitutions={"_VERSION": "v1", "_SPARE": "x"},
                  options={"substitutionOption": "ALLOW_LOOSE"})
    assert call(standin, "POST", f"{BASE}/builds", loose)[0] == 200
    escaped = build(steps=[{**STEP, "args": ["echo", "$$HOME", "$_VERSION"]}])
    assert call(standin, "POST", f"{BASE}/builds", escaped)[0] == 200


def test_a_build_moves_one_status_per_poll_and_can_be_held(standin: CloudBuildStandIn) -> None:
    code, operation = call(standin, "POST", f"{BASE}/builds", build())
    assert code == 200 and operation["metadata"]["build"]["status"] == "QUEUED"
    build_id = operation["metadata"]["build"]["id"]
    statuses = [call(standin, "GET", f"{BASE}/builds/{build_id}")[1]["status"]
                for _ in range(3)]
    assert statuses == ["WORKING", "SUCCESS", "SUCCESS"]

    standin.hold()
    held = call(standin, "POST", f"{BASE}/builds", build())[1]["metadata"]["build"]["id"]
    assert [call(standin, "GET", f"{BASE}/builds/{held}")[1]["status"]
            for _ in range(3)] == ["WORKING"] * 3
    standin.finish(held, "FAILURE", "step a failed")
    failed = call(standin, "GET", f"{BASE}/builds/{held}")[1]
    assert failed["status"] == "FAILURE" and failed["statusDetail"] == "step a failed"
    assert call(standin, "GET", f"{BASE}/builds/nope")[0] == 404


TRIGGER = {"name": "demo-prod-release", "filename": "ci-cd/cloudbuild.yaml",
           "github": {"owner": "o", "name": "n", "push": {"tag": "^v1$"}},
           "serviceAccount": "projects/p/serviceAccounts/d@p.iam.gserviceaccount.com"}


@pytest.mark.parametrize(("change", "message"), [
    ({"name": "1-starts-with-a-digit"}, "invalid trigger name"),
    ({"github": None}, "event source"),
    ({"filename": None}, "build file"),
    ({"github": {"owner": "o", "name": "n", "push": {"tag": "(unclosed"}}}, "tag pattern"),
    ({"serviceAccount": "d@p.iam.gserviceaccount.com"}, "serviceAccounts/EMAIL"),
])
def test_an_invalid_trigger_is_refused(standin: CloudBuildStandIn, change: dict[str, Any],
                                       message: str) -> None:
    body = {k: v for k, v in {**TRIGGER, **change}.items() if v is not None}
    code, answer = call(standin, "POST", f"{BASE}/triggers", body)
    assert code == 400 and message in answer["error"]["message"]
    assert standin.trigger("demo-prod-release", "us-central1") is None


def test_trigger_names_are_unique_and_a_patch_keeps_the_id(standin: CloudBuildStandIn) -> None:
    code, created = call(standin, "POST", f"{BASE}/triggers", TRIGGER)
    assert code == 200 and created["id"]
    assert call(standin, "POST", f"{BASE}/triggers", TRIGGER)[0] == 409
    by_id = call(standin, "GET", f"{BASE}/triggers/{created['id']}")[1]
    assert by_id["name"] == "demo-prod-release"
    changed = {**TRIGGER, "substitutions": {"_ENV": "prod"}, "id": "forged"}
    code, patched = call(standin, "PATCH", f"{BASE}/triggers/demo-prod-release", changed)
    assert code == 200 and patched["id"] == created["id"]
    assert patched["substitutions"] == {"_ENV": "prod"}
    assert call(standin, "PATCH", f"{BASE}/triggers/absent", TRIGGER)[0] == 404
    listed = call(standin, "GET", f"{BASE}/triggers")[1]["triggers"]
    assert [t["name"] for t in listed] == ["demo-prod-release"]
    assert call(standin, "GET", "/v1/projects/p/locations/europe-west1/triggers/"
                                "demo-prod-release")[0] == 404
    assert call(standin, "GET", "/v1/projects/other/locations/us-central1/triggers")[0] == 403
