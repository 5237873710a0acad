"""`invoke flag --env staging video_generation=off` on Cloud Run, through the real gcloud,
against the Cloud Run and Secret Manager stand-ins: one `gcloud run services update
--update-env-vars` makes a new revision of the same image (same digest, same secret versions)
with its own tag and no traffic, verified through its tag URL, then one traffic move. A revision
that answers the wrong version moves nothing. A later release keeps the flag, and a rollback
to a release that last ran with it is a traffic move."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import AppRepo, LocalRegistryProcess, Ran, invoke
from tests.contract.cloudrun_standin import CloudRunStandIn, http_get
from tests.contract.conftest import PROJECT
from tests.contract.secret_manager_standin import SecretManagerStandIn

pytestmark = pytest.mark.contract

SA = f"run@{PROJECT}.iam.gserviceaccount.com"
FLAG_ENV = "VIDEO_GENERATION_ENABLED"
CONFIG = """\
[project]
name = "demo"

[services.alpha]
context = "alpha"
port = 8080
secrets = ["DATABASE_URL"]

[services.alpha.env]
VIDEO_GENERATION_ENABLED = "true"
GREETING = "hello"

[services.beta]
context = "beta"
port = 8080

[flags.video_generation]
service = "alpha"
env = "VIDEO_GENERATION_ENABLED"
on = "true"
off = "false"

[scan]
scanners = ["secret", "misconfig"]

[environments.local]
target = "local"
registry_port = {registry}
proxy_ports = {{ alpha = 1, beta = 2 }}

[environments.staging]
target = "cloudrun"
project = "{project}"
region = "us-central1"
repository = "demo"
registry = "127.0.0.1:{registry}/demo"
service_account = "{sa}"

[environments.staging.run]
allow_unauthenticated = true

[environments.staging.secrets]
DATABASE_URL = "db-url"
"""


@pytest.fixture
def secret_manager() -> Iterator[SecretManagerStandIn]:
    with SecretManagerStandIn({PROJECT: "100000000042"}, token="fake") as sm:
        sm.add_secret(PROJECT, "db-url", ("postgres://app:flag-secret@db/app", "ENABLED"))
        sm.grant(PROJECT, "db-url", f"serviceAccount:{SA}")
        yield sm


class Staging:
    def __init__(self, repo: AppRepo, env: dict[str, str], run: CloudRunStandIn) -> None:
        self.repo, self.env, self.run = repo, env, run

    def invoke(self, *args: str) -> Ran:
        return invoke(self.repo.work, *args, "--env", "staging", env=self.env, timeout=600)

    def ok(self, *args: str) -> Ran:
        ran = self.invoke(*args)
        assert ran.code == 0, f"invoke {' '.join(args)} exited {ran.code}:\n{ran.text}"
        return ran

    def serving(self, name: str) -> dict[str, Any]:
        """The revision that takes all of NAME's traffic, as Cloud Run lists it."""
        (revision, percent), = self.run.traffic(name).items()
        assert percent == 100
        return next(r for r in self.run.revisions(name) if r["metadata"]["name"] == revision)

    def api_status(self, name: str) -> dict[str, Any]:
        url = self.run.service(name)["status"]["url"]  # type: ignore[index]
        code, body = http_get(url + "/api/status")
        assert code == 200, body
        return json.loads(body)  # type: ignore[no-any-return]

    def change(self, message: str) -> None:
        for name in ("alpha", "beta"):
            path = self.repo.work / name / "content.txt"
            path.write_text(path.read_text() + message + "\n")
        self.repo.git("commit", "-q", "-am", message)
        self.repo.git("push", "-q", "origin", "main")


def container(revision: dict[str, Any]) -> dict[str, Any]:
    return revision["spec"]["containers"][0]  # type: ignore[no-any-return]


def env_of(revision: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(revision)["env"]}


@pytest.fixture
def staging(images_app: AppRepo, registry: LocalRegistryProcess, cloudrun: CloudRunStandIn,
            cloudrun_env: dict[str, str], secret_manager: SecretManagerStandIn) -> Staging:
    (images_app.work / "shipyard.toml").write_text(
        CONFIG.format(registry=registry.port, project=PROJECT, sa=SA))
    images_app.git("commit", "-q", "-am", "Cloud Run staging with a video flag")
    images_app.git("push", "-q", "origin", "main")
    env = {**cloudrun_env, "SHIPYARD_SECRETMANAGER_ENDPOINT": secret_manager.url}
    return Staging(images_app, env, cloudrun)


def test_the_flag_is_a_verified_revision_of_the_same_image_on_cloud_run(staging: Staging
                                                                        ) -> None:
    run = staging.run
    staging.ok("release", "--version", "v1.0.0")
    before = {name: staging.serving(name) for name in ("alpha", "beta")}
    assert staging.api_status("alpha")["video_generation"] == "on"

    asked = len(run.requests)
    staging.ok("flag", "video_generation=off")
    writes = [r for r in run.requests[asked:] if r.method in ("POST", "PUT", "DELETE")]
    assert [(r.command, r.path.rsplit("/", 1)[-1]) for r in writes] == [
        ("gcloud.run.services.update", "alpha"),
        ("shipyard.run.services.update-traffic", "alpha")]  # beta untouched; no deploy
    update = writes[0].body
    # Sent with no traffic: every percent still on v1's revision, the new one only tagged.
    assert [t for t in update["spec"]["traffic"] if t.get("percent")] == [
        {"percent": 100, "revisionName": before["alpha"]["metadata"]["name"]}]

    after = staging.serving("alpha")
    assert after["metadata"]["name"] != before["alpha"]["metadata"]["name"]  # a new revision
    assert container(after)["image"] == container(before["alpha"])["image"]  # same digest
    assert "@sha256:" in container(after)["image"]
    assert env_of(after) == {**env_of(before["alpha"]), FLAG_ENV: "false"}  # only the flag
    assert env_of(after)["DATABASE_URL"] == {"secretKeyRef": {"name": "db-url", "key": "1"}}
    assert staging.serving("beta")["metadata"]["name"] == before["beta"]["metadata"]["name"]
    tag = next(t for t, rev in run.tags("alpha").items() if rev == after["metadata"]["name"])
    assert tag.startswith("v1-0-0-f")
    assert "/version" in run.revision_hits("alpha", after["metadata"]["name"])  # verified
    assert staging.api_status("alpha")["video_generation"] == "off"

    status = json.loads(staging.ok("status", "--json").out)
    assert status["flags"]["video_generation"]["state"] == "off"
    assert {s["name"]: s["revision"] for s in status["services"]}["alpha"] == \
        after["metadata"]["name"]

    # Back on, but the new revision answers another version: no traffic moves, flag stays off.
    run.wrong_version("alpha", "v0.0.0")
    asked = len(run.requests)
    failed = staging.invoke("flag", "video_generation=on")
    assert failed.code == 1, failed.text
    assert "answered 200 'v0.0.0', not v1.0.0" in failed.err
    assert "nothing was switched: v1.0.0 keeps serving with video_generation=off" in failed.err
    assert not any(r.command == "shipyard.run.services.update-traffic"
                   for r in run.requests[asked:] if r.method == "PUT")
    assert staging.serving("alpha")["metadata"]["name"] == after["metadata"]["name"]
    status = json.loads(staging.ok("status", "--json").out)
    assert status["flags"]["video_generation"]["state"] == "off"
    assert status["flags_pending"] is None

    # A later release keeps the flag off; a rollback to v1.0.0 moves traffic back to the
    # revision it last ran as, flag off, without a deploy.
    staging.change("v2")
    staging.ok("release", "--version", "v2.0.0")
    assert env_of(staging.serving("alpha"))[FLAG_ENV] == "false"
    asked = len(run.requests)
    staging.ok("rollback")
    assert {r.command for r in run.requests[asked:] if r.method == "PUT"} == {
        "shipyard.run.services.update-traffic"}
    assert staging.serving("alpha")["metadata"]["name"] == after["metadata"]["name"]
    assert staging.api_status("alpha") == {**staging.api_status("alpha"),
                                           "video_generation": "off", "version": "v1.0.0"}
