"""The [scan] table, and an environment's own [environments.ENV.scan] over it: the Trivy gate's
severity threshold, its scanners, its vulnerability database mirror and allowlist file."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.config.schema import Table

SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
SCANNERS = ("vuln", "secret", "misconfig")


@dataclass(frozen=True)
class ScanPolicy:
    severity: str = "CRITICAL"
    scanners: tuple[str, ...] = SCANNERS
    db_repository: str | None = None
    allowlist: str = "trivy-allowlist.toml"


def parse_scan(t: Table, default: ScanPolicy) -> ScanPolicy:
    """`default`: the policy a key that `t` leaves out keeps (the top-level one, for an
    environment's)."""
    severity = t.get("severity", str, default.severity).upper()
    if severity not in SEVERITIES:
        raise t.fail(t.key("severity"), f"must be one of {', '.join(SEVERITIES)}")
    scanners = t.str_list("scanners") if "scanners" in t.data else default.scanners
    for scanner in scanners:
        if scanner not in SCANNERS:
            raise t.fail(t.key("scanners"), f"unknown scanner {scanner!r} ({', '.join(SCANNERS)})")
    if not scanners:
        raise t.fail(t.key("scanners"), "name at least one scanner")
    policy = ScanPolicy(
        severity=severity,
        scanners=tuple(scanners),
        db_repository=t.get("db_repository", str, default.db_repository),
        allowlist=t.get("allowlist", str, default.allowlist),
    )
    t.done()
    return policy
