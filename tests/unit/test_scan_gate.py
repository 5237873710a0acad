"""The gate on trivy-format JSON: thresholds, the allow list, --ignore-unfixed, masking."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard import config
from shipyard.scan import gate as scan_gate
from shipyard.scan.allowlist import AllowEntry, AllowList
from shipyard.scan.gate import Finding, judge

TODAY = dt.date(2026, 3, 1)
IMAGE = "127.0.0.1:5000/demo/api-server:v1.1.0"
TOKEN = "ghp_" + "Zz9" * 12
NOTHING = AllowList(None)


def vuln(cve: str, severity: str, fixed: str = "1.2.4") -> dict[str, Any]:
    return {"VulnerabilityID": cve, "PkgName": "openssl", "InstalledVersion": "1.2.3",
            "FixedVersion": fixed, "Severity": severity, "Title": f"{cve} title",
            "PrimaryURL": f"https://avd.example/{cve}"}


def report() -> dict[str, Any]:
    """One vulnerability at each severity, a secret, and a failed and a passed check."""
    return {
        "SchemaVersion": 2, "ArtifactName": IMAGE, "ArtifactType": "container_image",
        "Metadata": {"ImageConfig": {
            "history": [{"created_by": "/bin/sh -c #(nop) ADD file:abc in /"},
                        {"created_by": f'/bin/sh -c echo "GITHUB_TOKEN={TOKEN}" > /app.env'}],
            "config": {"Env": ["PATH=/bin", f"GITHUB_TOKEN={TOKEN}"]},
        }},
        "Results": [
            {"Target": f"{IMAGE} (debian 12.5)", "Class": "os-pkgs", "Type": "debian",
             "Vulnerabilities": [vuln("CVE-2026-0001", "UNKNOWN"), vuln("CVE-2026-0002", "LOW"),
                                 vuln("CVE-2026-0003", "MEDIUM"), vuln("CVE-2026-0004", "HIGH"),
                                 vuln("CVE-2026-0005", "CRITICAL", fixed="")]},
            {"Target": "/app.env", "Class": "secret",
             "Secrets": [{"RuleID": "github-pat", "Category": "GitHub", "Severity": "CRITICAL",
                          "Title": "GitHub Personal Access Token",
                          "Match": "GITHUB_TOKEN=" + "*" * 40,
                          "Layer": {"DiffID": "sha256:1", "CreatedBy": f"echo {TOKEN}"}}]},
            {"Target": IMAGE, "Class": "config", "Type": "dockerfile",
             "Misconfigurations": [
                 {"ID": "DS-0002", "AVDID": "AVD-DS-0002", "Title": "Image user should not be "
                  "'root'", "Severity": "HIGH", "Status": "FAIL",
                  "CauseMetadata": {"Code": {"Lines": [
                      {"Content": f"RUN echo {TOKEN}", "Highlighted": f"RUN echo {TOKEN}"}]}}},
                 {"ID": "DS-0026", "Title": "No HEALTHCHECK", "Severity": "LOW",
                  "Status": "PASS"},
             ]},
        ],
    }


def gate(threshold: str = "CRITICAL", allow: AllowList = NOTHING, *,
         service: str = "api-server", ignore_unfixed: bool = False,
         data: dict[str, Any] | None = None) -> scan_gate.Verdict:
    return judge(service, scan_gate.findings(data or report()), allow, threshold=threshold,
                 ignore_unfixed=ignore_unfixed, today=TODAY)


def entry(finding_id: str, expires: dt.date = dt.date(2026, 12, 31),
          service: str | None = None, index: int = 1) -> AllowEntry:
    return AllowEntry(index, finding_id, "accepted for the test", expires, service)


def test_findings_from_every_class() -> None:
    found = scan_gate.findings(report())
    assert [(f.kind, f.id, f.severity) for f in found] == [
        ("vuln", "CVE-2026-0001", "UNKNOWN"), ("vuln", "CVE-2026-0002", "LOW"),
        ("vuln", "CVE-2026-0003", "MEDIUM"), ("vuln", "CVE-2026-0004", "HIGH"),
        ("vuln", "CVE-2026-0005", "CRITICAL"), ("secret", "github-pat", "CRITICAL"),
        ("misconfig", "DS-0002", "HIGH"),  # DS-0026 passed: not a finding
    ]
    assert found[4] == Finding("vuln", "CVE-2026-0005", "CRITICAL",
                               "openssl 1.2.3 (debian 12.5)", "CVE-2026-0005 title",
                               fixed=False)
    assert found[6].target == "the image config"


@pytest.mark.parametrize(("threshold", "blocking"), [
    ("CRITICAL", {"CVE-2026-0005", "github-pat"}),
    ("HIGH", {"CVE-2026-0005", "github-pat", "CVE-2026-0004", "DS-0002"}),
    ("MEDIUM", {"CVE-2026-0005", "github-pat", "CVE-2026-0004", "DS-0002", "CVE-2026-0003"}),
    ("LOW", {"CVE-2026-0005", "github-pat", "CVE-2026-0004", "DS-0002", "CVE-2026-0003",
             "CVE-2026-0002"}),
    ("UNKNOWN", {"CVE-2026-0005", "github-pat", "CVE-2026-0004", "DS-0002", "CVE-2026-0003",
                 "CVE-2026-0002", "CVE-2026-0001"}),
])
def test_threshold_blocks_that_severity_and_above(threshold: str, blocking: set[str]) -> None:
    verdict = gate(threshold)
    assert {f.id for f in verdict.blocking} == blocking
    assert not verdict.passed
    assert verdict.counts == {"UNKNOWN": 1, "LOW": 1, "MEDIUM": 1, "HIGH": 2, "CRITICAL": 2}


def test_clean_report_passes() -> None:
    data = report()
    data["Results"] = data["Results"][2:]  # only the image config checks (HIGH)
    assert gate("CRITICAL", data=data).passed
    assert not gate("HIGH", data=data).passed
    assert gate("CRITICAL", data={"ArtifactName": IMAGE}).passed  # no Results at all


def test_blocking_findings_come_highest_severity_first() -> None:
    assert [f.severity for f in gate("LOW").blocking] == [
        "CRITICAL", "CRITICAL", "HIGH", "HIGH", "MEDIUM", "LOW"]


def test_valid_entries_let_findings_through() -> None:
    allow = AllowList(None, (entry("CVE-2026-0005"), entry("GITHUB-PAT", index=2)))
    verdict = gate("CRITICAL", allow)
    assert verdict.passed
    assert verdict.allowed == ("CVE-2026-0005", "github-pat")
    assert verdict.counts["CRITICAL"] == 0


def test_expired_entries_stop_applying_and_are_reported() -> None:
    allow = AllowList(None, (entry("CVE-2026-0005", expires=dt.date(2026, 2, 28)),
                             entry("github-pat", expires=TODAY, index=2)))
    verdict = gate("CRITICAL", allow)
    assert [f.id for f in verdict.blocking] == ["CVE-2026-0005"]
    assert verdict.expired == ("CVE-2026-0005",)
    assert verdict.allowed == ("github-pat",)  # expires today: still applies


def test_service_scoped_entry_applies_to_that_service_only() -> None:
    allow = AllowList(None, (entry("CVE-2026-0005", service="api-server"),
                             entry("github-pat", service="api-server", index=2)))
    assert gate("CRITICAL", allow, service="api-server").passed
    other = gate("CRITICAL", allow, service="web")
    assert {f.id for f in other.blocking} == {"CVE-2026-0005", "github-pat"}
    assert other.allowed == ()


def test_ignore_unfixed_leaves_out_vulnerabilities_without_a_fix() -> None:
    verdict = gate("CRITICAL", ignore_unfixed=True)
    assert [f.id for f in verdict.blocking] == ["github-pat"]  # a secret is never "unfixed"
    assert verdict.unfixed == 1
    allow = AllowList(None, (entry("github-pat"),))
    assert gate("CRITICAL", allow, ignore_unfixed=True).passed
    assert not gate("CRITICAL", allow, ignore_unfixed=False).passed


def test_unexpected_severity_counts_as_unknown() -> None:
    data = {"Results": [{"Target": "x", "Vulnerabilities": [vuln("CVE-1", "SEVERE")]}]}
    verdict = gate("UNKNOWN", data=data)
    assert verdict.counts["UNKNOWN"] == 1 and not verdict.passed


# The levels from low to high, as docs/scanning.md lists them (not the code's own tuple).
LEVELS = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
RANK = {"UNKNOWN": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}


def test_the_severity_levels_are_the_documented_ones() -> None:
    assert config.SEVERITIES == LEVELS


@given(threshold=st.sampled_from(LEVELS),
       severities=st.lists(st.sampled_from(LEVELS), max_size=12))
def test_a_finding_blocks_exactly_when_at_or_above_the_threshold(
        threshold: str, severities: list[str]) -> None:
    data = {"Results": [{"Target": "t", "Vulnerabilities": [
        vuln(f"CVE-{i}", s) for i, s in enumerate(severities)]}]}
    verdict = gate(threshold, data=data)
    expected = [s for s in severities if RANK[s] >= RANK[threshold]]
    assert sorted(f.severity for f in verdict.blocking) == sorted(expected)
    assert verdict.passed == (not expected)


def test_scrub_masks_every_copy_of_a_found_secret() -> None:
    data = report()
    assert TOKEN in json.dumps(data)
    assert scan_gate.scrub(data)
    assert TOKEN not in json.dumps(data)
    assert data["Metadata"]["ImageConfig"]["config"]["Env"] == ["PATH=***", "GITHUB_TOKEN=***"]
    assert scan_gate.findings(data) == scan_gate.findings(report())  # the findings stay


def test_scrub_leaves_a_report_without_secrets_alone() -> None:
    data = report()
    data["Results"] = [r for r in data["Results"] if r["Class"] != "secret"]
    before = copy.deepcopy(data)
    assert not scan_gate.scrub(data)
    assert data == before


def test_summary_and_failure_message() -> None:
    failing = gate("CRITICAL")
    passing = gate("CRITICAL", service="web", data={"ArtifactName": IMAGE})
    columns, rows = scan_gate.summary([failing, passing], show_unfixed=True)
    assert columns == ("service", "CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN", "allowed",
                       "expired", "unfixed", "result")
    assert rows == [("api-server", "2", "2", "1", "1", "1", "0", "0", "0", "FAIL (2 blocking)"),
                    ("web", "0", "0", "0", "0", "0", "0", "0", "0", "pass")]
    assert scan_gate.failure([passing]) is None
    assert scan_gate.failure([failing, passing]) == (
        "scan gate failed for api-server: 2 findings at or above CRITICAL, first api-server: "
        "CRITICAL secret github-pat in /app.env (GitHub Personal Access Token)")


def test_record_entry_keeps_counts_and_ids_only() -> None:
    entry_ = scan_gate.record_entry(gate("CRITICAL"))
    assert entry_["blocking_ids"] == ["CVE-2026-0005", "github-pat"]
    assert entry_["passed"] is False and entry_["counts"]["CRITICAL"] == 2
    assert TOKEN not in json.dumps(entry_)
