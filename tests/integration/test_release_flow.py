"""`invoke release / rollback / status` end to end, as a user runs them: zero failed requests
while traffic moves, and an automatic rollback when a new release fails its health check
(dry runs: test_dry_run.py).

Real git (bare remote), Docker engine, registry, trivy and nginx; requests to 127.0.0.1 only.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.release_fixtures import (
    SERVICES,
    Load,
    ReleaseApp,
    commands,
    http_get,
)

pytestmark = pytest.mark.integration

V1, V2 = "v1.0.0", "v2.0.0"


def test_release_and_rollback_fail_no_request(app: ReleaseApp) -> None:
    app.ok("release", "--version", V1)
    assert app.versions() == {"alpha": V1, "beta": V1}
    app.change("v2: new content")

    with Load(list(app.ports.values())) as load:
        released = app.invoke("release", "--version", V2)
    assert released.code == 0, released.text
    assert load.failures() == [], load.failures()[:5]
    assert set(load.everything()) == {V1, V2}
    assert load.last() == [V2, V2]
    assert f"released {V2} to local" in released.err
    print(f"\nrequests during the release: {len(load.everything())}")

    with Load(list(app.ports.values())) as load:
        rolled = app.invoke("rollback")
    assert rolled.code == 0, rolled.text
    assert load.failures() == [], load.failures()[:5]
    assert set(load.everything()) == {V1, V2}
    assert load.last() == [V1, V1]
    print(f"requests during the rollback: {len(load.everything())}")
    verbs = {c.split()[1] for c in commands(rolled.text, "docker")}
    assert "start" in verbs and not verbs & {"build", "push", "run"}, verbs  # kept revisions

    status = app.ok("status", "--json")
    data = json.loads(status.out)
    assert data["serving"] == V1
    record = app.record(V1)
    services = {s["name"]: s for s in data["services"]}
    assert sorted(services) == sorted(SERVICES)
    for name, service in services.items():
        digest = app.registry.digest(f"demo/{name}", V1)
        assert service["version"] == V1
        assert service["digest"] == digest == record["images"][name]["digest"]  # type: ignore[index]
        assert service["url"] == f"http://127.0.0.1:{app.ports[name]}"
        port = int(service["url"].rsplit(":", 1)[1])
        assert http_get(port) == (200, V1)
    assert [r["version"] for r in data["releases"][:3]] == [V1, V2, V1]


def test_failed_health_check_rolls_back_automatically(app: ReleaseApp) -> None:
    app.ok("release", "--version", V1)
    app.break_health()  # alpha's v2 image has no /healthz

    failed = app.invoke("release", "--version", V2)
    assert failed.code == 1, failed.text
    assert "Traceback" not in failed.text
    assert "alpha failed; its last log lines:" in failed.err
    assert f"{V2} starting, healthz: MISSING, token=***" in failed.err  # the log tail, masked
    assert app.canary not in failed.text
    error = [line for line in failed.err.splitlines() if line.startswith("error: release")]
    assert error and "rolled back" in error[0] and f"{V1} keeps serving" in error[0], failed.err
    assert "hint: " in failed.err

    assert app.versions() == {"alpha": V1, "beta": V1}
    record = app.record(V2)
    assert record["status"] == "failed" and record["verified"] is False
    last = app.audit()[-1]
    assert (last["action"], last["version"], last["result"]) == ("release", V2, "failed")
    running = app.containers(running_only=True)
    assert len(running) == 2 and all(f"-{V1}-" in name for name in running), running

    status = json.loads(app.ok("status", "--json").out)
    assert status["serving"] == V1
    assert {s["version"] for s in status["services"]} == {V1}
