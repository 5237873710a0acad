"""The push stage against the FakeRunner and FakeRegistry: what is pushed is what was built."""

from __future__ import annotations

import pytest

from shipyard.errors import ShipyardError
from shipyard.stages.build import build_images
from shipyard.stages.push import push_images
from tests.unit.fake_app import REGISTRY, Fakes
from tests.unit.fakes import Call, Reply, digest_of


def built(fakes: Fakes, version: str = "v1.0.0") -> dict[str, str]:
    """Build the release; service → the image id its record holds."""
    ctx = fakes.context(version)
    build_images(ctx)
    return {name: str(entry["image_id"]) for name, entry in ctx.record.images.items()}


def test_each_image_is_pushed_and_pinned_by_the_digest_the_registry_reports(
        fakes: Fakes) -> None:
    ids = built(fakes)
    token = "fake-registry-token-1234"
    fakes.registry.login = {"DOCKER_CONFIG": "/fake/docker", "SHIPYARD_REGISTRY_TOKEN": token}
    since = len(fakes.runner.executed)
    ctx = fakes.context()  # a later task: the record is read from disk
    done = push_images(ctx)

    assert fakes.runner.argvs[since:] == [
        ("docker", "image", "inspect", ids["api"], ids["web"]),
        ("docker", "push", fakes.ref("api")),
        ("docker", "push", fakes.ref("web")),
    ]
    assert fakes.target.calls == [("up", False)]  # the registry only, nothing that serves
    login = ("DOCKER_CONFIG", "SHIPYARD_REGISTRY_TOKEN")  # the registry's, names only
    assert [c.env_keys for c in fakes.runner.executed[since:]] == [(), login, login]
    assert token not in repr(fakes.runner.executed)
    for name in ("api", "web"):
        digest = fakes.registry.tags_of[name]["v1.0.0"]
        assert fakes.registry.config_of[digest] == ids[name]
        assert ctx.record.images[name]["digest"] == digest
        assert ctx.record.images[name]["pinned"] == f"{REGISTRY}/{name}@{digest}"
    assert ctx.record_of(ctx.release).images["api"]["pinned"].startswith(f"{REGISTRY}/api@sha256:")
    assert [(p.service, p.action) for p in done] == [("api", "pushed"), ("web", "pushed")]


def test_a_moved_tag_is_pointed_back_at_the_recorded_image_before_the_push(
        fakes: Fakes) -> None:
    ids = built(fakes)
    # Another checkout built the same version since: the tag now names its image.
    other = fakes.engine.add({"dev.shipyard.service": "api"}, fakes.ref("api"), seed="other")
    since = len(fakes.runner.executed)
    push_images(fakes.context())

    assert fakes.runner.argvs[since:] == [
        ("docker", "image", "inspect", ids["api"], ids["web"]),
        ("docker", "tag", ids["api"], fakes.ref("api")),
        ("docker", "push", fakes.ref("api")),
        ("docker", "push", fakes.ref("web")),
    ]
    assert other != ids["api"]
    assert fakes.registry.config_digest("api", "v1.0.0") == ids["api"]


def test_a_version_already_in_the_registry_with_the_same_image_is_skipped(
        fakes: Fakes) -> None:
    ids = built(fakes)
    present = fakes.registry.store("api", "v1.0.0", ids["api"])
    ctx = fakes.context()
    done = push_images(ctx)

    assert fakes.runner.ran("docker", "push") == [("docker", "push", fakes.ref("web"))]
    assert fakes.runner.ran("docker", "tag") == []
    assert fakes.registry.pushes == [fakes.ref("web")]
    assert ctx.record.images["api"]["pinned"] == f"{REGISTRY}/api@{present}"
    assert [(p.service, p.action) for p in done] == [("api", "skipped"), ("web", "pushed")]


def test_a_version_in_the_registry_as_another_image_is_refused_and_not_pushed(
        fakes: Fakes) -> None:
    built(fakes)
    present = fakes.registry.store("api", "v1.0.0", digest_of("someone else's image"))
    ctx = fakes.context()
    with pytest.raises(ShipyardError) as caught:
        push_images(ctx)

    assert caught.value.message == (
        f"failed: api (succeeded: web); api: {fakes.ref('api')} is already in the registry "
        f"as {present}, and this release's image is different")
    assert caught.value.hint == "a released version is never overwritten: release a new version"
    assert fakes.registry.pushes == [fakes.ref("web")]
    assert [a for a in fakes.runner.argvs if fakes.ref("api") in a
            and a[1] in ("push", "tag")] == []
    assert fakes.registry.tags_of["api"] == {"v1.0.0": present}
    assert "pinned" not in ctx.record_of(ctx.release).images["api"]


def test_a_registry_that_holds_another_image_after_the_push_is_an_error(
        fakes: Fakes) -> None:
    ids = built(fakes)
    ref = fakes.ref("api")

    def raced(call: Call) -> Reply | None:
        # Someone pushed another image under the same tag while ours was going up.
        fakes.registry.pushes.append(ref)
        fakes.registry.store("api", "v1.0.0", digest_of("the racing image"))
        return Reply()

    fakes.runner.on(("docker", "push", ref), raced)
    ctx = fakes.context()
    with pytest.raises(ShipyardError) as caught:
        push_images(ctx)

    assert caught.value.message == (
        f"failed: api (succeeded: web); api: the registry holds another image as {ref} than "
        f"this release built ({ids['api'][:19]}): the tag was moved during the push")
    assert "pinned" not in ctx.record_of(ctx.release).images["api"]
    assert ctx.record_of(ctx.release).data["stages"]["push"]["status"] == "failed"
