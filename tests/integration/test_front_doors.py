"""The three ways in, as the README describes them: the `shipyard` command in an app repo with
no tasks.py, `invoke` with the one-line tasks.py, and `invoke` from shipyard's own checkout with
the app named through Invoke's config. Bad flags are refused as bad input (exit 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GIT_IDENTITY, git, invoke
from tests.support.apps import sample_copy

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"DATABASE_URL": "postgres://demo:pw-0123@db/app",
           "RUNWAYML_API_KEY": "rw-test-key-0123", "REDIS_URL": "redis://cache-0123:6379"}


def shipyard(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).parent / "shipyard"
    assert binary.exists(), "pip install -e . puts the shipyard command next to python"
    env = {**os.environ, **GIT_IDENTITY, **SECRETS, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run((str(binary), *args), cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A copy of the sample app without its tasks.py, on main, in step with a bare remote."""
    app = tmp_path / "meta-ad-studio"
    sample_copy(app, tmp_path / "remote.git", leave_out=("tasks.py",))  # on ports of its own
    return app


def test_the_shipyard_command_works_without_a_tasks_py(sample: Path) -> None:
    listed = shipyard(sample, "--list")
    assert listed.returncode == 0, listed.stderr
    for name in ("release", "deploy", "rollback", "status", "build", "scan", "push", "tag"):
        assert f"  {name} " in listed.stdout
    helped = shipyard(sample, "--help", "release")
    assert helped.returncode == 0 and "--break-lock" in helped.stdout
    assert "Usage: shipyard [--core-opts] release" in helped.stdout
    planned = shipyard(sample, "release", "--version", "v1.1.0", "--dry-run")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "[dry-run] that is the complete plan for v1.1.0 → local" in planned.stderr
    assert "git tag --annotate" in planned.stdout and "docker push" in planned.stdout
    assert not (sample / ".shipyard").exists()  # a dry run writes nothing
    assert git(sample, "status", "--porcelain", "--ignored") == ""


@pytest.mark.parametrize(("args", "message"), [
    (("build", "--version", "v1.1.0", "--jobs", "abc"),
     "error: --jobs must be a whole number from 1 up, not 'abc'"),
    (("build", "--version", "v1.1.0", "--jobs", "0"),
     "error: --jobs must be a whole number from 1 up, not '0'"),
    (("push", "--version", "v1.1.0", "--jobs", "-3"),
     "error: --jobs must be a whole number from 1 up, not '-3'"),
    (("build", "--version", "-v"), "error: --version needs a value"),
    (("release", "--no-such-flag"), "error: No idea what '--no-such-flag' is!"),
])
def test_bad_flags_are_bad_input(sample: Path, args: tuple[str, ...], message: str) -> None:
    refused = shipyard(sample, *args)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.splitlines()[0] == message
    assert refused.stderr.splitlines()[1].startswith("hint: ")
    assert "Traceback" not in refused.stderr


def test_invoke_with_the_one_line_tasks_py_refuses_bad_jobs_too(sample: Path) -> None:
    (sample / "tasks.py").write_text("from shipyard.tasks import ns\n")
    ran = invoke(sample, "build", "--version", "v1.1.0", "--jobs", "abc")
    assert ran.code == 2 and "Traceback" not in ran.text
    assert "error: --jobs must be a whole number from 1 up, not 'abc'" in ran.err


def test_the_root_tasks_py_acts_on_the_app_invoke_config_names(sample: Path) -> None:
    listed = invoke(ROOT, "--list")
    assert listed.code == 0 and "release" in listed.out
    refused = invoke(ROOT, "status")
    assert refused.code == 2
    assert refused.err.splitlines()[0] == "error: no app chosen: this checkout is not an app repo"
    assert "INVOKE_SHIPYARD_APP=examples/meta-ad-studio" in refused.err
    named = invoke(ROOT, "status", "--json", env={"INVOKE_SHIPYARD_APP": str(sample)})
    assert named.code == 0, named.text
    assert '"env": "local"' in named.out and '"serving": null' in named.out
