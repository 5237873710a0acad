"""The git stages act on the app's repo, wherever shipyard was started from.

`shipyard: {app: PATH}` and INVOKE_SHIPYARD_APP name an app that is not the working directory:
every git command must still run in the app's work tree (FakeRunner records each cwd).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.pipeline.release import release
from shipyard.stages.cleanup import CleanupResult, cleanup_branch
from tests.conftest import git
from tests.unit.fake_app import Fakes
from tests.unit.fakes import matches


def outside_the_app(fakes: Fakes) -> list[tuple[str, ...]]:
    """git commands that ran outside the app (check-ref-format only checks a name's syntax)."""
    return [c.argv for c in fakes.runner.executed if matches(c.argv, ("git",))
            and not matches(c.argv, ("git", "check-ref-format"))
            and (c.cwd is None or not c.cwd.is_relative_to(fakes.root))]


def test_a_release_from_another_directory_tags_the_apps_repo(
        git_fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fakes, remote = git_fakes, tmp_path / "remote.git"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    release(fakes.context("v1.0.0"))

    assert outside_the_app(fakes) == []
    assert ("git", "tag", "--annotate") in [c.argv[:3] for c in fakes.runner.executed
                                            if c.cwd == fakes.root]
    assert git(fakes.root, "rev-parse", "v1.0.0^{commit}") == git(fakes.root, "rev-parse", "HEAD")
    assert git(remote, "tag", "--list", "v1.0.0") == "v1.0.0"


def test_cleanup_branch_from_another_directory_deletes_the_apps_branch(
        git_fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fakes, remote = git_fakes, tmp_path / "remote.git"
    git(fakes.root, "branch", "feature/x")  # merged: it is main's own commit
    git(fakes.root, "push", "-q", "origin", "feature/x")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    done = cleanup_branch(fakes.config, fakes.runner, "feature/x")

    assert done == CleanupResult("feature/x", True, True,
                                 "deleted origin/feature/x; deleted local feature/x")
    assert outside_the_app(fakes) == []
    assert git(remote, "branch", "--list", "feature/x") == ""
    assert git(fakes.root, "branch", "--list", "feature/x") == ""
