"""Local parity (`nox -s cloudbuild`, i.e. `python -m shipyard.cloudbuild.local`): the steps of a
cloudbuild.yaml run on this machine as Cloud Build runs them. Small build files written here show
the scheduling (parallel steps, a failure that stops the build, timeouts, secretEnv); the
sample's real ci-cd/cloudbuild.yaml refuses an empty version at once, and releases the sample
from a detached tag checkout end to end (docker, the registry, nginx, trivy)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GIT_IDENTITY, git, invoke, require_tool
from tests.integration.release_fixtures import docker, http_get
from tests.support.apps import sample_copy, write_secrets
from tests.support.images import remove_images

pytestmark = pytest.mark.integration

SECRETS = {"DATABASE_URL": "postgres://demo:pw-7c1d@db/app",
           "RUNWAYML_API_KEY": "rw-key-parity-7c1d", "REDIS_URL": "redis://cache-7c1d:6379"}


def parity(app: Path, *args: str, env: dict[str, str] | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **GIT_IDENTITY, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run((sys.executable, "-m", "shipyard.cloudbuild.local", "--app", str(app),
                           *args), env=full, capture_output=True, text=True, timeout=timeout)


def summary(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The --json summary: step id → (status, exit code)."""
    data = json.loads(done.stdout)
    return {"status": data["status"],
            **{s["step"]: (s["status"], s["exit"]) for s in data["steps"]}}


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    found = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(found) == 1, done.stderr
    return found[0]


def app_with(tmp_path: Path, text: str) -> Path:
    app = tmp_path / "app"
    (app / "ci-cd").mkdir(parents=True)
    (app / "ci-cd" / "cloudbuild.yaml").write_text(text)
    return app


def test_independent_steps_run_at_the_same_time(tmp_path: Path) -> None:
    """a and b each wait for the other's marker: only together can they both finish."""
    wait = ("touch {me}; for i in $$(seq 200); do [ -e {other} ] && exit 0; sleep 0.05; "
            "done; exit 9")
    app = app_with(tmp_path, f"""
steps:
  - {{id: a, name: ubuntu, entrypoint: sh, args: [-c, '{wait.format(me="a", other="b")}'],
     timeout: 15s}}
  - {{id: b, name: ubuntu, entrypoint: sh, args: [-c, '{wait.format(me="b", other="a")}'],
     waitFor: ['-'], timeout: 15s}}
  - {{id: c, name: ubuntu, entrypoint: sh, args: [-c, 'test -e a && test -e b && touch c']}}
""")
    done = parity(app, "--json")
    assert done.returncode == 0, done.stderr
    assert summary(done) == {"status": "SUCCESS", "a": ("SUCCESS", 0), "b": ("SUCCESS", 0),
                             "c": ("SUCCESS", 0)}
    assert "order: #0 \"a\" ‖ #1 \"b\" → #2 \"c\"" in done.stderr

    # the same two steps in order (b waits for a) cannot finish: a times out, b never starts
    serial = app_with(tmp_path / "serial", (app / "ci-cd" / "cloudbuild.yaml").read_text()
                      .replace("waitFor: ['-'], timeout: 15s", "waitFor: [a], timeout: 15s")
                      .replace("'],\n     timeout: 15s", "'],\n     timeout: 2s", 1))
    done = parity(serial, "--json")
    assert done.returncode == 1, done.stderr
    assert summary(done) == {"status": "TIMEOUT", "a": ("TIMEOUT", None), "b": ("QUEUED", None),
                             "c": ("QUEUED", None)}


def test_a_failing_step_stops_the_build_with_its_exit_code(tmp_path: Path) -> None:
    app = app_with(tmp_path, """
steps:
  - {id: slow, name: ubuntu, entrypoint: sh,
     args: [-c, 'echo $$$$ > slow.pid; sleep 60; touch late']}
  - {id: broken, name: ubuntu, entrypoint: sh, waitFor: ['-'],
     args: [-c, 'while [ ! -s slow.pid ]; do sleep 0.05; done; echo boom >&2; exit 7']}
  - {id: after, name: ubuntu, entrypoint: touch, args: [after]}
""")
    began = time.monotonic()
    done = parity(app, "--json")
    assert time.monotonic() - began < 30  # slow was cancelled, not waited for
    assert done.returncode == 7, done.stderr
    assert summary(done) == {"status": "FAILURE", "slow": ("CANCELLED", -15),
                             "broken": ("FAILURE", 7), "after": ("QUEUED", None)}
    assert 'Step #1 "broken": boom' in done.stderr
    assert 'Step #1 "broken" failed: cancelling step #0' in done.stderr
    assert 'error: step #1 "broken" failure (exit 7): the build stopped there' in done.stderr
    assert not (app / "late").exists() and not (app / "after").exists()
    with pytest.raises(ProcessLookupError):  # its process is gone, not orphaned
        os.kill(int((app / "slow.pid").read_text()), 0)


def test_a_bad_substitution_is_refused_before_any_step_runs(tmp_path: Path) -> None:
    app = app_with(tmp_path, """
substitutions: {_REGION: eu}
steps:
  - {name: ubuntu, entrypoint: touch, args: [ran]}
  - {name: 'eu.gcr.io/$_REGION/x', entrypoint: echo, args: ['${_REGOIN}']}
""")
    done = parity(app, "--version", "v1.1.0")
    assert done.returncode == 2
    assert error_line(done) == (
        f"error: {app}/ci-cd/cloudbuild.yaml: bad substitutions: key in the template "
        f'"_REGOIN" is not matched in the substitution data')
    assert not (app / "ran").exists() and "Traceback" not in done.stderr

    unused = parity(app, "--substitutions", "_REGOIN=x,_EXTRA=y")
    assert unused.returncode == 2
    assert 'key "_EXTRA" in the substitution data is not matched in the template' in \
        unused.stderr
    assert not (app / "ran").exists()


def test_secret_env_is_refused_unless_mapped_and_its_value_is_masked(tmp_path: Path) -> None:
    app = app_with(tmp_path, """
steps:
  - {name: ubuntu, entrypoint: sh, secretEnv: [API_TOKEN],
     args: [-c, 'echo "token is $$API_TOKEN"; printf %s "$$API_TOKEN" | wc -c > length']}
availableSecrets:
  secretManager: [{versionName: projects/p/secrets/api-token/versions/3, env: API_TOKEN}]
""")
    token = "tok-5e3b9a1f0c"
    refused = parity(app, env={"API_TOKEN": token})
    assert refused.returncode == 2 and not (app / "length").exists()
    assert error_line(refused) == \
        "error: secretEnv API_TOKEN is not mapped for a local run"

    done = parity(app, "--secret-env", "API_TOKEN", env={"API_TOKEN": token})
    assert done.returncode == 0, done.stderr
    assert (app / "length").read_text().strip() == str(len(token))
    assert "token is ***" in done.stderr and token not in done.stdout + done.stderr
    assert token not in (app / ".shipyard" / "logs" / "commands.log").read_text()


def test_allowed_failures_let_the_build_go_on(tmp_path: Path) -> None:
    app = app_with(tmp_path, """
steps:
  - {id: lint, name: ubuntu, entrypoint: sh, args: [-c, 'exit 3'], allowExitCodes: [3]}
  - {id: flaky, name: ubuntu, entrypoint: sh, args: [-c, 'exit 5'], allowFailure: true}
  - {id: last, name: ubuntu, entrypoint: touch, args: [last]}
""")
    done = parity(app, "--json")
    assert done.returncode == 0, done.stderr
    assert summary(done) == {"status": "SUCCESS", "lint": ("FAILURE (allowed)", 3),
                             "flaky": ("FAILURE (allowed)", 5), "last": ("SUCCESS", 0)}
    assert (app / "last").exists()


def test_a_dry_run_prints_every_step_and_runs_none(tmp_path: Path) -> None:
    app = app_with(tmp_path, """
substitutions: {_WHAT: planned}
steps:
  - {id: one, name: gcr.io/cloud-builders/docker, args: [version]}
  - {id: two, name: ubuntu, entrypoint: touch, args: ['${_WHAT}'], waitFor: ['-']}
""")
    done = parity(app, "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    planned = [line for line in done.stderr.splitlines() if line.startswith("[dry-run] ")]
    assert planned == ["[dry-run] docker version", "[dry-run] touch planned"]
    assert summary(done) == {"status": "PLANNED", "one": ("PLANNED", None),
                             "two": ("PLANNED", None)}
    assert not (app / "planned").exists() and not (app / ".shipyard").exists()


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    app = tmp_path / "meta-ad-studio"
    return app, sample_copy(app, tmp_path / "remote.git")


def test_the_samples_build_without_a_version_fails_at_once(
        sample: tuple[Path, dict[str, Any]]) -> None:
    """A manual submit without _VERSION or a tag: the first step refuses, nothing else runs."""
    app, _ = sample
    done = parity(app, "--json")
    assert done.returncode == 2, done.stderr
    assert summary(done) == {"status": "FAILURE", "version": ("FAILURE", 2),
                             "history": ("QUEUED", None), "install": ("QUEUED", None),
                             "tests": ("QUEUED", None), "scan": ("QUEUED", None),
                             "release": ("QUEUED", None)}
    assert "Step #0 \"version\": error: no release version: _VERSION='' is not " \
           "vMAJOR.MINOR.PATCH" in done.stderr
    assert git(app, "status", "--porcelain") == ""


def test_the_sample_releases_from_a_detached_tag_checkout(
        sample: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """The issue's "done when": the tag pushed, Cloud Build's checkout of it, its own
    ci-cd/cloudbuild.yaml run here: tests ‖ scan, then the release to the local environment."""
    require_tool("nginx", "the local target's proxy is the real nginx")
    app, config = sample
    git(app, "tag", "-a", "v1.1.0", "-m", "Release v1.1.0")
    git(app, "push", "-q", "origin", "v1.1.0")
    tag_on_remote = git(app, "ls-remote", "origin", "refs/tags/v1.1.0")
    ci = tmp_path / "workspace"  # as Cloud Build checks a tag out: detached at it
    git(tmp_path, "clone", "-q", "--branch", "v1.1.0", str(tmp_path / "remote.git"), str(ci))
    assert git(ci, "rev-parse", "--abbrev-ref", "HEAD") == "HEAD"
    write_secrets(ci / ".shipyard" / "secrets" / "local.env", SECRETS)
    try:
        done = parity(ci, "--version", "v1.1.0", "--json", timeout=900)
        assert done.returncode == 0, done.stderr[-4000:]
        assert summary(done) == {"status": "SUCCESS", **{
            step: ("SUCCESS", 0) for step in ("version", "history", "install", "tests", "scan",
                                                 "release")}}
        assert 'Step #3 "tests": 6 passed' in done.stderr
        assert "released v1.1.0 to local" in done.stderr
        ports = config["environments"]["local"]["proxy_ports"]
        assert http_get(ports["api-server"]) == (200, "v1.1.0")
        assert http_get(ports["meta-verse-visualizer-main"]) == (200, "v1.1.0")
        assert git(ci, "ls-remote", "origin", "refs/tags/v1.1.0") == tag_on_remote
        assert git(ci, "status", "--porcelain") == ""  # nothing the steps wrote is tracked
        for secret in SECRETS.values():
            assert secret not in done.stdout + done.stderr
    finally:
        invoke(ci, "local-down", timeout=120)
        left = docker("ps", "-aq", "--filter", f"label=dev.shipyard.root={ci}").split()
        if left:
            docker("rm", "--force", *left, check=False)
        registry = config["environments"]["local"]["registry_port"]
        remove_images(f"reference=127.0.0.1:{registry}/meta-ad-studio/*")
