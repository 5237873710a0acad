"""The facts build labels images with, read from a real git repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.build.provenance import read_provenance
from shipyard.errors import ShipyardError, UsageError
from shipyard.exec.runner import Runner
from tests.conftest import git


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "a.txt").write_text("a\n")
    git(tmp_path, "add", "a.txt")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2026-01-02T03:04:05Z")
    git(tmp_path, "commit", "-q", "-m", "one")
    return tmp_path


def test_revision_commit_time_and_source_url(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://example.invalid/app.git")
    found = read_provenance(repo, "origin", Runner())
    assert found.revision == git(repo, "rev-parse", "HEAD")
    assert found.commit_time == 1767323045  # 2026-01-02T03:04:05Z
    assert found.source == "https://example.invalid/app.git"


def test_read_from_a_subdirectory_of_the_work_tree(repo: Path) -> None:
    (repo / "sub").mkdir()
    assert read_provenance(repo / "sub", "origin", Runner()).revision == \
        git(repo, "rev-parse", "HEAD")


def test_a_missing_remote_leaves_the_source_empty(repo: Path) -> None:
    assert read_provenance(repo, "upstream", Runner()).source == ""


def test_outside_a_repository_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not inside a git work tree"):
        read_provenance(tmp_path, "origin", Runner())


def test_a_repository_without_commits_is_refused(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    with pytest.raises(ShipyardError, match="no commits yet"):
        read_provenance(tmp_path, "origin", Runner())
