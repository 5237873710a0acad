"""roll_out against the FakeTarget: the plan it gets, verification, auto-rollback, rollback."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.errors import ShipyardError
from shipyard.pipeline.context import RunContext
from shipyard.stages.deploy import roll_out
from shipyard.state import audit
from shipyard.targets.base import DeployPlan, SecretBinding, ServicePlan
from shipyard.version import Version
from tests.unit.fake_app import REGISTRY, SECRET_VALUE, Fakes
from tests.unit.fakes import digest_of

V1, V2 = Version.parse("v1.0.0"), Version.parse("v1.1.0")


def pushed(fakes: Fakes, version: Version) -> RunContext:
    """A run of `version` whose record holds what push would have written."""
    ctx = fakes.context(str(version))
    for name in ("api", "web"):
        digest = fakes.registry.store(name, str(version), digest_of("image", name, str(version)))
        ctx.record.set_image(name, digest=digest, pinned=f"{REGISTRY}/{name}@{digest}")
    ctx.record.save()
    return ctx


def pinned(ctx: RunContext, name: str) -> str:
    return str(ctx.record.images[name]["pinned"])


def released(fakes: Fakes, version: Version) -> RunContext:
    ctx = pushed(fakes, version)
    roll_out(ctx, version, ctx.record, "release")
    return ctx


def history(fakes: Fakes) -> list[tuple[Any, ...]]:
    return [(e["version"], e["action"], e["verified"], e["replaced"])
            for e in audit.history(fakes.root, "local")]


def calls_since(fakes: Fakes, mark: int) -> list[tuple[Any, ...]]:
    return [(c[0], c[1].version if c[0] != "verify" else c[1]) if len(c) > 1 else c
            for c in fakes.target.calls[mark:]]


def test_the_target_gets_pinned_images_and_secret_bindings_never_values(fakes: Fakes) -> None:
    ctx = released(fakes, V1)

    assert fakes.target.verbs == ["deploy", "verify"]
    plan = fakes.target.calls[0][1]
    assert plan == DeployPlan(V1, (
        ServicePlan("api", pinned(ctx, "api"), (SecretBinding("API_TOKEN", "API_TOKEN", "7"),)),
        ServicePlan("web", pinned(ctx, "web"), ()),
    ))
    assert pinned(ctx, "api") == f"{REGISTRY}/api@{fakes.registry.tags_of['api']['v1.0.0']}"
    assert SECRET_VALUE not in repr(fakes.target.calls)

    saved = ctx.record_of(V1)
    assert saved.data["status"] == "released" and saved.data["verified"] is True
    assert saved.data["secrets"] == {
        "api": [{"env": "API_TOKEN", "secret": "API_TOKEN", "version": "7"}], "web": []}
    assert SECRET_VALUE not in saved.path.read_text()
    assert [r["version"] for r in saved.data["revisions"]] == ["v1.0.0", "v1.0.0"]
    assert history(fakes) == [("v1.0.0", "release", True, None)]


def test_a_failed_verification_puts_the_previous_release_back(fakes: Fakes) -> None:
    released(fakes, V1)
    ctx = pushed(fakes, V2)
    fakes.target.fail_verify.add("v1.1.0")
    mark = len(fakes.target.calls)
    with pytest.raises(ShipyardError) as caught:
        roll_out(ctx, V2, ctx.record, "release")

    assert caught.value.message == (
        "release v1.1.0 failed: api: http://fake.test/api/version answers 200 "
        "'v0.0.0-broken', not v1.1.0; rolled back: v1.0.0 serves again")
    assert calls_since(fakes, mark) == [
        ("deploy", V2), ("verify", V2), ("current",), ("shift_traffic", V1), ("verify", V1)]
    assert {r.version for r in fakes.target.serving.values()} == {"v1.0.0"}
    assert history(fakes) == [("v1.0.0", "release", True, None),
                              ("v1.0.0", "auto-rollback", True, "v1.1.0")]
    failed = ctx.record_of(V2).data
    assert (failed["status"], failed["verified"]) == ("failed", False)
    assert failed["stages"]["verify"]["status"] == "failed"


def test_without_kept_revisions_the_previous_release_is_redeployed_with_its_secrets(
        fakes: Fakes) -> None:
    first = released(fakes, V1)
    fakes.secrets.version = "8"  # the secret got a new version since v1.0.0 was released
    ctx = pushed(fakes, V2)
    fakes.target.fail_verify.add("v1.1.0")
    fakes.target.keeps_revisions = False
    mark = len(fakes.target.calls)
    with pytest.raises(ShipyardError, match="; rolled back: v1.0.0 serves again$"):
        roll_out(ctx, V2, ctx.record, "release")

    assert calls_since(fakes, mark) == [
        ("deploy", V2), ("verify", V2), ("current",), ("shift_traffic", V1), ("deploy", V1),
        ("verify", V1)]
    new, back = fakes.target.calls[mark][1], fakes.target.calls[mark + 4][1]
    assert new.services[0].secrets == (SecretBinding("API_TOKEN", "API_TOKEN", "8"),)
    assert back == DeployPlan(V1, (
        ServicePlan("api", pinned(first, "api"), (SecretBinding("API_TOKEN", "API_TOKEN", "7"),)),
        ServicePlan("web", pinned(first, "web"), ()),
    ))


def test_a_later_good_deploy_of_the_failed_version_says_released_and_verified(
        fakes: Fakes) -> None:
    released(fakes, V1)
    ctx = pushed(fakes, V2)
    fakes.target.fail_verify.add("v1.1.0")
    with pytest.raises(ShipyardError):
        roll_out(ctx, V2, ctx.record, "release")
    fakes.target.fail_verify.clear()  # fixed outside (say, a dependency came back)

    again = fakes.context(str(V2))
    roll_out(again, V2, again.record, "deploy")

    data = again.record_of(V2).data
    assert (data["status"], data["verified"], data["last_action"]) == ("released", True, "deploy")
    assert history(fakes)[-1] == ("v1.1.0", "deploy", True, "v1.0.0")


def test_a_failed_deploy_switches_nothing_and_rolls_nothing_back(
        fakes: Fakes, capsys: pytest.CaptureFixture[str]) -> None:
    released(fakes, V1)
    ctx = pushed(fakes, V2)
    fakes.target.fail_deploy.add("v1.1.0")
    mark = len(fakes.target.calls)
    with pytest.raises(ShipyardError) as caught:
        roll_out(ctx, V2, ctx.record, "release")

    assert caught.value.message == ("release v1.1.0 failed: api: revision v1.1.0 did not become "
                                    "healthy; nothing was switched: v1.0.0 keeps serving")
    assert calls_since(fakes, mark) == [("deploy", V2), ("current",)]
    assert "error: api failed; its last log lines:\n  | panic: boom\n" in capsys.readouterr().err
    assert history(fakes) == [("v1.0.0", "release", True, None)]
    assert (ctx.record_of(V2).data["status"], ctx.record_of(V2).data["verified"]) == (
        "failed", False)


def test_a_rollback_moves_traffic_to_the_kept_revisions_first(fakes: Fakes) -> None:
    first = released(fakes, V1)
    released(fakes, V2)
    recorded = first.record_of(V1).data["revisions"]
    mark = len(fakes.target.calls)
    back = fakes.context(str(V1))
    roll_out(back, V1, back.record, "rollback")

    assert calls_since(fakes, mark) == [("shift_traffic", V1), ("verify", V1)]
    given = fakes.target.calls[mark][2]
    assert {name: r.to_json() for name, r in given.items()} == {r["service"]: r for r in recorded}
    assert history(fakes)[-1] == ("v1.0.0", "rollback", True, "v1.1.0")


def test_a_rollback_deploys_when_the_target_has_no_revisions_to_shift_to(fakes: Fakes) -> None:
    released(fakes, V1)
    released(fakes, V2)
    fakes.target.keeps_revisions = False
    mark = len(fakes.target.calls)
    back = fakes.context(str(V1))
    roll_out(back, V1, back.record, "rollback")

    assert calls_since(fakes, mark) == [("shift_traffic", V1), ("deploy", V1), ("verify", V1)]
    assert {r.version for r in fakes.target.serving.values()} == {"v1.0.0"}
