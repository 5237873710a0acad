"""CI policy for gaps: under CI=true a missing real component fails the run, naming the tool and
its install step; elsewhere the test is skipped and the run ends with a loud SKIPPED banner.

Each case runs a tiny test file in a real pytest subprocess with tests/conftest.py as a plugin
(the helpers and the summary hook), the way `nox -s tests` would run it, and reads what a user
sees: the exit code and the terminal output.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]
TOOL = f"shipyard-no-such-tool-{uuid.uuid4().hex[:8]}"
INSTALL = f"apt-get install {TOOL}-pkg"


def run_tiny(tmp_path: Path, body: str, ci: str | None) -> tuple[int, str]:
    (tmp_path / "test_tiny.py").write_text(textwrap.dedent(body))
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        (sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "test_tiny.py"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


NEEDS_MISSING_TOOL = f"""
    from tests.conftest import require_tool

    def test_needs_the_tool():
        require_tool({TOOL!r}, "the tiny test runs it", install={INSTALL!r})
"""


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_ci_a_missing_tool_fails_naming_tool_and_install(tmp_path: Path, ci: str) -> None:
    code, out = run_tiny(tmp_path, NEEDS_MISSING_TOOL, ci)
    assert code == 1, out
    assert "1 failed" in out and "skipped" not in out, out
    assert f"{TOOL} not found (the tiny test runs it); install: {INSTALL}" in out, out


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_outside_ci_a_missing_tool_skips_with_a_banner(tmp_path: Path, ci: str | None) -> None:
    code, out = run_tiny(tmp_path, NEEDS_MISSING_TOOL, ci)
    assert code == 0, out
    assert "1 skipped" in out and "failed" not in out, out
    banner = out[out.index("SKIPPED: 1 test"):]
    assert f"1 x {TOOL} not found (the tiny test runs it); install: {INSTALL}" in banner, out


def test_ci_any_skip_fails_the_run_even_one_not_from_the_helper(tmp_path: Path) -> None:
    body = """
        import pytest

        def test_passes():
            pass

        @pytest.mark.skipif(True, reason="a marker that bypasses require_tool")
        def test_marked():
            pass

        def test_skips_itself():
            pytest.skip("a plain pytest.skip")
    """
    code, out = run_tiny(tmp_path, body, "true")
    assert code == 1, out
    assert "1 passed, 2 skipped" in out, out
    assert "SKIPPED: 2 tests" in out, out
    assert "a marker that bypasses require_tool" in out and "a plain pytest.skip" in out, out
    assert "CI=true: skipped tests fail the run" in out, out
    code, out = run_tiny(tmp_path, body, None)  # the same file outside CI: a pass, loudly
    assert code == 0 and "SKIPPED: 2 tests" in out, out


def test_present_tool_is_returned_and_nothing_is_reported(tmp_path: Path) -> None:
    body = """
        import os
        from tests.conftest import require_tool

        def test_sh():
            path = require_tool("sh", "it is everywhere")
            assert os.access(path, os.X_OK), path
    """
    code, out = run_tiny(tmp_path, body, "true")
    assert code == 0 and "1 passed" in out, out
    assert "SKIPPED" not in out, out


def test_ci_a_missing_module_fails_naming_it(tmp_path: Path) -> None:
    module = f"shipyard_no_such_module_{uuid.uuid4().hex[:8]}"
    body = f"""
        from tests.conftest import require_module

        def test_needs_the_module():
            require_module({module!r}, "the tiny test imports it", install="pip install it")
    """
    code, out = run_tiny(tmp_path, body, "true")
    assert code == 1 and "1 failed" in out, out
    assert f"Python module {module} cannot be imported" in out and "pip install it" in out, out


def test_ci_no_docker_engine_fails_naming_bootstrap(tmp_path: Path) -> None:
    """The real docker client, pointed at a socket nothing listens on."""
    body = f"""
        import os
        from tests.conftest import require_docker_engine

        def test_needs_an_engine():
            os.environ["DOCKER_HOST"] = "unix://{tmp_path}/no-engine.sock"
            require_docker_engine("the tiny test builds an image")
    """
    require_tool("docker", "the real client is pointed at a socket nothing listens on")
    code, out = run_tiny(tmp_path, body, "true")
    assert code == 1 and "1 failed" in out, out
    assert "no Docker engine answers (the tiny test builds an image)" in out, out
    assert "install: bash scripts/bootstrap.sh (starts dockerd)" in out, out
