"""`invoke release / rollback / status` end to end, as a user runs them: zero failed requests
while traffic moves, a failed health check that switches nothing, and an automatic rollback when
verification fails after the switch (dry runs: test_dry_run.py).

Real git (bare remote), Docker engine, registry, trivy and nginx; requests to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.release_fixtures import (
    SERVICES,
    Load,
    ReleaseApp,
    commands,
    docker,
    http_get,
)

pytestmark = pytest.mark.integration

V1, V2 = "v1.0.0", "v2.0.0"


def reloads(ran_text: str) -> list[str]:
    return [c for c in commands(ran_text, "nginx") if c.endswith("-s reload")]


def test_release_and_rollback_fail_no_request(app: ReleaseApp) -> None:
    app.ok("release", "--version", V1)
    assert app.versions() == {"alpha": V1, "beta": V1}
    app.change("v2: new content")

    with Load(list(app.ports.values()), slow=2) as load:
        released = app.invoke("release", "--version", V2)
    assert released.code == 0, released.text
    load.check_switch(V1, V2)
    assert load.last() == [V2, V2]
    assert len(reloads(released.text)) == 1, released.text  # both services, one reload
    assert f"released {V2} to local" in released.err
    print(f"\nrequests during the release: {len(load.answers)} ({load.rate():.0f}/s)")

    with Load(list(app.ports.values()), slow=2) as load:
        rolled = app.invoke("rollback")
    assert rolled.code == 0, rolled.text
    load.check_switch(V2, V1)
    assert load.last() == [V1, V1]
    assert len(reloads(rolled.text)) == 1, rolled.text
    print(f"requests during the rollback: {len(load.answers)} ({load.rate():.0f}/s)")
    verbs = {c.split()[1] for c in commands(rolled.text, "docker")}
    # v1's paused standby resumed, v2 paused in its place: nothing started, stopped or built
    assert verbs == {"unpause", "pause"}, verbs
    assert sorted(app.containers(paused_only=True)) == sorted(
        c for c in app.containers() if f"-{V2}-" in c)

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


def started_at(names: list[str]) -> dict[str, str]:
    return {n: docker("inspect", "--format", "{{.State.StartedAt}}", n).strip() for n in names}


def test_failed_health_check_switches_nothing(app: ReleaseApp) -> None:
    """A new revision that fails its health check is refused before traffic moves: the
    previous release serves throughout (no request fails, none answers anything else), from
    the very containers that served it, and no rollback ever runs (none is needed)."""
    app.ok("release", "--version", V1)
    serving = app.containers(running_only=True)
    before = started_at(serving)
    history = app.history()
    app.break_health()  # alpha's v2 image has no /healthz

    with Load(list(app.ports.values())) as load:
        failed = app.invoke("release", "--version", V2)
    assert failed.code == 1, failed.text
    assert "Traceback" not in failed.text
    assert "alpha failed; its last log lines:" in failed.err
    assert f"{V2} starting, healthz: MISSING, token=***" in failed.err  # the log tail, masked
    assert app.canary not in failed.text
    errors = [line for line in failed.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2 and errors[0] == "error: alpha failed; its last log lines:", errors
    assert re.fullmatch(
        rf"error: release {V2} failed: alpha: new revision shipyard-demo-local-alpha-{V2}-"
        rf"[0-9a-f]{{12}}-[0-9a-f]{{6}} failed its health check /healthz within 5s "
        rf"\(last answer: HTTP 404\); nothing was switched: {V1} keeps serving",
        errors[1]), errors[1]
    assert ("hint: traffic was not switched; the serving revisions are untouched. Fix the "
            "image and release a new version") in failed.err

    assert load.failures() == [] and load.crashed == [], load.failures()[:5]
    assert set(load.everything()) == {V1}
    assert "rolling back" not in failed.err and reloads(failed.text) == []
    assert app.versions() == {"alpha": V1, "beta": V1}
    assert app.containers(running_only=True) == serving
    assert started_at(serving) == before  # not restarted either
    assert app.history() == history  # no deploy, no auto-rollback recorded
    record = app.record(V2)
    assert record["status"] == "failed" and record["verified"] is False
    last = app.audit()[-1]
    assert (last["action"], last["version"], last["result"]) == ("release", V2, "failed")
    assert all(f"-{V2}-" not in name for name in app.containers())  # v2 revisions removed

    status = json.loads(app.ok("status", "--json").out)
    assert status["serving"] == V1
    assert {s["version"] for s in status["services"]} == {V1}


def test_verification_failing_after_the_switch_rolls_back(app: ReleaseApp) -> None:
    """alpha's v2 is healthy and answers v2 on its own port (so it passes every check before
    the switch), then its version path goes stale: verify, through the proxy after the
    switch, fails. The previous release must be put back in service (its paused revisions
    resumed), recorded as an auto-rollback, and the failed release recorded as such."""
    app.ok("release", "--version", V1)
    v1_names = app.containers(running_only=True)
    app.knobs("alpha: a version path that goes stale", alpha={"STALE_VERSION": "yes"})

    failed = app.invoke("release", "--version", V2)
    assert failed.code == 1, failed.text
    assert "Traceback" not in failed.text
    assert "alpha: started a new container" in failed.err  # it passed its checks
    assert "traffic switched: alpha → shipyard-demo-local-alpha-v2.0.0-" in failed.err
    assert f"rolling back to {V1}, the last good release" in failed.err
    errors = [line for line in failed.err.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: release {V2} failed: alpha: http://127.0.0.1:{app.ports['alpha']}"
        f"/cgi-bin/version answers 200 'v0.0.0-stale', not {V2}; rolled back: {V1} serves "
        "again"], failed.err
    assert "hint: fix alpha, then release a new version" in failed.err
    assert len(reloads(failed.text)) == 2  # the switch to v2, and the one back

    assert app.versions() == {"alpha": V1, "beta": V1}
    assert http_get(app.ports["alpha"], "/cgi-bin/version") == (200, V1)
    assert app.containers(running_only=True) == v1_names  # the kept v1 revisions, resumed
    entries = app.history()
    assert [(e["version"], e["action"], e["verified"], e["replaced"]) for e in entries] == [
        (V1, "release", True, None), (V1, "auto-rollback", True, V2)]
    record = app.record(V2)
    assert (record["status"], record["verified"]) == ("failed", False)
    assert app.record(V1)["verified"] is True
    last = app.audit()[-1]
    assert (last["action"], last["version"], last["result"]) == ("release", V2, "failed")
    status = json.loads(app.ok("status", "--json").out)
    assert status["serving"] == V1
    assert {s["version"] for s in status["services"]} == {V1}
