"""The release gate: an environment whose checklist is required is released only with a
passing checklist report for that version, or with a recorded override. On the fakes."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from shipyard.config.ops import DAYS, ChecklistSettings, OpsSettings, Window
from shipyard.errors import UsageError
from shipyard.ops.checklist import report
from shipyard.ops.checklist.checks import Check
from shipyard.pipeline.release import release
from tests.unit.fake_app import Fakes

HINT = ("run `invoke checklist --env local --version v1.0.0` until it passes (or "
        "--skip-checklist REASON, recorded in the audit log)")
ALWAYS = Window("UTC", ("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00", "23:59")


def gated(fakes: Fakes, window: Window | None = None) -> Fakes:
    checklist = ChecklistSettings(required=True, window=window)
    fakes.env = dataclasses.replace(fakes.env, ops=OpsSettings(checklist=checklist))
    return fakes


def write_report(fakes: Fakes, *statuses: str, version: str = "v1.0.0") -> None:
    checks = [Check(f"c{n}", f"check {n}", s, "") for n, s in enumerate(statuses)]
    report.write(fakes.root, report.build("local", version, "2026-12-02T10:00:00Z", checks))


def refused(fakes: Fakes, **kwargs: str) -> UsageError:
    with pytest.raises(UsageError) as info:
        release(fakes.context("v1.0.0"), **kwargs)  # type: ignore[arg-type]
    assert info.value.exit_code == 2
    assert fakes.runner.timeline == []  # refused before anything ran: no git, no build
    return info.value


def audit_lines(fakes: Fakes) -> list[dict[str, str]]:
    path = fakes.root / ".shipyard" / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_without_a_report_release_is_refused_with_a_hint(git_fakes: Fakes) -> None:
    err = refused(gated(git_fakes))
    assert err.message == "local needs a passing checklist for v1.0.0; there is none"
    assert err.hint == HINT
    assert audit_lines(git_fakes) == []


def test_a_failing_report_or_one_for_another_version_is_refused(git_fakes: Fakes) -> None:
    fakes = gated(git_fakes)
    write_report(fakes, "pass", "fail", "pending")
    assert refused(fakes).message == ("the checklist for v1.0.0 → local did not pass "
                                      "(check 1; check 2)")
    write_report(fakes, "pass", version="v0.9.0")
    assert refused(fakes).message.startswith("the checklist for v1.0.0 → local did not pass")


def test_a_passing_report_lets_the_release_run(git_fakes: Fakes) -> None:
    fakes = gated(git_fakes, ALWAYS)
    write_report(fakes, "pass", "skipped")
    release(fakes.context("v1.0.0"))
    assert fakes.context("v1.0.0").record.data["verified"] is True


def test_the_window_is_judged_again_at_release_time(git_fakes: Fakes) -> None:
    never = Window("UTC", (DAYS[(datetime.now(UTC).weekday() + 3) % 7],), "00:00", "23:59")
    fakes = gated(git_fakes, never)
    write_report(fakes, "pass")
    err = refused(fakes)
    assert err.message.startswith("outside the deploy window of local: now ")
    assert err.hint == "wait for the window, or --skip-checklist REASON"


def test_the_override_is_recorded_in_the_audit_log(git_fakes: Fakes) -> None:
    fakes = gated(git_fakes)
    assert refused(fakes, skip_checklist="  ").message == "--skip-checklist needs a reason"
    release(fakes.context("v1.0.0"), skip_checklist="hotfix for incident  42")
    skipped = [e for e in audit_lines(fakes) if e["action"] == "checklist-skipped"]
    assert len(skipped) == 1
    assert {k: skipped[0][k] for k in ("version", "env", "result", "reason")} == {
        "version": "v1.0.0", "env": "local", "result": "override",
        "reason": "hotfix for incident 42"}
    assert skipped[0]["who"]


def test_an_environment_that_does_not_require_it_is_not_gated(git_fakes: Fakes) -> None:
    release(git_fakes.context("v1.0.0"))
    assert git_fakes.context("v1.0.0").record.data["verified"] is True
