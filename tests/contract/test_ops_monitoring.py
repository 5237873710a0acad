"""`invoke monitoring-render` and `monitoring-apply` in a copy of the sample, through the real
gcloud against the Monitoring/Logging stand-in: everything created once, a rerun makes no
change call, a changed threshold or URL changes exactly what it should. Every argv the
builders make passes the real gcloud parser."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from shipyard.commands import gcloud_monitoring as gm
from tests.contract.gcloud_env import GCLOUD, hermetic, run_gcloud
from tests.contract.monitoring_standin import MonitoringStandIn
from tests.support.apps import sample_copy
from tests.support.cli import Ran, invoke

pytestmark = pytest.mark.contract

PROJECT = "meta-ad-studio-staging"
POLICY = {"displayName": "d", "combiner": "OR", "userLabels": {"shipyard-key": "k"},
          "conditions": [{"displayName": "c", "conditionThreshold": {
              "filter": 'metric.type = "x"', "comparison": "COMPARISON_GT",
              "thresholdValue": 0.5, "duration": "60s"}}]}
BUILDERS = {
    "list policies": gm.list_policies(GCLOUD, "p"),
    "create policy": gm.create_policy(GCLOUD, "p", POLICY),
    "update policy": gm.update_policy(GCLOUD, "p", "projects/p/alertPolicies/1", POLICY),
    "list metrics": gm.list_log_metrics(GCLOUD, "p"),
    "create metric": gm.log_metric(GCLOUD, "p", "create", "m", "d", 'jsonPayload.a = "b"'),
    "update metric": gm.log_metric(GCLOUD, "p", "update", "m", "d", 'jsonPayload.a = "b"'),
    "list uptime": gm.list_uptime(GCLOUD, "p"),
    "create uptime": gm.create_uptime(GCLOUD, "p", "shipyard x uptime api", "a.example",
                                      "/healthz", https=True, port=443, period_minutes=5,
                                      timeout_seconds=10),
    "update uptime": gm.update_uptime(GCLOUD, "p", "u1", "/healthz", port=443,
                                      period_minutes=5, timeout_seconds=10),
    "delete uptime": gm.delete_uptime(GCLOUD, "p", "u1"),
    "sql instance": gm.describe_sql_instance(GCLOUD, "p", "db"),
    "sql backups": gm.list_sql_backups(GCLOUD, "p", "db"),
    "iam policy": gm.project_iam_policy(GCLOUD, "p"),
}


def test_every_ops_argv_passes_the_real_gcloud_parser(tmp_path: Path) -> None:
    nowhere = "http://127.0.0.1:9/"  # parsed commands fail at their first request, exit 1
    env = {**os.environ, **hermetic(tmp_path / "gcloud", "p"),
           **{f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}": nowhere
              for api in ("MONITORING", "LOGGING", "SQL", "CLOUDRESOURCEMANAGER")}}
    procs = {name: subprocess.Popen((*argv, "--verbosity=debug"), env=env, text=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for name, argv in BUILDERS.items()}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=180)
        assert proc.returncode != 2, f"{name}: gcloud's parser refused it:\n{err[-1500:]}"
        assert "Running [gcloud." in err, f"{name}: never got past parsing:\n{err[-1500:]}"


@pytest.fixture
def monitoring() -> MonitoringStandIn:
    with MonitoringStandIn(PROJECT, channels=("101",)) as standin:
        yield standin  # type: ignore[misc]


@pytest.fixture
def app(tmp_path: Path) -> Path:
    work = tmp_path / "meta-ad-studio"
    sample_copy(work, tmp_path / "remote.git")
    return work


def run(app: Path, standin: MonitoringStandIn, *args: str) -> Ran:
    env = {**hermetic(app.parent / "gcloud-config", PROJECT),
           "CLOUDSDK_API_ENDPOINT_OVERRIDES_MONITORING": standin.endpoint,
           "CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING": standin.endpoint}
    return invoke(app, *args, env=env, timeout=600)


def test_monitoring_render_prints_what_would_be_sent(app: Path,
                                                     monitoring: MonitoringStandIn) -> None:
    done = run(app, monitoring, "monitoring-render", "--env", "staging")
    assert done.code == 0, done.text
    sent = json.loads(done.out)
    assert sent["project"] == PROJECT
    names = [p["displayName"] for p in sent["alertPolicies"]]
    assert names == ["staging api-server: 5xx error rate",
                     "staging meta-verse-visualizer-main: 5xx error rate",
                     "staging api-server: p95 request latency",
                     "staging meta-verse-visualizer-main: p95 request latency",
                     "staging video jobs: failure rate"]
    assert [u["monitoredResource"]["labels"]["host"] for u in sent["uptimeCheckConfigs"]] == [
        "api-staging.meta-ad-studio.example", "staging.meta-ad-studio.example"]
    assert monitoring.requests == []  # render calls nothing


def test_apply_twice_then_only_what_changed(app: Path, monitoring: MonitoringStandIn) -> None:
    first = run(app, monitoring, "monitoring-apply", "--env", "staging")
    assert first.code == 0, first.text
    assert "changed 9 of 9" in first.err
    calls = [(r.method, r.path.rsplit("/", 1)[-1]) for r in monitoring.changes]
    assert calls[:2] == [("POST", "metrics")] * 2  # before the policy that counts them
    assert sorted(calls[2:]) == [("POST", "alertPolicies")] * 5 + [
        ("POST", "uptimeCheckConfigs")] * 2
    assert len(monitoring.policies) == 5 and len(monitoring.uptime) == 2
    assert sorted(monitoring.metrics) == ["video_job_failures", "video_jobs"]

    second = run(app, monitoring, "monitoring-apply", "--env", "staging")
    assert second.code == 0, second.text
    assert "nothing to do: all 9 match monitoring/" in second.err
    assert len(monitoring.changes) == 9  # the rerun sent no POST, PATCH, PUT or DELETE

    config = app / "shipyard.toml"
    config.write_text(config.read_text()
                      .replace("latency_p95_ms = 3000 ", "latency_p95_ms = 4500 ")
                      .replace("https://staging.meta-ad-studio.example/healthz",
                               "https://www.staging.meta-ad-studio.example/healthz"))
    planned = run(app, monitoring, "monitoring-apply", "--env", "staging", "--dry-run")
    assert planned.code == 0, planned.text
    assert "would change 3 of 9" in planned.err
    assert len(monitoring.changes) == 9  # a dry run only lists
    third = run(app, monitoring, "monitoring-apply", "--env", "staging")
    assert third.code == 0, third.text
    changed = [(r.method, "uptime" if "uptimeCheckConfigs" in r.path else "policy")
               for r in monitoring.changes[9:]]
    assert sorted(changed) == [("DELETE", "uptime"), ("PATCH", "policy"), ("PATCH", "policy"),
                               ("POST", "uptime")]  # the host cannot change in place
    assert changed.index(("DELETE", "uptime")) < changed.index(("POST", "uptime"))
    latencies = sorted(c["conditionThreshold"]["thresholdValue"]
                       for p in monitoring.policies.values() for c in p["conditions"]
                       if "latency" in p["displayName"])
    assert latencies == [4500, 4500]
    hosts = sorted(u["monitoredResource"]["labels"]["host"] for u in monitoring.uptime.values())
    assert hosts == ["api-staging.meta-ad-studio.example", "www.staging.meta-ad-studio.example"]
    assert monitoring.unhandled == []


def test_an_unknown_notification_channel_fails_the_apply(app: Path) -> None:
    with MonitoringStandIn(PROJECT, channels=("999",)) as standin:
        done = run(app, standin, "monitoring-apply", "--env", "staging")
    assert done.code == 1, done.text
    assert "notificationChannels/101 does not exist" in done.err
    assert not standin.policies


def test_the_standin_refuses_a_policy_on_a_log_metric_not_made_yet(tmp_path: Path) -> None:
    # Why log metrics go first: the API refuses a threshold on a metric that does not exist.
    policy = {**POLICY, "conditions": [{"displayName": "c", "conditionThreshold": {
        "filter": 'metric.type = "logging.googleapis.com/user/video_jobs"',
        "comparison": "COMPARISON_GT", "thresholdValue": 0.1, "duration": "60s"}}]}
    with MonitoringStandIn(PROJECT) as standin:
        env = {**hermetic(tmp_path / "gcloud", PROJECT),
               "CLOUDSDK_API_ENDPOINT_OVERRIDES_MONITORING": standin.endpoint}
        done = run_gcloud(env, *gm.create_policy(GCLOUD, PROJECT, policy)[1:])
        assert done.code == 1, done
        assert "Cannot find metric(s)" in done.err
        standin.metrics["video_jobs"] = {"name": "video_jobs", "filter": "x"}
        assert run_gcloud(env, *gm.create_policy(GCLOUD, PROJECT, policy)[1:]).code == 0
