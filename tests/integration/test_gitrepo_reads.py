"""GitRepo's reads against real repositories made with the real git: what tag and
cleanup-branch decide from (clean tree, branch, remote, divergence, ancestry, tags)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from shipyard.build.gitrepo import Divergence, GitRepo, TagRef
from shipyard.errors import ShipyardError, UsageError


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / ".gitignore").write_text("ignored.txt\n")
    (work / "a.txt").write_text("a\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "one")
    return work


def commit(work: Path, name: str) -> str:
    (work / name).write_text(name)
    git(work, "add", name)
    git(work, "commit", "-q", "-m", name)
    return git(work, "rev-parse", "HEAD")


def test_open_finds_the_work_tree_from_a_subdirectory(repo: Path) -> None:
    (repo / "sub").mkdir()
    assert GitRepo.open(repo / "sub").root == repo.resolve()


def test_open_refuses_what_is_not_a_work_tree(tmp_path: Path, repo: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(UsageError, match="not inside a git work tree"):
        GitRepo.open(plain)
    with pytest.raises(UsageError, match="not inside a git work tree"):
        GitRepo.open(tmp_path / "missing")
    git(tmp_path, "clone", "-q", "--bare", str(repo), "bare.git")
    with pytest.raises(UsageError, match="is a bare repository"):
        GitRepo.open(tmp_path / "bare.git")


def test_head_branch_and_an_empty_repository(tmp_path: Path, repo: Path) -> None:
    opened = GitRepo.open(repo)
    assert opened.head == git(repo, "rev-parse", "HEAD")
    assert opened.current_branch() == "main"
    git(repo, "checkout", "-q", "--detach")
    assert opened.current_branch() is None
    with pytest.raises(ShipyardError, match="HEAD is on a detached commit"):
        opened.require_branch("main")
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    with pytest.raises(ShipyardError, match="no commits yet"):
        _ = GitRepo.open(empty).head


def test_a_clean_tree_counts_untracked_files_but_not_ignored_ones(repo: Path) -> None:
    opened = GitRepo.open(repo)
    (repo / "ignored.txt").write_text("x")
    opened.require_clean()
    (repo / "new file.txt").write_text("x")
    with pytest.raises(ShipyardError, match=r"not clean \(new file.txt\)"):
        opened.require_clean()
    (repo / "new file.txt").unlink()
    (repo / "a.txt").write_text("changed\n")
    with pytest.raises(ShipyardError, match=r"not clean \(a.txt\)"):
        opened.require_clean()
    git(repo, "add", "a.txt")  # staged counts too
    with pytest.raises(ShipyardError, match=r"not clean \(a.txt\)"):
        opened.require_clean()


def test_remotes_refs_and_divergence(tmp_path: Path, repo: Path) -> None:
    git(tmp_path, "clone", "-q", "--bare", str(repo), "remote.git")
    git(repo, "remote", "add", "origin", str(tmp_path / "remote.git"))
    git(repo, "fetch", "-q", "origin")
    opened = GitRepo.open(repo)
    opened.require_remote("origin")
    with pytest.raises(UsageError, match="unknown git remote 'upstream'"):
        opened.require_remote("upstream")
    assert opened.resolve("--help") is None and opened.resolve("nope") is None
    first = opened.head
    commit(repo, "b.txt")
    commit(repo, "c.txt")
    assert opened.divergence("origin/main") == Divergence(ahead=2, behind=0)
    assert opened.divergence("HEAD", "origin/main") == Divergence(ahead=0, behind=2)
    assert opened.contains(first, "HEAD") is True
    assert opened.contains(opened.head, "origin/main") is False
    assert opened.contains("f" * 40, "HEAD") is False  # a commit this clone does not have
    assert opened.local_branch("main") == opened.head and opened.local_branch("x") is None


def test_a_shallow_clone_cannot_tell_what_it_lacks(tmp_path: Path, repo: Path) -> None:
    first = GitRepo.open(repo).head
    commit(repo, "b.txt")
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", "shallow")
    shallow = GitRepo.open(tmp_path / "shallow")
    assert shallow.shallow is True
    assert shallow.contains(first, "HEAD") is None


def test_tags_annotated_lightweight_and_by_exact_name(repo: Path) -> None:
    opened = GitRepo.open(repo)
    head = opened.head
    git(repo, "tag", "-a", "-m", "release", "v1.0.0")
    git(repo, "tag", "v1.0.0-rc.1")
    git(repo, "tag", "v1/nested")
    assert opened.local_tag("v1.0.0") == TagRef(commit=head, annotated=True)
    assert opened.local_tag("v1.0.0-rc.1") == TagRef(commit=head, annotated=False)
    assert opened.local_tag("v1") is None  # refs/tags/v1/nested is another tag
    assert opened.local_tag("v2.0.0") is None
