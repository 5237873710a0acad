"""The `version` step of the shipped cloudbuild.yaml (run by real bash, as Cloud Build runs
it) accepts every version shipyard's own rule accepts. Its ERE is looser on purpose (bash has
no `(?:`); `invoke release` re-checks strictly, so a looser pass there builds nothing wrong."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.cloudbuild import parse, substitute
from shipyard.version import TAG_PATTERN, is_version_tag  # Version.parse, as a predicate

TEMPLATE = Path(__file__).resolve().parents[2] / "src/shipyard/templates/ci-cd/cloudbuild.yaml"
ACCEPTED = ["v0.0.0", "v1.1.0", "v10.20.30", "v1.0.0-0", "v1.0.0-alpha", "v1.0.0-alpha.1",
            "v1.0.0-0.3.7", "v1.0.0-x.7.z.92", "v1.0.0-x-y-z.--", "v1.0.0--", "v1.0.0-rc.1",
            "v999999999.0.0", "v1.2.3-" + "a" * 100]
REFUSED_BY_BOTH = ["", "1.0.0", "v1.0", "v1.0.0.0", "v1.0.0+build", "v1.0.0-", "V1.0.0",
                   "v1.0.0-a b", "v1.0.0-é", " v1.0.0", "v1.0.0 "]
# Looser than Version.parse: the step lets these through, `release` refuses them (exit 2).
LOOSER = ["v01.0.0", "v1.00.0", "v1.0.0-01", "v1.0.0-a..b", "v1.0.0-.a", "v1.0.0-a."]


@cache
def script() -> str:
    step = next(s for s in parse.load(TEMPLATE).steps if s.id == "version")
    assert step.entrypoint == "bash" and step.args[0] == "-c"
    return substitute.expand(step.args[1], {})  # `$$` becomes `$`, as Cloud Build does


def step_accepts(version: str) -> bool:
    done = subprocess.run(["bash", "-c", script()], env={"RELEASE_VERSION": version},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode in (0, 2), done.stderr
    if done.returncode == 2:
        assert "error: no release version" in done.stderr and "hint:" in done.stderr
    return done.returncode == 0


@pytest.mark.parametrize("version", ACCEPTED)
def test_the_step_accepts_what_is_version_tag(version: str) -> None:
    assert is_version_tag(version) and step_accepts(version)


@pytest.mark.parametrize("version", REFUSED_BY_BOTH)
def test_the_step_refuses_what_is_no_version_at_all(version: str) -> None:
    assert not is_version_tag(version) and not step_accepts(version)


@pytest.mark.parametrize("version", LOOSER)
def test_where_the_step_is_looser_release_refuses(version: str) -> None:
    assert step_accepts(version) and not is_version_tag(version)


@settings(max_examples=60, deadline=None)
@given(st.from_regex(TAG_PATTERN, fullmatch=True).filter(is_version_tag))
def test_every_version_is_version_tag_passes_the_step(version: str) -> None:
    assert step_accepts(version)
