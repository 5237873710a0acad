"""pipeline.release() on the fakes, in a real tmp git repo: order, resume, gate, dry run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import ShipyardError
from shipyard.pipeline.release import release
from shipyard.stages.deploy import PLANNED_DIGEST
from shipyard.state import audit
from tests.conftest import git
from tests.unit.fake_app import REGISTRY, Fakes, files_under
from tests.unit.fakes import matches, vuln

READ_ONLY = (("git", "fetch"), ("git", "ls-remote"), ("git", "log"), ("git", "remote", "get-url"),
             ("git", "ls-files"), ("trivy", "version"), ("docker", "images"),
             ("docker", "image", "inspect"))


def stage_of(event: tuple[str, Any]) -> str | None:
    kind, what = event
    if kind == "target":
        return str(what[0]) if what[0] in ("deploy", "verify") else None
    for prefix, stage in ((("git", "tag"), "tag"), (("git", "push"), "tag"),
                          (("docker", "build"), "build"), (("trivy", "image"), "scan"),
                          (("docker", "push"), "push")):
        if matches(what, prefix) and "--download-db-only" not in what:
            return stage
    return None


def stages(fakes: Fakes, since: int = 0) -> list[str]:
    order: list[str] = []
    for event in fakes.runner.timeline[since:]:
        stage = stage_of(event)
        if stage and (not order or order[-1] != stage):
            order.append(stage)
    return order


def refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(objectname) %(refname)")


def test_a_release_runs_tag_build_scan_push_deploy_verify_in_that_order(
        git_fakes: Fakes) -> None:
    fakes = git_fakes
    release(fakes.context("v1.0.0"))

    assert stages(fakes) == ["tag", "build", "scan", "push", "deploy", "verify"]
    head = git(fakes.root, "rev-parse", "HEAD")
    assert git(fakes.root, "rev-parse", "v1.0.0^{commit}") == head
    assert "refs/tags/v1.0.0" in refs(fakes.root.parent / "remote.git")
    assert fakes.registry.pushes == [fakes.ref("api"), fakes.ref("web")]
    record = fakes.context("v1.0.0").record.data
    assert (record["status"], record["verified"], record["commit"]) == ("released", True, head)
    assert {r.version for r in fakes.target.serving.values()} == {"v1.0.0"}
    assert audit.serving(fakes.root, "local") == "v1.0.0"


def test_a_rerun_after_a_failed_push_rebuilds_nothing_and_pushes_only_what_is_missing(
        git_fakes: Fakes) -> None:
    fakes = git_fakes
    web = ("docker", "push", fakes.ref("web"))
    fakes.runner.fail(web, "dial tcp 127.0.0.1:5999: connect: connection refused\n")
    with pytest.raises(ShipyardError) as caught:
        release(fakes.context("v1.0.0"))
    assert caught.value.message == ("failed: web (succeeded: api); web: command failed "
                                    f"(exit 1): docker push {fakes.ref('web')}")
    assert fakes.runner.ran(*web) == [web] * 4  # PUSH_RETRIES = 3
    assert "deploy" not in fakes.target.verbs
    assert fakes.registry.pushes == [fakes.ref("api")]

    fakes.runner.drop(web)  # the registry is back
    since = len(fakes.runner.executed)
    release(fakes.context("v1.0.0"))

    assert fakes.runner.ran("docker", "build", since=since) == []
    assert fakes.runner.ran("docker", "tag", since=since) == []
    assert fakes.runner.ran("docker", "push", since=since) == [web]
    assert fakes.runner.ran("git", "tag", since=since) == []
    assert fakes.registry.pushes == [fakes.ref("api"), fakes.ref("web")]
    assert fakes.target.verbs.count("deploy") == 1
    record = fakes.context("v1.0.0").record.data
    assert record["images"]["web"]["pinned"].startswith(f"{REGISTRY}/web@sha256:")
    assert (record["status"], record["verified"]) == ("released", True)


def test_a_failed_scan_gate_stops_the_release_before_any_push_or_deploy(
        git_fakes: Fakes) -> None:
    fakes = git_fakes
    fakes.trivy.findings["web"] = [vuln("CVE-2024-0001", "CRITICAL")]
    with pytest.raises(ShipyardError) as caught:
        release(fakes.context("v1.0.0"))
    assert caught.value.message == (
        "scan gate failed for web: 1 finding at or above CRITICAL, first web: CRITICAL vuln "
        "CVE-2024-0001 in openssl 3.0.1 (debian 12.8) (CVE-2024-0001 title)")

    assert stages(fakes) == ["tag", "build", "scan"]
    assert fakes.runner.ran("docker", "push") == []
    assert fakes.registry.pushes == []
    assert "deploy" not in fakes.target.verbs and "shift_traffic" not in fakes.target.verbs
    record = fakes.context("v1.0.0").record.data
    assert "push" not in record["stages"] and "status" not in record


def test_a_dry_run_only_queries_and_writes_nothing(git_fakes: Fakes) -> None:
    fakes = git_fakes
    remote = fakes.root.parent / "remote.git"
    before = files_under(fakes.root), refs(fakes.root), refs(remote)
    fakes.runner.dry_run = True
    release(fakes.context("v1.0.0"))

    assert (files_under(fakes.root), refs(fakes.root), refs(remote)) == before
    assert not (fakes.root / ".shipyard").exists()
    executed = fakes.runner.argvs
    assert ("docker", "images") in [a[:2] for a in executed]  # the plan still asks reality
    assert [a for a in executed if not any(matches(a, p) for p in READ_ONLY)] == []
    assert [(Path(a[0]).name, a[1]) for a in fakes.runner.planned] == [
        ("git", "tag"), ("git", "push"), ("docker", "build"), ("docker", "build"),
        ("trivy", "image"), ("trivy", "image"), ("trivy", "convert"),
        ("trivy", "image"), ("trivy", "convert"), ("docker", "push"), ("docker", "push")]
    assert fakes.engine.images == {} and fakes.registry.pushes == []
    # a target honours the dry run itself; `current` reads what serves (for "nothing to do")
    assert fakes.target.verbs == ["up", "current", "up", "deploy"]
    plan = fakes.target.calls[-1][1]
    assert plan.images() == {name: f"{REGISTRY}/{name}@{PLANNED_DIGEST}"
                             for name in ("api", "web")}
    assert fakes.target.serving == {}

