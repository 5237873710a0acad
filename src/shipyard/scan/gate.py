"""The scan gate, pure: trivy JSON report → findings → allow list → counts → pass or fail.

trivy reports every severity; the threshold, the allow list (reasons, expiry) and
--ignore-unfixed are applied here, so the report on disk always holds the whole picture.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.config import SEVERITIES
from shipyard.scan.allowlist import AllowList

VULN, SECRET, MISCONFIG = "vuln", "secret", "misconfig"
MASKED = "<masked by shipyard: this image holds a secret>"


@dataclass(frozen=True)
class ScanSettings:
    """What one run scans for and how it judges: the policy with the flags on top."""

    severity: str
    scanners: tuple[str, ...]
    ignore_unfixed: bool
    db_repository: str | None

    @property
    def limited(self) -> bool:
        return "vuln" not in self.scanners

    def describe(self) -> str:
        text = f"threshold {self.severity}, scanners {', '.join(self.scanners)}"
        if self.ignore_unfixed:
            text += ", unfixed vulnerabilities ignored"
        if self.limited:
            text += " (LIMITED: no vulnerability scan, as set by scan.scanners)"
        return text


@dataclass(frozen=True)
class Finding:
    kind: str  # vuln | secret | misconfig
    id: str
    severity: str  # one of SEVERITIES
    target: str  # the file, package list or image it was found in
    title: str = ""
    fixed: bool = True  # vulnerabilities: a FixedVersion exists

    def describe(self) -> str:
        title = f" ({self.title})" if self.title else ""
        return f"{self.severity} {self.kind} {self.id} in {self.target}{title}"


@dataclass(frozen=True)
class Verdict:
    service: str
    threshold: str
    counts: Mapping[str, int]  # findings that count, by severity (allowed ones excluded)
    blocking: tuple[Finding, ...]  # counted findings at or above the threshold
    allowed: tuple[str, ...] = ()  # ids let through by a valid allow-list entry
    expired: tuple[str, ...] = ()  # ids that only an expired entry would have let through
    unfixed: int = 0  # vulnerabilities left out by --ignore-unfixed
    total: int = 0  # every finding in the report

    @property
    def passed(self) -> bool:
        return not self.blocking


def rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def normal_severity(value: object) -> str:
    text = str(value or "").upper()
    return text if text in SEVERITIES else "UNKNOWN"


def findings(report: Mapping[str, Any]) -> list[Finding]:
    """Every finding in a trivy JSON report (vulnerabilities, secrets, failed checks)."""
    found: list[Finding] = []
    image = report.get("ArtifactName")
    for result in report.get("Results") or []:
        target = str(result.get("Target", ""))
        if target == image and result.get("Class") in ("secret", "config"):
            target = "the image config"
        # OS packages: Target is "IMAGE (alpine 3.19.1)"; language packages: a file path.
        where = target.removeprefix(f"{image} (").removesuffix(")") if image else target
        for vuln in result.get("Vulnerabilities") or []:
            package = f"{vuln.get('PkgName', '?')} {vuln.get('InstalledVersion', '')}".strip()
            found.append(Finding(
                VULN, str(vuln.get("VulnerabilityID", "?")), normal_severity(vuln.get("Severity")),
                f"{package} ({where})", str(vuln.get("Title") or ""),
                fixed=bool(vuln.get("FixedVersion")),
            ))
        for secret in result.get("Secrets") or []:
            found.append(Finding(SECRET, str(secret.get("RuleID", "?")),
                                 normal_severity(secret.get("Severity")), target,
                                 str(secret.get("Title") or "")))
        for check in result.get("Misconfigurations") or []:
            if str(check.get("Status", "FAIL")).upper() != "FAIL":
                continue
            check_id = str(check.get("ID") or check.get("AVDID") or "?")
            found.append(Finding(MISCONFIG, check_id, normal_severity(check.get("Severity")),
                                 target, str(check.get("Title") or "")))
    return found


def judge(service: str, found: Iterable[Finding], allow: AllowList, *, threshold: str,
          ignore_unfixed: bool, today: dt.date) -> Verdict:
    """Decide one service: which findings count, which are allowed, and whether it passes."""
    active, expired = allow.active(today), allow.expired(today)
    counts = dict.fromkeys(SEVERITIES, 0)
    blocking: list[Finding] = []
    allowed: set[str] = set()
    expired_hits: set[str] = set()
    unfixed = total = 0
    for finding in found:
        total += 1
        if any(e.covers(finding.id, service) for e in active):
            allowed.add(finding.id)
            continue
        if any(e.covers(finding.id, service) for e in expired):
            expired_hits.add(finding.id)
        if ignore_unfixed and finding.kind == VULN and not finding.fixed:
            unfixed += 1
            continue
        counts[finding.severity] += 1
        if rank(finding.severity) >= rank(threshold):
            blocking.append(finding)
    blocking.sort(key=lambda f: (-rank(f.severity), f.kind, f.id, f.target))
    return Verdict(service, threshold, counts, tuple(blocking), tuple(sorted(allowed)),
                   tuple(sorted(expired_hits)), unfixed, total)


def scrub(report: dict[str, Any]) -> bool:
    """Mask, in place, the report fields that can repeat a secret trivy found in the image.

    trivy masks the secret in its finding, but also copies the image's build history (a
    `RUN echo TOKEN=...` step), its ENV values and the reconstructed Dockerfile lines verbatim.
    When the report has any secret finding, those copies are masked. Returns whether it did.
    """
    if not any(f.kind == SECRET for f in findings(report)):
        return False
    image_config = (report.get("Metadata") or {}).get("ImageConfig") or {}
    for step in image_config.get("history") or []:
        if "created_by" in step:
            step["created_by"] = MASKED
    settings = image_config.get("config") or {}
    if settings.get("Env"):
        settings["Env"] = [f"{str(v).split('=', 1)[0]}=***" for v in settings["Env"]]
    for result in report.get("Results") or []:
        for secret in result.get("Secrets") or []:
            if isinstance(secret.get("Layer"), dict) and "CreatedBy" in secret["Layer"]:
                secret["Layer"]["CreatedBy"] = MASKED
        for check in result.get("Misconfigurations") or []:
            code = (check.get("CauseMetadata") or {}).get("Code") or {}
            for line in code.get("Lines") or []:
                line.update(Content=MASKED, Highlighted=MASKED)
    return True


def record_entry(verdict: Verdict) -> dict[str, Any]:
    """What the release record keeps of a verdict: counts and ids, never finding contents."""
    return {
        "counts": dict(verdict.counts),
        "blocking": len(verdict.blocking),
        "blocking_ids": sorted({f.id for f in verdict.blocking}),
        "allowed": list(verdict.allowed),
        "expired": list(verdict.expired),
        "unfixed_ignored": verdict.unfixed,
        "passed": verdict.passed,
    }


def summary(verdicts: Sequence[Verdict], show_unfixed: bool = False
            ) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Columns and rows of the summary table: counts by severity, highest first."""
    severities = tuple(reversed(SEVERITIES))
    extra = ("unfixed",) if show_unfixed else ()
    columns = ("service", *severities, "allowed", "expired", *extra, "result")
    rows = []
    for v in verdicts:
        result = "pass" if v.passed else f"FAIL ({len(v.blocking)} blocking)"
        unfixed = (str(v.unfixed),) if show_unfixed else ()
        rows.append((v.service, *(str(v.counts[s]) for s in severities), str(len(v.allowed)),
                     str(len(v.expired)), *unfixed, result))
    return columns, rows


def failure(verdicts: Sequence[Verdict]) -> str | None:
    """The one-line error when the gate fails, naming the first blocking finding; else None."""
    failed = [v for v in verdicts if not v.passed]
    if not failed:
        return None
    count = sum(len(v.blocking) for v in failed)
    first = failed[0]
    names = ", ".join(v.service for v in failed)
    plural = "finding" if count == 1 else "findings"
    return (f"scan gate failed for {names}: {count} {plural} at or above {first.threshold}, "
            f"first {first.service}: {first.blocking[0].describe()}")
