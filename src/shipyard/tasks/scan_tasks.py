"""Fase 1 task: scan the built images with trivy and gate the release on the findings."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from shipyard.ledger import ReleaseRecord
from shipyard.stages.scan import scan_images, settings_for
from shipyard.tasks._kit import (
    DRY_RUN_HELP,
    ENV_HELP,
    expected_failures,
    is_dry_run,
    load_config,
    make_runner,
    require_version,
)


@task(
    iterable=["service"],
    help={
        "version": "release version whose images to scan, e.g. v1.1.0 (built by invoke build)",
        "env": ENV_HELP,
        "service": "scan only this service (repeatable; default: all)",
        "severity": "lowest severity that fails the gate: UNKNOWN, LOW, MEDIUM, HIGH or "
                    "CRITICAL (default: scan.severity from shipyard.toml, else CRITICAL)",
        "ignore-unfixed": "vulnerabilities with no fixed version do not count toward the gate",
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
    dry_run: bool = False,
) -> None:
    """Scan each image PREFIX/SERVICE:VERSION for vulnerabilities, secrets and misconfigurations.

    Fails (exit 1) on findings at or above the threshold that the allow list (scan.allowlist,
    default trivy-allowlist.toml) does not accept. Writes each service's trivy JSON report and
    CycloneDX SBOM to .shipyard/reports/VERSION/ and records the outcome in the release record.
    """
    parsed = require_version(version)
    config = load_config(c)
    environment = config.environment(env)
    services = config.select(service or [])
    settings = settings_for(environment, severity, ignore_unfixed)
    runner = make_runner(config, is_dry_run(c, dry_run))
    record = ReleaseRecord.open(config.root, parsed, environment.name, runner.dry_run)
    scan_images(config, environment, runner, parsed, services, record, settings)
