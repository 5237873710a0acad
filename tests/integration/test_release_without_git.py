"""A checkout with no .git, as a manual `gcloud builds submit` uploads it: the steps that need
git history (`invoke release`, and `invoke build` under `nox -s scan`) refuse at once, exit 2,
with a hint that says what to do; no traceback, no preflight probes, nothing changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.apps import SAMPLE
from tests.support.cli import invoke

pytestmark = pytest.mark.integration


@pytest.fixture
def upload(tmp_path: Path) -> Path:
    """The sample as the source upload holds it: no .git, no .shipyard."""
    app = tmp_path / "workspace"
    shutil.copytree(SAMPLE, app, ignore=shutil.ignore_patterns(".shipyard", ".git"))
    assert not (app / ".git").exists()
    return app


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("args", [
    ("release", "--version", "v1.1.0"),
    ("release", "--version", "v1.1.0", "--env", "staging"),
    ("release", "--version", "v1.1.0", "--dry-run"),
    ("build", "--version", "v1.1.0"),
])
def test_no_git_history_fails_at_once_with_what_to_do(upload: Path, args: tuple[str, ...]) \
        -> None:
    before = files(upload)
    ran = invoke(upload, *args, env={"DATABASE_URL": "x", "RUNWAYML_API_KEY": "y",
                                     "REDIS_URL": "z"}, timeout=120)
    assert ran.code == 2, ran.text
    assert f"error: not inside a git work tree: {upload}" in ran.err
    assert "hint: run shipyard from a clone of the app repo; a manual `gcloud builds submit` " \
           "uploads no .git" in ran.err
    assert "Traceback" not in ran.text
    assert "preflight" not in ran.text  # refused before any probe (docker, gcloud, secrets)
    # At most shipyard's state marker and the log of the read-only git call that found no
    # repo; no tag, image, release record or lock.
    assert files(upload) - before <= {".shipyard/.gitignore", ".shipyard/logs/commands.log"}
