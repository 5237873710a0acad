"""What a release demands of git before it changes anything, through `invoke release` and
`invoke build`: a clean tree in step with the remote, a tag checkout CI may release from, and
build contexts holding only files git tracks (so the tag can rebuild the release)."""

from __future__ import annotations

import pytest

from tests.conftest import Ran, git
from tests.integration.release_fixtures import ReleaseApp, commands, table

pytestmark = pytest.mark.integration

V1 = "v1.0.0"
PREFLIGHT = "preflight failed, nothing was changed: "


def state(app: ReleaseApp) -> dict[str, object]:
    """app.snapshot() without what any run writes: the command log and .shipyard/.gitignore."""
    snap = app.snapshot()
    files: dict[str, str] = snap["files"]  # type: ignore[assignment]
    written = (".shipyard/logs", ".shipyard/.gitignore")
    snap["files"] = {k: v for k, v in files.items()
                     if not any(k == w or k.startswith(w + "/") for w in written)
                     and k != ".shipyard"}
    git_state: dict[str, str] = snap["git"]  # type: ignore[assignment]
    git_state["status"] = "\n".join(  # the same files, as `git status --ignored` lists them
        line for line in git_state["status"].splitlines()
        if not any(w in line for w in written))
    return snap


def refused(app: ReleaseApp, *args: str) -> Ran:
    before = state(app)
    ran = app.invoke(*args)
    assert ran.code == 1, ran.text
    assert "Traceback" not in ran.text
    assert state(app) == before
    return ran


def test_release_dry_run_from_a_detached_tag_checkout(app: ReleaseApp) -> None:
    app.ok("tag", "--version", V1)
    head = app.repo.git("rev-parse", "HEAD")
    app.change("work after the release")
    app.repo.git("-c", "advice.detachedHead=false", "checkout", "-q", V1)  # as CI checks out
    before = state(app)

    dry = app.ok("release", "--version", V1, "--dry-run")
    git_row = table(dry.text, f"preflight {V1}")["git"]
    assert git_row == ["ok", f"{head[:12]} (detached at {V1}), on origin/main; "
                             f"tag {V1}: already on HEAD"]
    assert commands(dry.text, "git") == []  # the tag is there: nothing to create or push
    assert sum(c.split()[1] == "build" for c in commands(dry.text, "docker")) == 2
    assert f"that is the complete plan for {V1}" in dry.text
    after = state(app)
    files = after.pop("files")
    assert after == {k: v for k, v in before.items() if k != "files"}  # refs, tags, containers
    assert not any(name.startswith("releases") for name in files)  # type: ignore[attr-defined]


def test_release_from_a_detached_tag_checkout_verifies_the_tag_and_releases(
        app: ReleaseApp) -> None:
    """As Cloud Build releases: HEAD detached at the annotated tag, already on the remote,
    main moved on since. The release verifies the tag, neither re-tags nor pushes, and serves."""
    app.ok("tag", "--version", V1)
    tagged = app.repo.git("rev-parse", "HEAD")
    on_remote = app.remote_tag(V1)
    app.change("work after the release")
    app.repo.git("push", "-q", "origin", "main")
    app.repo.git("-c", "advice.detachedHead=false", "checkout", "-q", V1)

    ran = app.ok("release", "--version", V1)
    assert table(ran.text, f"preflight {V1}")["git"] == [
        "ok", f"{tagged[:12]} (detached at {V1}), on origin/main; tag {V1}: already on HEAD"]
    assert [c.split()[1] for c in commands(ran.text, "git")] == []  # no tag, no push
    assert app.remote_tag(V1) == on_remote
    assert app.versions() == {"alpha": V1, "beta": V1}
    assert app.record(V1)["commit"] == tagged
    assert app.repo.git("rev-parse", "--abbrev-ref", "HEAD") == "HEAD"  # still detached
    assert app.repo.git("status", "--porcelain") == ""


def test_release_dry_run_with_the_tag_only_on_the_remote_plans_a_fetch(app: ReleaseApp,
                                                                      tmp_path) -> None:
    other = tmp_path / "teammate"
    git(tmp_path, "clone", "-q", str(app.repo.remote), str(other))
    git(other, "tag", "-a", V1, "-m", "tagged by a teammate")
    git(other, "push", "-q", "origin", V1)
    dry = app.ok("release", "--version", V1, "--dry-run")
    assert table(dry.text, f"preflight {V1}")["git"][1].endswith(
        f"tag {V1}: on the remote, will be fetched")
    assert commands(dry.text, "git") == [f"git fetch --quiet origin refs/tags/{V1}:refs/tags/{V1}"]
    assert app.repo.git("tag", "-l") == ""


def test_release_from_a_detached_commit_is_refused(app: ReleaseApp) -> None:
    app.repo.git("checkout", "-q", "--detach", "HEAD")
    ran = refused(app, "release", "--version", V1)
    assert ran.line("error: ") == \
        PREFLIGHT + "git: HEAD is on a detached commit, not on the release branch main"
    assert ran.line("hint: ") == "git switch main (releases are tagged on main)"


def test_release_with_a_dirty_tree_is_refused(app: ReleaseApp) -> None:
    (app.work / "alpha" / "content.txt").write_text("edited, not committed\n")
    ran = refused(app, "release", "--version", V1)
    assert ran.line("error: ") == PREFLIGHT + "git: the work tree is not clean (alpha/content.txt)"
    assert ran.line("hint: ") == "commit or stash your changes, then rerun"


def test_release_behind_the_remote_is_refused(app: ReleaseApp, tmp_path) -> None:
    other = tmp_path / "teammate"
    git(tmp_path, "clone", "-q", str(app.repo.remote), str(other))
    (other / "beta" / "content.txt").write_text("a teammate's change\n")
    git(other, "commit", "-q", "-am", "teammate's change")
    git(other, "push", "-q", "origin", "main")
    app.repo.git("fetch", "-q", "origin")  # what the release's own fetch would change
    ran = refused(app, "release", "--version", V1)
    assert ran.line("error: ") == PREFLIGHT + "git: main is 1 commit(s) behind origin/main"
    assert ran.line("hint: ") == "git pull --ff-only origin main, check the result, then rerun"


def test_ignored_file_in_a_build_context_is_refused_until_dockerignored(app: ReleaseApp) -> None:
    (app.work / ".gitignore").write_text(".shipyard/\n.env\n")
    app.commit("ignore .env files")
    (app.work / "alpha" / ".env").write_text("LOCAL_ONLY=1\n")  # ignored: the tree is "clean"
    assert app.repo.git("status", "--porcelain") == ""
    found = ("build contexts hold files git does not track, which the tag would not "
             "reproduce (alpha: alpha/.env)")

    built = refused(app, "build", "--version", V1)
    assert built.line("error: ") == found
    assert built.line("hint: ").startswith("commit them, delete them, or exclude them in the "
                                           "context's .dockerignore")
    assert "docker build" not in built.text
    dry = refused(app, "release", "--version", V1, "--dry-run")
    assert dry.line("error: ") == f"{PREFLIGHT}git: {found}"

    (app.work / "alpha" / ".dockerignore").write_text(".env\n")
    app.commit("alpha: keep .env out of the image")
    app.ok("release", "--version", V1, "--dry-run")
    assert "alpha" in table(app.ok("build", "--version", V1).out, f"build {V1}")


def test_untracked_file_in_a_build_context_is_refused_by_build(app: ReleaseApp) -> None:
    (app.work / "beta" / "notes.txt").write_text("not committed\n")
    ran = refused(app, "build", "--version", V1)
    assert ran.line("error: ").endswith("(beta: beta/notes.txt)")
