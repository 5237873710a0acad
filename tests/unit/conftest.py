"""Fixtures of the FakeRunner tier: the two-service app with every costly part faked."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import git
from tests.unit.fake_app import Fakes, make_fakes, write_app

# Run from a git hook or `git rebase --exec`, git exports GIT_DIR (and more) naming the
# repo it works on: every git these tests start would then act on that repo, not on their
# tmp repos (`git init --bare` made it bare). `git rev-parse --local-env-vars` lists them.
for _name in ("GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS",
              "GIT_CONFIG_COUNT", "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE",
              "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE", "GIT_INDEX_FILE",
              "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX",
              "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE", "GIT_COMMON_DIR"):
    os.environ.pop(_name, None)


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fakes:
    """The app in a plain tmp dir; git is scripted (fixed commit, time and remote URL)."""
    return make_fakes(tmp_path / "app", monkeypatch)


@pytest.fixture(scope="session")
def _app_repo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app committed on main and pushed to a bare origin, made once per session."""
    base = tmp_path_factory.mktemp("template")
    work, remote = base / "app", base / "remote.git"
    git(base, "init", "-q", "--bare", "-b", "main", str(remote))
    git(base, "init", "-q", "-b", "main", str(work))
    write_app(work)
    (work / ".gitignore").write_text(".shipyard/\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "two services")
    git(work, "remote", "add", "origin", str(remote))
    git(work, "push", "-q", "origin", "main")
    return base


@pytest.fixture
def git_fakes(_app_repo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
              ) -> Fakes:
    """A copy of the template repo (tmp_path/app, origin = tmp_path/remote.git) where git
    really runs, entered as a user would (cd app)."""
    for name in ("app", "remote.git"):
        shutil.copytree(_app_repo_template / name, tmp_path / name, symlinks=True)
    config = tmp_path / "app" / ".git" / "config"
    config.write_text(config.read_text().replace(str(_app_repo_template / "remote.git"),
                                                 str(tmp_path / "remote.git")))
    monkeypatch.chdir(tmp_path / "app")
    return make_fakes(tmp_path / "app", monkeypatch, real_git=True)
