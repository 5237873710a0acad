"""Fase 1 task: scan the built images with trivy and gate the release on the findings."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from shipyard.tasks._kit import DRY_RUN_HELP, ENV_HELP, expected_failures, run_context


@task(
    iterable=["service"],
    help={
        "version": "release version whose images to scan, e.g. v1.1.0 (built by invoke build)",
        "env": ENV_HELP,
        "service": "scan only this service (repeatable; default: all)",
        "severity": "lowest severity that fails the gate: UNKNOWN, LOW, MEDIUM, HIGH or "
                    "CRITICAL (default: scan.severity from shipyard.toml, else CRITICAL)",
        "ignore-unfixed": "vulnerabilities with no fixed version do not count toward the gate",
        "rescan": "scan again even when a report for the same image, trivy, scanners and DB "
                  "is remembered",
        "jobs": "images scanned at once, a whole number from 1 up (default: min(services, "
                "CPU cores))",
        "dry-run": DRY_RUN_HELP,
    },
)
@expected_failures
def scan(
    c: Context,
    version: str | None = None,
    env: str = "local",
    service: list[str] | None = None,
    severity: str | None = None,
    ignore_unfixed: bool = False,
    rescan: bool = False,
    jobs: str | None = None,
    dry_run: bool = False,
) -> None:
    """Scan each image PREFIX/SERVICE:VERSION for vulnerabilities, secrets and misconfigurations.

    Fails (exit 1) on findings at or above the threshold that the allow list (scan.allowlist,
    default trivy-allowlist.toml) does not accept. Writes each service's trivy JSON report and
    CycloneDX SBOM to .shipyard/reports/VERSION/ and records the outcome in the release record.
    Images are scanned in parallel; an image already scanned with the same trivy, scanners and
    DB reuses that report (the verdict is always judged anew); --rescan scans again.
    """
    from shipyard.stages.scan import scan_images, settings_for  # keeps `invoke --list` quick

    ctx = run_context(c, env=env, version=version, services=service, jobs=jobs,
                      dry_run=dry_run)
    scan_images(ctx, settings_for(ctx.env, severity, ignore_unfixed), rescan=rescan)
