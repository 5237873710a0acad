"""Which release is serving, and which one a rollback goes back to."""

from __future__ import annotations

import json
from pathlib import Path

from shipyard.state.audit import audit, previous_good, record_deploy, serving


def test_serving_and_previous_good(tmp_path: Path) -> None:
    assert serving(tmp_path, "local") is None and previous_good(tmp_path, "local") is None
    record_deploy(tmp_path, "local", "v1.0.0", "release", True)
    assert serving(tmp_path, "local") == "v1.0.0" and previous_good(tmp_path, "local") is None
    record_deploy(tmp_path, "local", "v1.1.0", "release", True, replaced="v1.0.0")
    assert serving(tmp_path, "local") == "v1.1.0"
    assert previous_good(tmp_path, "local") == "v1.0.0"


def test_failed_release_is_never_a_rollback_target(tmp_path: Path) -> None:
    record_deploy(tmp_path, "local", "v1.0.0", "release", True)
    record_deploy(tmp_path, "local", "v1.1.0", "release", True, replaced="v1.0.0")
    record_deploy(tmp_path, "local", "v1.2.0", "release", False, replaced="v1.1.0")
    assert serving(tmp_path, "local") == "v1.1.0"
    assert previous_good(tmp_path, "local") == "v1.0.0"


def test_rolled_back_release_is_skipped_until_released_again(tmp_path: Path) -> None:
    record_deploy(tmp_path, "local", "v1.0.0", "release", True)
    record_deploy(tmp_path, "local", "v1.1.0", "release", True, replaced="v1.0.0")
    record_deploy(tmp_path, "local", "v1.0.0", "rollback", True, replaced="v1.1.0")
    assert serving(tmp_path, "local") == "v1.0.0"
    assert previous_good(tmp_path, "local") is None  # v1.1.0 was rolled away from
    record_deploy(tmp_path, "local", "v1.1.0", "release", True, replaced="v1.0.0")
    assert previous_good(tmp_path, "local") == "v1.0.0"


def test_audit_line_has_who_host_when_action_version_env_result(tmp_path: Path) -> None:
    audit(tmp_path, action="release", version="v1.0.0", env="local", result="ok")
    audit(tmp_path, action="rollback", version="v0.9.0", env="local", result="failed")
    lines = (tmp_path / ".shipyard" / "audit.log").read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert {"who", "host", "when", "action", "version", "env", "result"} <= set(first)
    assert first["action"] == "release" and first["result"] == "ok"
