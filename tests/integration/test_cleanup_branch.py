"""`invoke cleanup-branch` against a real git repo with a bare remote."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import AppRepo, git, invoke

pytestmark = pytest.mark.integration
FEATURE = "feature/worker-provider-integration"


def push_feature(repo: AppRepo, *, merge: bool) -> str:
    repo.git("switch", "-q", "-c", FEATURE)
    sha = repo.commit("worker.txt", "runway\n", "worker provider")
    repo.git("push", "-q", "origin", FEATURE)
    repo.git("switch", "-q", "main")
    if merge:
        repo.git("merge", "-q", "--no-ff", "-m", "Merge feature", FEATURE)
        repo.git("push", "-q", "origin", "main")
    return sha


def remote_branches(repo: AppRepo) -> str:
    return repo.git("ls-remote", "--heads", "origin")


def test_merged_branch_is_deleted_remote_and_local(app_repo: AppRepo) -> None:
    push_feature(app_repo, merge=True)
    ran = invoke(app_repo.work, "cleanup-branch", "--branch", FEATURE)
    assert ran.code == 0, ran.text
    assert FEATURE not in remote_branches(app_repo)
    assert FEATURE not in app_repo.git("branch", "--list")
    assert f"deleted origin/{FEATURE}" in ran.err

    again = invoke(app_repo.work, "cleanup-branch", "--branch", FEATURE)
    assert again.code == 0 and "already gone" in again.err


def test_unmerged_branch_is_refused_then_forced(app_repo: AppRepo) -> None:
    sha = push_feature(app_repo, merge=False)
    before = app_repo.remote_refs()
    ran = invoke(app_repo.work, "cleanup-branch", "--branch", FEATURE)
    assert ran.code == 1
    assert "is not merged into origin/main" in ran.err and sha[:12] in ran.err
    assert "--force" in ran.err
    assert app_repo.remote_refs() == before
    assert FEATURE in app_repo.git("branch", "--list")

    forced = invoke(app_repo.work, "cleanup-branch", "--branch", FEATURE, "--force")
    assert forced.code == 0, forced.text
    assert FEATURE not in remote_branches(app_repo)
    assert FEATURE not in app_repo.git("branch", "--list")


@pytest.mark.parametrize("branch", ["main", "develop", "release/1.0"])
def test_protected_branches_are_always_refused(app_repo: AppRepo, branch: str) -> None:
    if branch != "main":
        app_repo.git("push", "-q", "origin", f"main:refs/heads/{branch}")
    before = app_repo.remote_refs()
    ran = invoke(app_repo.work, "cleanup-branch", "--branch", branch, "--force")
    assert ran.code == 2
    assert "protected" in ran.err
    assert app_repo.remote_refs() == before


def test_missing_branch_is_success_with_note(app_repo: AppRepo) -> None:
    ran = invoke(app_repo.work, "cleanup-branch", "--branch", "feature/never-existed")
    assert ran.code == 0, ran.text
    assert "already gone" in ran.err


def test_dry_run_deletes_nothing(app_repo: AppRepo) -> None:
    push_feature(app_repo, merge=True)
    before = app_repo.remote_refs()
    ran = invoke(app_repo.work, "cleanup-branch", "--branch", FEATURE, "--dry-run")
    assert ran.code == 0, ran.text
    assert f"[dry-run] git push origin --delete refs/heads/{FEATURE}" in ran.out
    assert f"[dry-run] git branch -D {FEATURE}" in ran.out
    assert app_repo.remote_refs() == before
    assert FEATURE in app_repo.git("branch", "--list")


def test_checked_out_branch_is_refused(app_repo: AppRepo) -> None:
    push_feature(app_repo, merge=True)
    app_repo.git("switch", "-q", FEATURE)
    ran = invoke(app_repo.work, "cleanup-branch", "--branch", FEATURE)
    assert ran.code == 1 and "checked out" in ran.err
    assert FEATURE in remote_branches(app_repo)


@pytest.mark.parametrize("bad", ["-rf", "--all", "a..b", "feature/x.lock", "bad name",
                                 "refs/heads/x", "", "x~1", "HEAD"])
def test_invalid_names_exit_2(app_repo: AppRepo, bad: str) -> None:
    before = app_repo.remote_refs()
    ran = invoke(app_repo.work, "cleanup-branch", f"--branch={bad}")
    assert ran.code == 2, ran.text
    hint = ("branch names cannot be empty or start with '-'" if bad[:1] in ("", "-") else
            "give the branch's short name, e.g. feature/new-worker")
    assert ran.err.splitlines() == [f"error: invalid branch name {bad!r}", f"hint: {hint}"]
    assert app_repo.remote_refs() == before


def shallow_clone(repo: AppRepo, tmp_path: Path) -> Path:
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo.remote}", str(clone))
    assert git(clone, "rev-parse", "--is-shallow-repository") == "true"
    return clone


def test_shallow_clone_is_refused_with_a_hint_then_works_unshallowed(
        app_repo: AppRepo, tmp_path: Path) -> None:
    sha = push_feature(app_repo, merge=True)
    clone = shallow_clone(app_repo, tmp_path)  # has the merge commit, not the feature commit
    before = app_repo.remote_refs()

    ran = invoke(clone, "cleanup-branch", "--branch", FEATURE)
    assert (ran.code, "Traceback" in ran.text) == (1, False), ran.text
    assert ran.line("error: ") == (
        f"cannot tell whether {FEATURE} (remote, {sha[:12]}) is merged into origin/main: "
        "this clone is shallow, the history that would show it was not fetched")
    assert ran.line("hint: ").startswith("git fetch --unshallow origin, then rerun")
    assert app_repo.remote_refs() == before

    git(clone, "fetch", "-q", "--unshallow", "origin")
    done = invoke(clone, "cleanup-branch", "--branch", FEATURE)
    assert done.code == 0, done.text
    assert FEATURE not in remote_branches(app_repo)


def test_unmerged_branch_missing_from_a_single_branch_clone_is_refused(
        app_repo: AppRepo, tmp_path: Path) -> None:
    sha = push_feature(app_repo, merge=False)
    clone = tmp_path / "single"  # complete history of main only: the feature commit is absent
    git(tmp_path, "clone", "-q", "--single-branch", "--branch", "main",
        f"file://{app_repo.remote}", str(clone))  # file://: no hard links to every object
    before = app_repo.remote_refs()
    ran = invoke(clone, "cleanup-branch", "--branch", FEATURE)
    assert (ran.code, "Traceback" in ran.text) == (1, False), ran.text
    assert ran.line("error: ") == f"{FEATURE} (remote, {sha[:12]}) is not merged into origin/main"
    assert app_repo.remote_refs() == before


def test_branch_only_on_the_remote_is_deleted_there(app_repo: AppRepo) -> None:
    push_feature(app_repo, merge=True)
    app_repo.git("branch", "-q", "-D", FEATURE)
    ran = invoke(app_repo.work, "cleanup-branch", "--branch", FEATURE)
    assert ran.code == 0, ran.text
    assert FEATURE not in remote_branches(app_repo)
    assert ran.err.strip().endswith(f"deleted origin/{FEATURE}")
    assert f"git branch -D {FEATURE}" not in ran.err


def test_branch_only_local_is_deleted_locally(app_repo: AppRepo) -> None:
    push_feature(app_repo, merge=True)
    app_repo.git("push", "-q", "origin", "--delete", FEATURE)
    before = app_repo.remote_refs()
    ran = invoke(app_repo.work, "cleanup-branch", "--branch", FEATURE)
    assert ran.code == 0, ran.text
    assert FEATURE not in app_repo.git("branch", "--list")
    assert ran.err.strip().endswith(f"deleted local {FEATURE}")
    assert "git push" not in ran.err
    assert app_repo.remote_refs() == before


def test_unmerged_local_only_branch_is_refused(app_repo: AppRepo) -> None:
    app_repo.git("switch", "-q", "-c", FEATURE)
    sha = app_repo.commit("local.txt")
    app_repo.git("switch", "-q", "main")
    ran = invoke(app_repo.work, "cleanup-branch", "--branch", FEATURE)
    assert ran.code == 1, ran.text
    assert ran.line("error: ") == f"{FEATURE} (local, {sha[:12]}) is not merged into origin/main"
    assert FEATURE in app_repo.git("branch", "--list")
