"""State that tells the truth after a crash, a second checkout or a stopped environment:
the holes found when shipyard was tried as a new user would (issue: the target seam).

Each test reproduces what was seen by hand on the old code, through the real CLI, with the
real Docker engine, registry and nginx; requests go to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import git, invoke
from tests.integration.release_fixtures import ReleaseApp, docker, http_get

pytestmark = pytest.mark.integration

V1, V2 = "v1.0.0", "v2.0.0"


def _status(app: ReleaseApp) -> dict[str, object]:
    ran = app.ok("status", "--json")
    return dict(json.loads(ran.out))


def test_status_reads_what_answers_not_the_last_deploy(app: ReleaseApp) -> None:
    app.ok("release", "--version", V1)
    assert _status(app)["serving"] == V1
    app.ok("local-down")
    data = _status(app)
    # The history still knows the last verified release, but nothing serves it any more.
    assert data["serving"] is None and data["last_verified"] == V1
    assert [s["version"] for s in data["services"]] == [None, None]  # type: ignore[union-attr]
    plain = app.ok("status").err + app.ok("status").out
    assert "serving nothing (last verified release: v1.0.0)" in plain


def test_a_lost_bookkeeping_write_cannot_fake_what_serves(app: ReleaseApp) -> None:
    """A kill -9 between nginx's reload and shipyard's own state file left the file naming
    v1's revisions while v2 served: `status` said v1, and `deploy --version v1.0.0` said
    "already serving", failed verification and marked v1's good record failed."""
    app.ok("release", "--version", V1)
    v1_state = (app.state / "local" / "proxy" / "upstreams.json").read_text()
    app.change("v2 content")
    app.ok("release", "--version", V2)
    # The crash: nginx serves v2, the state file still describes v1.
    (app.state / "local" / "proxy" / "upstreams.json").write_text(v1_state)
    assert app.versions() == {"alpha": V2, "beta": V2}
    assert _status(app)["serving"] == V2
    ran = app.ok("deploy", "--version", V1)
    assert "already serving" not in ran.text
    assert app.versions() == {"alpha": V1, "beta": V1}
    assert app.record(V1)["status"] == "released" and app.record(V1)["verified"] is True
    assert _status(app)["serving"] == V1


def test_a_second_checkout_building_the_same_version_cannot_ship_its_image(
        app: ReleaseApp) -> None:
    """The engine's version tag is shared by every checkout on the machine. A second checkout
    that builds the same version between this release's build and push moves the tag; the
    push, the scan and the deploy must still use the image this release built."""
    app.ok("build", "--version", V1)
    ours = {name: entry["image_id"] for name, entry in
            app.record(V1)["images"].items()}  # type: ignore[union-attr]
    other = app.work.parent / "other-checkout"
    shutil.copytree(app.work, other, symlinks=True, ignore=shutil.ignore_patterns(".shipyard"))
    (other / "alpha" / "content.txt").write_text("the other checkout's commit\n")
    git(other, "commit", "-q", "-am", "another commit, same version")
    try:
        built = invoke(other, "build", "--version", V1)
        assert built.code == 0, built.text
        ref = f"127.0.0.1:{app.registry.port}/demo/alpha:{V1}"
        moved = docker("image", "inspect", "--format", "{{.Id}}", ref).strip()
        assert moved != ours["alpha"]  # the tag now holds the other checkout's image
        app.ok("scan", "--version", V1)
        app.ok("push", "--version", V1)
        app.ok("deploy", "--version", V1)
    finally:
        shutil.rmtree(other / ".shipyard", ignore_errors=True)
    pushed = app.record(V1)["images"]["alpha"]["digest"]  # type: ignore[index]
    config = app.registry.config_digest("demo/alpha", str(pushed))
    assert config == ours["alpha"]
    assert http_get(app.ports["alpha"], "/content.txt")[1].splitlines()[-1] != \
        "the other checkout's commit"


def test_a_dry_run_on_a_fresh_checkout_writes_nothing_and_starts_nothing(
        app: ReleaseApp) -> None:
    app.registry.stop()
    try:
        ran = app.invoke("release", "--version", V1, "--dry-run")
    finally:
        app.registry.start()
    assert ran.code == 0, ran.text
    assert "[dry-run] docker-registry serve" in ran.out
    assert "[dry-run] that is the complete plan for v1.0.0 → local" in ran.err
    # Revision names need this checkout's settings key, which only a real deploy creates.
    assert "-xxxxxx" in ran.out
    assert not app.state.exists() or sorted(p.name for p in app.state.iterdir()) == ["secrets"]
    assert not (app.state / "local").exists()


def test_a_release_with_nothing_to_do_says_so_and_changes_nothing(app: ReleaseApp) -> None:
    app.ok("release", "--version", V1)
    log = app.state / "logs" / "commands.log"
    before = len(log.read_text().splitlines())
    again = app.ok("release", "--version", V1)
    assert "nothing to do: v1.0.0 already serves local, verified again" in again.err
    ran = [json.loads(line)["argv"] for line in log.read_text().splitlines()[before:]]
    verbs = ("docker build ", "docker push ", "docker run ", "docker tag ", "docker start ",
             "git tag --annotate", "git push ", "-s reload", "trivy image ")
    changing = [a for a in ran if any(verb in a for verb in verbs)
                and "--download-db-only" not in a]
    assert changing == [], changing  # no build, push, container, tag, reload or trivy scan
    assert [e["action"] for e in app.audit()][-2:] == ["release", "release"]
    app.change("v2 content")
    moved = app.ok("release", "--version", V2)
    assert "nothing to do" not in moved.err and "released v2.0.0 to local" in moved.err
