"""Alert policies as code: the sample's monitoring/ rendered with its shipyard.toml, and the
plan that turns what is there into what to create or update."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from shipyard import config
from shipyard.errors import UsageError
from shipyard.ops.monitoring import render
from shipyard.ops.monitoring_apply import covers, plan

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "meta-ad-studio"
STAGING_CHANNEL = "projects/meta-ad-studio-staging/notificationChannels/101"


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    shutil.copytree(SAMPLE, app, ignore=shutil.ignore_patterns(".shipyard"))
    return app


def rendered(app: Path, env: str = "staging") -> Any:
    cfg = config.load(app)
    return render(cfg, cfg.environment(env))


def test_staging_renders_each_policy_with_its_thresholds_and_channels(sample: Path) -> None:
    out = rendered(sample)
    by_key = {p["userLabels"]["shipyard-key"]: p for p in out.policies}
    assert sorted(by_key) == ["error-rate-api-server", "error-rate-meta-verse-visualizer-main",
                              "latency-p95-api-server", "latency-p95-meta-verse-visualizer-main",
                              "video-job-failures"]
    threshold = {k: p["conditions"][0]["conditionThreshold"] for k, p in by_key.items()}
    assert threshold["error-rate-api-server"]["thresholdValue"] == 0.05
    assert threshold["latency-p95-api-server"]["thresholdValue"] == 3000  # staging's own
    assert threshold["video-job-failures"]["thresholdValue"] == 0.1
    assert 'service_name = "meta-verse-visualizer-main"' in (
        threshold["error-rate-meta-verse-visualizer-main"]["filter"])
    assert all(t["duration"] == "300s" for t in threshold.values())
    assert all(p["notificationChannels"] == [STAGING_CHANNEL] for p in out.policies)
    assert {p["userLabels"]["shipyard-env"] for p in out.policies} == {"staging"}
    assert [m["name"] for m in out.metrics] == ["video_jobs", "video_job_failures"]
    assert 'resource.labels.service_name = "api-server"' in out.metrics[1]["filter"]
    assert [(u.host, u.path, u.port) for u in out.uptime] == [
        ("api-staging.meta-ad-studio.example", "/healthz", 443),
        ("staging.meta-ad-studio.example", "/healthz", 443)]
    assert "${" not in json.dumps(out.as_json())


def test_prod_renders_its_own_threshold_and_channel(sample: Path) -> None:
    out = rendered(sample, "prod")
    latency = [p for p in out.policies if p["userLabels"]["shipyard-key"] ==
               "latency-p95-api-server"][0]
    assert latency["conditions"][0]["conditionThreshold"]["thresholdValue"] == 2000
    assert latency["notificationChannels"] == [
        "projects/meta-ad-studio-prod/notificationChannels/201"]


def test_template_mistakes_are_usage_errors(sample: Path) -> None:
    (sample / "monitoring" / "typo.json").write_text('{"displayName": "${enviroment} x"}')
    with pytest.raises(UsageError, match=r"typo.json: unknown placeholder \$\{enviroment\}"):
        rendered(sample)
    (sample / "monitoring" / "typo.json").write_text('{"displayName": "${env} ${service}: 5xx '
                                                     'error rate"}')
    with pytest.raises(UsageError, match="display names must be set and unique"):
        rendered(sample)
    (sample / "monitoring" / "typo.json").write_text("{not json")
    with pytest.raises(UsageError, match="typo.json: not valid JSON"):
        rendered(sample)


def test_the_local_environment_has_no_monitoring(sample: Path) -> None:
    with pytest.raises(UsageError, match="environment local is not on Google Cloud"):
        rendered(sample, "local")


def test_covers_ignores_what_the_api_adds_but_not_what_differs() -> None:
    want = {"a": 1, "conditions": [{"displayName": "c", "t": 0.5}], "enabled": True}
    have = {"a": 1.0, "name": "x", "conditions": [{"displayName": "c", "t": 0.5, "name": "y"}],
            "enabled": True, "creationRecord": {}}
    assert covers(want, have)
    assert not covers(want, {**have, "conditions": [{"displayName": "c", "t": 0.6}]})
    assert not covers(want, {**have, "conditions": []})
    assert not covers({"enabled": True}, {"enabled": 1})


def as_listed(out: Any) -> dict[str, list[dict[str, Any]]]:
    """What the API would list after creating everything (names and records added)."""
    policies = [{**copy.deepcopy(p), "name": f"projects/x/alertPolicies/{n}", "enabled": True}
                for n, p in enumerate(out.policies)]
    uptime = [{**u.as_config(out.project), "name": f"projects/x/uptimeCheckConfigs/u{n}"}
              for n, u in enumerate(out.uptime)]
    return {"metrics": copy.deepcopy(list(out.metrics)), "policies": policies, "uptime": uptime}


def test_plan_creates_all_then_nothing_then_only_what_differs(sample: Path) -> None:
    out = rendered(sample)
    first = plan(out, {"metrics": [], "policies": [], "uptime": []}, "staging", "gcloud")
    assert [c.action for c in first] == ["create"] * 9
    assert [c.kind for c in first][:3] == ["log metric", "log metric", "alert policy"]
    current = as_listed(out)
    assert all(c.action == "unchanged" and not c.argv
               for c in plan(out, current, "staging", "gcloud"))
    # A policy of another environment with the same key is not ours to update.
    assert [c.action for c in plan(out, current, "prod", "gcloud")].count("create") == 5
    current["policies"][2]["conditions"][0]["conditionThreshold"]["thresholdValue"] = 1
    current["uptime"][0]["httpCheck"]["path"] = "/old"
    current["uptime"][1]["monitoredResource"]["labels"]["host"] = "old.example"
    changes = {c.name: c for c in plan(out, current, "staging", "gcloud") if c.argv}
    assert {n: c.action for n, c in changes.items()} == {
        out.policies[2]["displayName"]: "update",
        "shipyard staging uptime api-server": "update",
        "shipyard staging uptime meta-verse-visualizer-main": "replace"}
    update = changes[out.policies[2]["displayName"]].argv[0]
    assert update[:6] == ("gcloud", "alpha", "monitoring", "policies", "update",
                          "projects/x/alertPolicies/2")
    replace = changes["shipyard staging uptime meta-verse-visualizer-main"].argv
    assert [argv[3] for argv in replace] == ["delete", "create"]
