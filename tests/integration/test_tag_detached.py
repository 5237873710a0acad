"""`invoke tag` from a detached HEAD: how CI (Cloud Build) checks out a release tag.

Accepted only at the annotated tag being released, on a commit of the remote's release
branch, with a clean tree; then tagging is a no-op. Any other detached HEAD is refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import AppRepo, git, invoke

pytestmark = pytest.mark.integration
DETACHED = "HEAD is on a detached commit, not on the release branch main"


def released(repo: AppRepo, version: str = "v1.0.0") -> str:
    """Tag VERSION from main as a user would, then move main on by a commit."""
    assert invoke(repo.work, "tag", "--version", version).code == 0
    tagged = repo.git("rev-parse", "HEAD")
    repo.commit("after-release.txt")
    repo.git("push", "-q", "origin", "main")
    return tagged


def checkout(repo: AppRepo, tmp_path: Path, ref: str, *shallow: str) -> Path:
    """A fresh clone of the remote with REF checked out detached (shallow: clone options)."""
    clone = tmp_path / "ci"
    if shallow:
        git(tmp_path, "clone", "-q", *shallow, "--branch", ref, f"file://{repo.remote}",
            str(clone))
    else:
        git(tmp_path, "clone", "-q", f"file://{repo.remote}", str(clone))
        git(clone, "-c", "advice.detachedHead=false", "checkout", "-q", ref)
    assert git(clone, "rev-parse", "--abbrev-ref", "HEAD") == "HEAD"  # detached
    return clone


@pytest.mark.parametrize("shallow", [(), ("--depth", "1")], ids=["full", "shallow"])
def test_detached_at_the_release_tag_is_a_noop(app_repo: AppRepo, tmp_path: Path,
                                               shallow: tuple[str, ...]) -> None:
    tagged = released(app_repo)
    clone = checkout(app_repo, tmp_path, "v1.0.0", *shallow)
    before = app_repo.remote_refs()

    ran = invoke(clone, "tag", "--version", "v1.0.0")
    assert ran.code == 0, ran.text
    assert ran.err.strip() == f"v1.0.0 is already an annotated tag on {tagged[:12]}: nothing to do"
    assert app_repo.remote_refs() == before


def test_detached_elsewhere_is_refused(app_repo: AppRepo, tmp_path: Path) -> None:
    released(app_repo)
    clone = checkout(app_repo, tmp_path, "origin/main")  # on the branch's commit, no tag there
    for version in ("v1.1.0", "v1.0.0"):  # no such tag / a tag on another commit
        ran = invoke(clone, "tag", "--version", version)
        assert ran.code == 1, ran.text
        assert ran.line("error: ").startswith(DETACHED if version == "v1.1.0" else
                                              "tag v1.0.0 already exists locally and points to")
    assert git(clone, "tag", "-l") == "v1.0.0"


def test_detached_at_another_release_tag_is_refused(app_repo: AppRepo, tmp_path: Path) -> None:
    released(app_repo)
    clone = checkout(app_repo, tmp_path, "v1.0.0")
    ran = invoke(clone, "tag", "--version", "v1.0.1")
    assert ran.code == 1 and ran.line("error: ") == DETACHED
    assert "v1.0.1" not in app_repo.remote_refs()


def test_detached_at_a_tag_off_the_release_branch_is_refused(app_repo: AppRepo,
                                                              tmp_path: Path) -> None:
    app_repo.git("switch", "-q", "-c", "feature/x")
    sha = app_repo.commit("feature.txt")
    app_repo.git("tag", "-a", "v2.0.0", "-m", "tagged on a feature branch")
    app_repo.git("push", "-q", "origin", "feature/x", "v2.0.0")
    clone = checkout(app_repo, tmp_path, "v2.0.0")
    ran = invoke(clone, "tag", "--version", "v2.0.0")
    assert ran.code == 1, ran.text
    assert ran.line("error: ") == \
        f"HEAD is detached at v2.0.0 ({sha[:12]}), which is not on origin/main"


def test_detached_at_a_lightweight_tag_is_refused(app_repo: AppRepo, tmp_path: Path) -> None:
    app_repo.git("push", "-q", "origin", "HEAD:refs/tags/v1.0.0")
    clone = checkout(app_repo, tmp_path, "v1.0.0")
    ran = invoke(clone, "tag", "--version", "v1.0.0")
    assert ran.code == 1
    assert ran.line("error: ") == \
        "tag v1.0.0 exists locally as a lightweight tag (release tags are annotated)"


def test_detached_at_the_tag_with_a_dirty_tree_is_refused(app_repo: AppRepo,
                                                           tmp_path: Path) -> None:
    released(app_repo)
    clone = checkout(app_repo, tmp_path, "v1.0.0")
    (clone / "web" / "Dockerfile").write_text("FROM scratch\nLABEL local=change\n")
    ran = invoke(clone, "tag", "--version", "v1.0.0")
    assert ran.code == 1 and ran.line("error: ") == "the work tree is not clean (web/Dockerfile)"


def test_detached_at_the_tag_without_the_remote_is_refused(app_repo: AppRepo,
                                                            tmp_path: Path) -> None:
    released(app_repo)
    clone = checkout(app_repo, tmp_path, "v1.0.0")
    ran = invoke(clone, "tag", "--version", "v1.0.0", "--no-push")
    assert ran.code == 1
    assert ran.line("error: ").startswith("HEAD is detached at v1.0.0: without the remote")
