"""The build stage against the FakeRunner: exact docker argv, reuse by inputs, --cache-from."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from shipyard.build import inputs
from shipyard.exec.tools import DockerClient
from shipyard.stages.build import build_images
from tests.unit.fake_app import COMMIT_TIME, REGISTRY, SHA, SOURCE, Fakes
from tests.unit.fakes import digest_of, option

IIDFILE = re.compile(re.escape(tempfile.gettempdir()) + r"/shipyard-build-[^/]+/iid")


def inputs_of(fakes: Fakes, name: str, args: dict[str, str]) -> str:
    service = next(s for s in fakes.config.services if s.name == name)
    return inputs.input_digest(service, args)


def api_argv(fakes: Fakes, version: str, iidfile: str, *, buildkit: bool = True,
             cache_from: tuple[str, ...] = ()) -> tuple[str, ...]:
    root = fakes.root
    digest = inputs_of(fakes, "api", {"FLAVOR": "slim", "VERSION": version})
    assert COMMIT_TIME == 1700000000  # the created label below is this time
    return ("docker", "build", "--file", f"{root}/api/Dockerfile",
            "--tag", f"{REGISTRY}/api:{version}",
            "--label", f"dev.shipyard.build.inputs={digest}",
            "--label", "dev.shipyard.project=demo",
            "--label", "dev.shipyard.service=api",
            "--label", "org.opencontainers.image.created=2023-11-14T22:13:20Z",
            "--label", f"org.opencontainers.image.revision={SHA}",
            "--label", f"org.opencontainers.image.source={SOURCE}",
            "--label", "org.opencontainers.image.title=api",
            "--label", f"org.opencontainers.image.version={version}",
            *(("--build-arg", "BUILDKIT_INLINE_CACHE=1") if buildkit else ()),
            "--build-arg", "FLAVOR=slim",
            "--build-arg", f"VERSION={version}",
            *[arg for ref in cache_from for arg in ("--cache-from", ref)],
            "--iidfile", iidfile,
            f"{root}/api")


def only_build(fakes: Fakes, service: str, since: int = 0) -> tuple[str, ...]:
    builds = [a for a in fakes.runner.ran("docker", "build", since=since)
              if f"{REGISTRY}/{service}:" in a[a.index("--tag") + 1]]
    assert len(builds) == 1, builds
    return builds[0]


def test_the_docker_build_argv_and_the_image_id_from_the_iidfile(fakes: Fakes) -> None:
    ctx = fakes.context("v1.0.0")
    results = build_images(ctx)

    argv = only_build(fakes, "api")
    iidfile = option(argv, "--iidfile")[0]
    assert IIDFILE.fullmatch(iidfile), iidfile
    assert argv == api_argv(fakes, "v1.0.0", iidfile)
    call = next(c for c in fakes.runner.executed if c.argv == argv)
    assert call.env_keys == ("DOCKER_BUILDKIT",)
    assert not Path(iidfile).exists()  # its temp dir is gone after the build

    built_id = fakes.engine.tags[fakes.ref("api")]
    assert ctx.record.images["api"]["image_id"] == built_id
    assert ctx.record.images["api"]["build"] == "built"
    assert [(r.service, r.image_id, r.action) for r in results] == [
        ("api", built_id, "built"), ("web", fakes.engine.tags[fakes.ref("web")], "built")]
    saved = ctx.record_of(ctx.release).images
    assert saved["api"]["image_id"] == built_id  # on disk too


def test_an_image_with_the_same_inputs_is_retagged_not_rebuilt(fakes: Fakes) -> None:
    build_images(fakes.context("v1.0.0"))
    web_v1 = fakes.engine.tags[fakes.ref("web")]
    since = len(fakes.runner.executed)

    ctx = fakes.context("v1.1.0")
    build_images(ctx)

    # web's inputs do not name the version; api's Dockerfile declares ARG VERSION.
    later = fakes.runner.argvs[since:]
    assert ("docker", "tag", web_v1, fakes.ref("web", "v1.1.0")) in later
    assert [a for a in fakes.runner.ran("docker", "build", since=since)
            if fakes.ref("web", "v1.1.0") in a] == []
    only_build(fakes, "api", since)
    assert ctx.record.images["web"]["image_id"] == web_v1
    assert ctx.record.images["web"]["build"] == "reused"
    assert ctx.record.images["api"]["build"] == "built"


def test_a_rerun_whose_tags_already_hold_the_images_runs_no_docker_change(
        fakes: Fakes) -> None:
    build_images(fakes.context("v1.0.0"))
    since = len(fakes.runner.executed)
    build_images(fakes.context("v1.0.0"))
    assert fakes.runner.ran("docker", "build", since=since) == []
    assert fakes.runner.ran("docker", "tag", since=since) == []


def seed_releases(fakes: Fakes, *versions: str) -> None:
    for version in versions:
        fakes.registry.store("api", version, digest_of("an older image", version),
                             {"dev.shipyard.build.inputs": f"sha256:other-{version}"})


def test_cache_from_is_the_newest_older_release_when_buildkit(fakes: Fakes) -> None:
    seed_releases(fakes, "v0.9.0", "v1.0.0", "v1.2.0", "not-a-version")
    build_images(fakes.context("v1.1.0", services=("api",)))
    argv = only_build(fakes, "api")
    assert argv == api_argv(fakes, "v1.1.0", option(argv, "--iidfile")[0],
                            cache_from=(f"{REGISTRY}/api:v1.0.0",))


def test_no_cache_from_and_no_inline_cache_with_the_legacy_builder(fakes: Fakes) -> None:
    fakes.docker = DockerClient("docker", "20.10.24", buildkit=False)
    seed_releases(fakes, "v1.0.0")
    build_images(fakes.context("v1.1.0", services=("api",)))
    argv = only_build(fakes, "api")
    assert argv == api_argv(fakes, "v1.1.0", option(argv, "--iidfile")[0], buildkit=False)
    call = next(c for c in fakes.runner.executed if c.argv == argv)
    assert call.env_keys == ("DOCKER_BUILDKIT",)
