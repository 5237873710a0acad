"""The checklist's judges, each on its own: what passes, what fails, and what it says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from shipyard.config.ops import CloudSql, RunwayMl, Window
from shipyard.ops.checklist import checks as c
from shipyard.ops.checklist.gcp import judge_backups, judge_roles

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # a Wednesday
SA = "run@p.iam.gserviceaccount.com"


def test_staging_needs_a_verified_deploy_of_that_version() -> None:
    history = [{"version": "v1.1.0", "verified": False, "when": "t1"},
               {"version": "v1.0.0", "verified": True, "when": "t0"}]
    failed = c.staging_verified("v1.1.0", "staging", history)
    assert (failed.status, failed.detail) == ("fail", "v1.1.0 was deployed but never "
                                                      "verified in staging")
    never = c.staging_verified("v1.2.0", "staging", history)
    assert never.detail == "v1.2.0 was never released in staging"
    history.append({"version": "v1.1.0", "verified": True, "when": "t2"})
    ok = c.staging_verified("v1.1.0", "staging", history)
    assert (ok.status, ok.detail) == ("pass", "v1.1.0 verified in staging at t2")
    assert c.staging_verified("v1.1.0", None, history).status == "skipped"


def test_the_window_is_judged_in_its_own_time_zone_with_summer_time() -> None:
    madrid = Window("Europe/Madrid", ("mon", "tue", "wed", "thu"), "09:00", "16:00")
    # 07:30 UTC is 08:30 in Madrid in winter (CET) but 09:30 in summer (CEST).
    winter = c.deploy_window(madrid, datetime(2026, 12, 2, 7, 30, tzinfo=UTC))
    summer = c.deploy_window(madrid, datetime(2026, 7, 1, 7, 30, tzinfo=UTC))
    assert (winter.status, winter.detail) == (
        "fail", "now wed 08:30 Europe/Madrid; window mon,tue,wed,thu 09:00-16:00")
    assert (summer.status, summer.detail) == (
        "pass", "now wed 09:30 Europe/Madrid; window mon,tue,wed,thu 09:00-16:00")
    friday = c.deploy_window(madrid, datetime(2026, 12, 4, 10, 0, tzinfo=UTC))
    assert friday.status == "fail"
    end = c.deploy_window(madrid, datetime(2026, 12, 2, 15, 0, tzinfo=UTC))  # 16:00 local
    assert end.status == "fail"  # the end is exclusive
    # The day is the local one: 23:30 UTC on a Wednesday is already Thursday in Tokyo.
    tokyo = Window("Asia/Tokyo", ("thu",), "08:00", "09:00")
    assert c.deploy_window(tokyo, datetime(2026, 12, 2, 23, 30, tzinfo=UTC)).status == "pass"
    assert c.deploy_window(None, NOW).status == "skipped"


def test_runwayml_over_quota_or_over_budget_fails() -> None:
    fits = c.runwayml_budget(RunwayMl(3000, 60, 0.25, 600))
    assert (fits.status, fits.detail) == (
        "pass", "1800 videos/month (60/day) of a 3000 quota; about $450.00 of a $600.00 budget")
    assert c.runwayml_budget(RunwayMl(1000, 60, 0.25, 600)).status == "fail"  # quota
    assert c.runwayml_budget(RunwayMl(3000, 60, 0.5, 600)).status == "fail"  # $900 > $600
    assert c.runwayml_budget(None).status == "skipped"


def test_a_rollback_target_is_another_verified_release() -> None:
    assert c.rollback_target("v1.1.0", "prod", "v1.0.0", None).detail == (
        "v1.0.0 (verified in prod) to go back to")
    # Releasing again what serves: the good one before it is the target.
    assert c.rollback_target("v1.1.0", "prod", "v1.1.0", "v1.0.0").status == "pass"
    assert c.rollback_target("v1.1.0", "prod", "v1.1.0", None).status == "fail"
    assert c.rollback_target("v1.1.0", "prod", None, None).detail == (
        "no other verified release of prod to roll back to")


def test_the_migrations_marker_is_a_file_named_by_the_version(tmp_path: Path) -> None:
    marker = "migrations/applied/{version}"
    assert c.migrations_marker(tmp_path, marker, "v1.1.0").status == "fail"
    (tmp_path / "migrations/applied").mkdir(parents=True)
    (tmp_path / "migrations/applied/v1.1.0").write_text("applied\n")
    assert c.migrations_marker(tmp_path, marker, "v1.1.0").detail == (
        "migrations/applied/v1.1.0 exists")
    assert c.migrations_marker(tmp_path, marker, "v1.2.0").status == "fail"


def test_backups_must_be_enabled_successful_and_recent() -> None:
    sql = CloudSql("db", 26)
    enabled = {"settings": {"backupConfiguration": {"enabled": True}}}
    fresh = {"status": "SUCCESSFUL", "endTime": "2026-12-02T03:00:00.123Z"}
    ok = judge_backups(sql, enabled, [fresh], NOW)
    assert (ok.status, ok.detail) == (
        "pass", "db: newest successful backup 2026-12-02T03:00Z, 7.0 h old (at most 26 h)")
    off = judge_backups(sql, {"settings": {"backupConfiguration": {"enabled": False}}},
                        [fresh], NOW)
    assert (off.status, off.detail) == ("fail", "db: automated backups are not enabled")
    old = {"status": "SUCCESSFUL", "endTime": (NOW - timedelta(hours=30)).isoformat()}
    failed = {"status": "FAILED", "endTime": "2026-12-02T09:00:00Z"}
    assert judge_backups(sql, enabled, [old, failed], NOW).status == "fail"
    assert judge_backups(sql, enabled, [failed], NOW).detail == "db: no successful backup"


def test_owner_or_editor_on_a_runtime_account_fails() -> None:
    clean = {"bindings": [{"role": "roles/run.invoker", "members": [f"serviceAccount:{SA}"]},
                          {"role": "roles/owner", "members": ["user:boss@example.com"]}]}
    assert judge_roles((SA,), clean).status == "pass"
    editor = {"bindings": [{"role": "roles/editor", "members": [f"serviceAccount:{SA}"]}]}
    bad = judge_roles((SA,), editor)
    assert (bad.status, bad.detail) == ("fail", f"{SA} has roles/editor")
    assert judge_roles((), clean).status == "fail"  # nothing to check is no pass
