"""`invoke tag` against a real git repo with a bare remote."""

from __future__ import annotations

import pytest

from tests.conftest import AppRepo, git, invoke

pytestmark = pytest.mark.integration


def tag_object_type(repo: AppRepo, where: str, tag: str) -> str:
    path = repo.work if where == "local" else repo.remote
    return git(path, "cat-file", "-t", f"refs/tags/{tag}")


def test_creates_pushes_annotated_tag_and_rerun_is_noop(app_repo: AppRepo) -> None:
    head = app_repo.git("rev-parse", "HEAD")
    ran = invoke(app_repo.work, "tag", "--version", "v1.1.0", "--message", "Release: video")
    assert ran.code == 0, ran.text
    assert tag_object_type(app_repo, "remote", "v1.1.0") == "tag"  # annotated, on the remote
    assert git(app_repo.remote, "rev-parse", "v1.1.0^{commit}") == head
    assert git(app_repo.remote, "tag", "-l", "--format=%(contents:subject)", "v1.1.0") == \
        "Release: video"
    before = app_repo.remote_refs()

    again = invoke(app_repo.work, "tag", "--version", "v1.1.0")
    assert again.code == 0, again.text
    assert "nothing to do" in again.err
    assert app_repo.remote_refs() == before


def test_default_message_comes_from_config(app_repo: AppRepo) -> None:
    assert invoke(app_repo.work, "tag", "--version", "v2.0.0-rc.1").code == 0
    assert app_repo.git("tag", "-l", "--format=%(contents:subject)", "v2.0.0-rc.1") == \
        "Release v2.0.0-rc.1"


def test_no_push_tags_locally_only(app_repo: AppRepo) -> None:
    ran = invoke(app_repo.work, "tag", "--version", "v1.0.0", "--no-push")
    assert ran.code == 0, ran.text
    assert tag_object_type(app_repo, "local", "v1.0.0") == "tag"
    assert "v1.0.0" not in app_repo.remote_refs()


def test_tag_on_another_commit_is_refused(app_repo: AppRepo) -> None:
    old = app_repo.git("rev-parse", "HEAD")
    assert invoke(app_repo.work, "tag", "--version", "v1.0.0").code == 0
    app_repo.commit("later.txt")
    app_repo.git("push", "-q", "origin", "main")
    before = app_repo.remote_refs()

    ran = invoke(app_repo.work, "tag", "--version", "v1.0.0")
    assert ran.code == 1
    assert f"points to {old[:12]}" in ran.err
    assert "hint:" in ran.err and "Traceback" not in ran.text
    assert app_repo.remote_refs() == before


def test_tag_only_on_remote_at_another_commit_is_refused(app_repo: AppRepo, tmp_path) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(app_repo.remote), str(other))
    git(other, "tag", "-a", "v3.0.0", "-m", "someone else")
    git(other, "push", "-q", "origin", "v3.0.0")
    app_repo.commit("mine.txt")
    app_repo.git("push", "-q", "origin", "main")

    ran = invoke(app_repo.work, "tag", "--version", "v3.0.0")
    assert ran.code == 1
    assert "on origin" in ran.err and "points to" in ran.err
    assert "v3.0.0" not in app_repo.git("tag", "-l")


def test_dirty_tree_is_refused_before_anything(app_repo: AppRepo) -> None:
    (app_repo.work / "web" / "Dockerfile").write_text("FROM scratch\nLABEL x=y\n")
    before = app_repo.remote_refs()
    ran = invoke(app_repo.work, "tag", "--version", "v1.0.0")
    assert ran.code == 1
    assert "not clean" in ran.err and "web/Dockerfile" in ran.err
    assert app_repo.git("tag", "-l") == ""
    assert app_repo.remote_refs() == before


def test_untracked_file_counts_as_dirty(app_repo: AppRepo) -> None:
    (app_repo.work / "stray.txt").write_text("x")
    ran = invoke(app_repo.work, "tag", "--version", "v1.0.0")
    assert ran.code == 1 and "stray.txt" in ran.err


def test_behind_remote_is_refused(app_repo: AppRepo, tmp_path) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(app_repo.remote), str(other))
    (other / "new.txt").write_text("new")
    git(other, "add", "new.txt")
    git(other, "commit", "-q", "-m", "teammate's change")
    git(other, "push", "-q", "origin", "main")
    before = app_repo.remote_refs()

    ran = invoke(app_repo.work, "tag", "--version", "v1.0.0")
    assert ran.code == 1
    assert "1 commit(s) behind origin/main" in ran.err
    assert "git pull --ff-only" in ran.err
    assert app_repo.git("tag", "-l") == ""
    assert app_repo.remote_refs() == before


def test_unpushed_release_commit_is_refused(app_repo: AppRepo) -> None:
    app_repo.commit("local-only.txt")
    ran = invoke(app_repo.work, "tag", "--version", "v1.0.0")
    assert ran.code == 1 and "ahead of origin/main" in ran.err


def test_not_on_release_branch_is_refused(app_repo: AppRepo) -> None:
    app_repo.git("switch", "-q", "-c", "feature/x")
    ran = invoke(app_repo.work, "tag", "--version", "v1.0.0")
    assert ran.code == 1 and "not on the release branch main" in ran.err


def test_dry_run_changes_no_ref_anywhere(app_repo: AppRepo) -> None:
    before_remote = app_repo.remote_refs()
    before_local = app_repo.git("for-each-ref")
    ran = invoke(app_repo.work, "tag", "--version", "v1.1.0", "--dry-run")
    assert ran.code == 0, ran.text
    assert "[dry-run] git tag --annotate '--message=Release v1.1.0' v1.1.0 HEAD" in ran.out
    assert "[dry-run] git push origin refs/tags/v1.1.0:refs/tags/v1.1.0" in ran.out
    assert app_repo.remote_refs() == before_remote
    assert app_repo.git("for-each-ref") == before_local


def test_invoke_core_dry_flag_means_dry_run(app_repo: AppRepo) -> None:
    before = app_repo.remote_refs()
    ran = invoke(app_repo.work, "--dry", "tag", "--version", "v1.1.0")
    assert ran.code == 0, ran.text
    assert "[dry-run] git push" in ran.out
    assert app_repo.remote_refs() == before and app_repo.git("tag", "-l") == ""


@pytest.mark.parametrize("bad", ["v1.0.0;rm -rf /", "$(id)", "`id`", "v1.0.0\nv2.0.0",
                                 "v01.0.0", "-x", "v1.0", "1.0.0"])
def test_hostile_version_exits_2_and_runs_nothing(app_repo: AppRepo, bad: str) -> None:
    before = app_repo.remote_refs()
    ran = invoke(app_repo.work, "tag", f"--version={bad}")
    assert ran.code == 2, ran.text
    assert ran.err.startswith("error: invalid version") and "hint:" in ran.err
    assert not (app_repo.work / ".shipyard").exists()  # nothing ran, nothing was logged
    assert app_repo.remote_refs() == before


def test_unknown_remote_is_bad_input(app_repo: AppRepo) -> None:
    ran = invoke(app_repo.work, "tag", "--version", "v1.0.0", "--remote", "upstream")
    assert ran.code == 2 and "unknown git remote 'upstream'" in ran.err


def test_outside_a_git_work_tree(tmp_path, app_repo: AppRepo) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("shipyard.toml", "tasks.py"):
        (plain / name).write_text((app_repo.work / name).read_text())
    (plain / "web").mkdir()
    (plain / "web" / "Dockerfile").write_text("FROM scratch\n")
    ran = invoke(plain, "tag", "--version", "v1.0.0")
    assert ran.code == 2 and "not inside a git work tree" in ran.err


def test_tag_only_on_the_remote_at_head_is_fetched_not_recreated(app_repo: AppRepo,
                                                                 tmp_path) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(app_repo.remote), str(other))
    git(other, "tag", "-a", "v1.2.0", "-m", "tagged by a teammate")
    git(other, "push", "-q", "origin", "v1.2.0")
    tag_object = git(app_repo.remote, "rev-parse", "refs/tags/v1.2.0")
    before = app_repo.remote_refs()

    ran = invoke(app_repo.work, "tag", "--version", "v1.2.0")
    assert ran.code == 0, ran.text
    assert app_repo.git("rev-parse", "refs/tags/v1.2.0") == tag_object  # the same tag object
    assert app_repo.git("tag", "-l", "--format=%(contents:subject)", "v1.2.0") == \
        "tagged by a teammate"
    assert "git tag" not in ran.err and "git push" not in ran.err
    assert ran.err.strip().endswith("on origin: fetched it")
    assert app_repo.remote_refs() == before


def test_lightweight_tag_at_head_is_refused_locally(app_repo: AppRepo) -> None:
    app_repo.git("tag", "v1.0.0")
    before = app_repo.remote_refs()
    ran = invoke(app_repo.work, "tag", "--version", "v1.0.0")
    assert ran.code == 1, ran.text
    assert ran.line("error: ") == \
        "tag v1.0.0 exists locally as a lightweight tag (release tags are annotated)"
    assert ran.line("hint: ").startswith("delete it (git tag -d v1.0.0)")
    assert tag_object_type(app_repo, "local", "v1.0.0") == "commit"
    assert app_repo.remote_refs() == before


def test_lightweight_tag_at_head_is_refused_on_the_remote(app_repo: AppRepo) -> None:
    app_repo.git("push", "-q", "origin", "HEAD:refs/tags/v1.0.0")
    before = app_repo.remote_refs()
    ran = invoke(app_repo.work, "tag", "--version", "v1.0.0")
    assert ran.code == 1, ran.text
    assert ran.line("error: ") == \
        "tag v1.0.0 exists on origin as a lightweight tag (release tags are annotated)"
    assert app_repo.git("tag", "-l") == ""
    assert app_repo.remote_refs() == before


@pytest.mark.parametrize("message", ["", "   "])
def test_empty_message_exits_2_before_anything(app_repo: AppRepo, message: str) -> None:
    before = app_repo.remote_refs()
    ran = invoke(app_repo.work, "tag", "--version", "v1.0.0", f"--message={message}")
    assert ran.code == 2, ran.text
    assert ran.line("error: ") == "the tag message is empty"
    assert ran.line("hint: ") == "pass --message TEXT"
    assert app_repo.git("tag", "-l") == "" and app_repo.remote_refs() == before
