"""shipyard's own Cloud Run API client (targets/cloudrun/api.py) against the Cloud Run
stand-in: a traffic move must send what `gcloud run services update-traffic --to-revisions
REV=100` sends, wait as gcloud waits, and fail with Cloud Run's own words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import UsageError
from shipyard.targets.cloudrun.api import ApiError, RunApi, endpoint, proxies
from tests.contract.cloudrun_standin import CloudRunStandIn
from tests.contract.conftest import PROJECT, REGION
from tests.contract.gcloud_env import environ, gcloud_env, run_gcloud
from tests.contract.test_cloudrun_standin import DIGEST1, DIGEST2, deploy_argv, ok

pytestmark = pytest.mark.contract


def two_revisions(env: dict[str, str], standin: CloudRunStandIn, name: str) -> list[str]:
    ok(run_gcloud(env, *deploy_argv(name, DIGEST1, "v1-0-0")))
    ok(run_gcloud(env, *deploy_argv(name, DIGEST2, "v2-0-0", "--no-traffic")))
    return sorted(r["metadata"]["name"] for r in standin.revisions(name))


def client(env: dict[str, str], log: list[dict[str, Any]] | None = None) -> RunApi:
    def no_gcloud() -> str:
        raise AssertionError("the token comes from CLOUDSDK_AUTH_ACCESS_TOKEN here")

    return RunApi(PROJECT, REGION, environ(env), no_gcloud,
                  record=(log.append if log is not None else None))


def test_a_move_sends_what_gclouds_update_traffic_sends(cloudrun: CloudRunStandIn,
                                                        cloudrun_env: dict[str, str]) -> None:
    by_gcloud = two_revisions(cloudrun_env, cloudrun, "by-gcloud")
    by_shipyard = two_revisions(cloudrun_env, cloudrun, "by-shipyard")
    mark = len(cloudrun.requests)
    ok(run_gcloud(cloudrun_env, "run", "services", "update-traffic", "by-gcloud",
                  "--to-revisions", f"{by_gcloud[0]}=100", "--region", REGION, "--quiet"))
    gcloud_put = next(r for r in cloudrun.requests[mark:] if r.method == "PUT")

    log: list[dict[str, Any]] = []
    mark = len(cloudrun.requests)
    moved = client(cloudrun_env, log).move_traffic("by-shipyard", by_shipyard[0])
    ours = cloudrun.requests[mark:]
    put = next(r for r in ours if r.method == "PUT")

    def shape(traffic: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
        alias = {names[0]: "REV1", names[1]: "REV2"}
        return [{k: alias.get(v, v) for k, v in t.items()} for t in traffic]

    assert shape(put.body["spec"]["traffic"], by_shipyard) == shape(
        gcloud_put.body["spec"]["traffic"], by_gcloud)  # the whole traffic list, tags kept
    assert put.body["spec"]["template"] == cloudrun.service("by-shipyard")["spec"]["template"]
    assert cloudrun.traffic("by-shipyard") == {by_shipyard[0]: 100}
    assert moved["status"]["traffic"][0]["revisionName"] == by_shipyard[0]
    # Who asked, with which token, and what the command log keeps: no body, no token.
    assert {r.command for r in ours} == {"shipyard.run.services.describe",
                                         "shipyard.run.services.update-traffic"}
    assert {r.headers.get("Authorization") for r in ours} == {"Bearer fake"}
    assert [e["request"].split()[1] for e in log] == [r.method for r in ours]
    assert all(set(e) == {"request", "status", "seconds"} and "fake" not in str(e)
               for e in log)
    assert all(r.host == f"{REGION}-run.test:{cloudrun.port}" for r in ours)


def test_a_move_waits_until_the_route_is_ready(tmp_path: Path) -> None:
    with CloudRunStandIn(project=PROJECT, region=REGION, reconcile_gets=2) as standin:
        env = gcloud_env(tmp_path, standin)
        revisions = two_revisions(env, standin, "api-server")
        mark = len(standin.requests)
        moved = client(env).move_traffic("api-server", revisions[1])
        after_put = [r.method for r in standin.requests[mark:]][2:]
        assert after_put == ["GET", "GET", "GET"]  # two stale answers, then the fresh one
        assert moved["status"]["observedGeneration"] == moved["metadata"]["generation"]
        assert standin.traffic("api-server") == {revisions[1]: 100}


def test_a_move_to_a_revision_that_is_gone_fails_with_cloud_runs_words(
        cloudrun: CloudRunStandIn, cloudrun_env: dict[str, str]) -> None:
    # The older one: a template that names a revision makes it again (Knative), so the
    # latest created revision cannot be gone for long.
    revisions = two_revisions(cloudrun_env, cloudrun, "api-server")
    cloudrun.delete_revision("api-server", revisions[0])
    before = cloudrun.service("api-server")["spec"]  # type: ignore[index]
    with pytest.raises(ApiError) as refused:
        client(cloudrun_env).move_traffic("api-server", revisions[0])
    assert refused.value.status == 400
    assert f"Revision '{revisions[0]}' does not exist" in refused.value.message
    assert cloudrun.service("api-server")["spec"] == before  # type: ignore[index]
    with pytest.raises(ApiError, match="cannot find service nope"):
        client(cloudrun_env).move_traffic("nope", revisions[0])


def test_a_move_reads_again_when_the_service_changed_under_it(
        cloudrun: CloudRunStandIn, cloudrun_env: dict[str, str]) -> None:
    revisions = two_revisions(cloudrun_env, cloudrun, "api-server")
    api = client(cloudrun_env)
    stale = api.service("api-server")
    # Someone else writes in between: the copy read above is now a version behind.
    ok(run_gcloud(cloudrun_env, "run", "services", "update-traffic", "api-server",
                  "--to-revisions", f"{revisions[0]}=100", "--region", REGION, "--quiet"))
    reads = iter([stale])
    fresh_read = api.service
    api.service = lambda name: next(reads, None) or fresh_read(name)  # type: ignore[method-assign]
    mark = len(cloudrun.requests)
    api.move_traffic("api-server", revisions[1])
    puts = [r.status for r in cloudrun.requests[mark:] if r.method == "PUT"]
    assert puts == [409, 200]
    assert cloudrun.traffic("api-server") == {revisions[1]: 100}


def test_endpoint_and_proxy_as_gcloud_takes_them() -> None:
    assert endpoint({}, "europe-west1") == "https://europe-west1-run.googleapis.com/"
    assert endpoint({"CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN": "http://run.test:8080/"},
                    "us-central1") == "http://us-central1-run.test:8080/"
    with pytest.raises(UsageError, match="is not an endpoint URL"):
        endpoint({"CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN": "run.test"}, "us-central1")
    assert proxies({}) is None
    assert proxies({"CLOUDSDK_PROXY_TYPE": "http", "CLOUDSDK_PROXY_ADDRESS": "10.0.0.1",
                    "CLOUDSDK_PROXY_PORT": "3128"}) == {"http": "http://10.0.0.1:3128",
                                                       "https": "http://10.0.0.1:3128"}
    with pytest.raises(UsageError, match="http proxies only"):
        proxies({"CLOUDSDK_PROXY_TYPE": "socks5", "CLOUDSDK_PROXY_ADDRESS": "10.0.0.1"})


def test_no_token_travels_over_plain_http_unless_the_environment_set_it() -> None:
    fetched: list[str] = []
    api = RunApi(PROJECT, REGION, {"CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN": "http://run.test/"},
                 lambda: fetched.append("gcloud") or "real-token")
    assert api._bearer() is None and fetched == []
    secure = RunApi(PROJECT, REGION, {}, lambda: fetched.append("gcloud") or "real-token")
    assert secure._bearer() == "real-token" and secure._bearer() == "real-token"
    assert fetched == ["gcloud"]  # once per run
