"""Fixtures of the FakeRunner tier: the two-service app with every costly part faked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import AppRepo
from tests.unit.fake_app import Fakes, make_fakes, write_app


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fakes:
    """The app in a plain tmp dir; git is scripted (fixed commit, time and remote URL)."""
    return make_fakes(tmp_path / "app", monkeypatch)


@pytest.fixture
def git_fakes(app_repo: AppRepo, monkeypatch: pytest.MonkeyPatch) -> Fakes:
    """The app committed in a real tmp repo pushed to a bare origin; git really runs there
    (the tag stage runs git in the working directory, so that is the repo too)."""
    app_repo.git("rm", "-q", "-r", "web")
    write_app(app_repo.work)
    app_repo.git("add", "-A")
    app_repo.git("commit", "-q", "-m", "two services")
    app_repo.git("push", "-q", "origin", "main")
    monkeypatch.chdir(app_repo.work)
    return make_fakes(app_repo.work, monkeypatch, real_git=True)
