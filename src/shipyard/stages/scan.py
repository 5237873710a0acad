"""Fase 1: scan each built image with trivy and gate the release on what it finds.

trivy writes a JSON report of every severity; the gate (scan_gate) applies the threshold and
the allow list. Services are scanned in parallel, bounded like builds, each with its own layer
cache (trivy processes that share one wait on each other's lock). A report is remembered by
image id, trivy version, scanners and DB version (scan/memo.py) and reused; the verdict is
judged again every time, so a new threshold, allow list or expiry always counts.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard import ui
from shipyard.build import images
from shipyard.commands import trivy as trivycmd
from shipyard.config import SEVERITIES, Config, Environment, Service
from shipyard.errors import CommandError, ShipyardError, UsageError
from shipyard.scan import allowlist
from shipyard.scan import gate as scan_gate
from shipyard.scan.gate import ScanSettings, Verdict
from shipyard.scan.memo import ScanMemo, scan_key
from shipyard.scan.trivy import find_trivy, prepare_db, trivy_version
from shipyard.stages.fanout import default_jobs, fan_out
from shipyard.state.records import ReleaseRecord, now, write_json
from shipyard.state.workspace import STATE_DIR
from shipyard.ui import console

SHOWN_FINDINGS = 10

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext

def settings_for(env: Environment, severity: str | None, ignore_unfixed: bool) -> ScanSettings:
    """The environment's policy, with --severity and --ignore-unfixed on top."""
    chosen = (severity or env.scan.severity).upper()
    if chosen not in SEVERITIES:
        raise UsageError(f"unknown severity {severity!r}", hint=f"one of {', '.join(SEVERITIES)}")
    return ScanSettings(chosen, env.scan.scanners, ignore_unfixed, env.scan.db_repository)


class ImageScanner:
    def __init__(self, ctx: RunContext, settings: ScanSettings, allow: allowlist.AllowList,
                 today: dt.date, rescan: bool = False) -> None:
        self.env, self.runner, self.version = ctx.env, ctx.runner, ctx.release
        self.settings, self.allow, self.today, self.rescan = settings, allow, today, rescan
        self.trivy = find_trivy()
        self.root = ctx.config.root
        base = ctx.config.root / STATE_DIR
        self.cache_dir = base / "cache" / "trivy"  # the vulnerability DB
        self.layers = base / "cache" / "trivy-images"  # one layer cache per service
        self.memo = ScanMemo(base / "cache" / "scans")
        self.reports = base / "reports" / str(ctx.release)
        self.trivy_version = ""
        self.db_version = "off"
        self.reused: dict[str, str] = {}  # service → when the remembered scan ran

    def paths(self, service: str) -> tuple[Path, Path]:
        return self.reports / f"{service}.trivy.json", self.reports / f"{service}.cdx.json"

    def service_cache(self, service: str) -> Path:
        """trivy processes sharing a cache dir wait on each other's lock: each service gets its
        own layer cache, the vulnerability DB linked in from the shared one."""
        folder = self.layers / service
        if not self.runner.dry_run:
            folder.mkdir(parents=True, exist_ok=True)
            link, shared = folder / "db", self.cache_dir / "db"
            if shared.is_dir() and not link.exists():
                link.symlink_to(shared.resolve(), target_is_directory=True)
        return folder

    def scan(self, service: Service, tracker: ui.ServiceProgress, image_id: str = ""
             ) -> Verdict | None:
        """Report + SBOM for one image, then its verdict (None in a dry run). A report
        remembered for the same image, trivy, scanners and DB is reused, not made again."""
        ref = images.image_ref(self.env, service, self.version)
        image = image_id or ref
        report, sbom = self.paths(service.name)
        if not self.runner.dry_run:
            for stale in (report, sbom):  # a report on disk is always this run's
                stale.unlink(missing_ok=True)
        key = scan_key(image_id, self.trivy_version, self.settings.scanners,
                       self.db_version) if image_id else None
        hit = None if self.rescan or key is None or self.runner.dry_run else self.memo.get(key)
        if hit is not None:
            shutil.copyfile(hit.report, report)
            shutil.copyfile(hit.sbom, sbom)
            self.reused[service.name] = str(hit.meta.get("at") or "?")
            tracker.say(service.name, f"reusing the scan of {image_id[:19]} from "
                                      f"{self.reused[service.name]}")
        else:
            tracker.say(service.name, f"scanning {ref}" +
                        (f" ({image_id[:19]})" if image_id else ""))
            self._trivy(trivycmd.scan_image(self.trivy, image,
                                            cache_dir=self.service_cache(service.name),
                                            scanners=self.settings.scanners, output=report),
                        image, lambda line: tracker.update(service.name, line.split("\t")[-1]))
            if self.runner.dry_run:
                self.runner.run(trivycmd.sbom(self.trivy, report, sbom))
                tracker.done(service.name, "planned")
                return None
            self._finish(report, sbom, ref, image_id)
            if key is not None:
                self.memo.put(key, report, sbom, {"at": now(), "image": image_id, "ref": ref})
        data = json.loads(report.read_text(encoding="utf-8"))
        verdict = scan_gate.judge(service.name, scan_gate.findings(data), self.allow,
                                  threshold=self.settings.severity,
                                  ignore_unfixed=self.settings.ignore_unfixed, today=self.today)
        blocking = len(verdict.blocking)
        outcome = "passed" if verdict.passed else f"FAILED ({blocking} blocking)"
        tracker.done(service.name, outcome + (" (scan reused)" if hit else ""))
        return verdict

    def _finish(self, report: Path, sbom: Path, ref: str, image_id: str) -> None:
        """Name the image in the report, mask any secret trivy quoted, then the SBOM."""
        data = json.loads(report.read_text(encoding="utf-8"))
        renamed = bool(image_id) and data.get("ArtifactName") != ref
        if renamed:  # scanned by id; the id stays in Metadata.ImageID, the name says what it is
            scanned = str(data.get("ArtifactName") or image_id)
            data["ArtifactName"] = ref
            for result in data.get("Results") or []:  # trivy names these after the image too
                target = str(result.get("Target", ""))
                if target == scanned or target.startswith(f"{scanned} ("):
                    result["Target"] = ref + target[len(scanned):]
        if scan_gate.scrub(data) or renamed:
            write_json(report, data)
        self.runner.run(trivycmd.sbom(self.trivy, report, sbom), timeout=600)

    def _trivy(self, argv: Sequence[str], image: str, on_line: Callable[[str], None]) -> None:
        try:
            self.runner.run(argv, timeout=2100, on_line=on_line,
                            hint="see trivy's output above; rerun when it is fixed")
        except CommandError as exc:
            if "no such image" in exc.stderr_tail.lower():
                exc.message = f"image {image} is not in the local Docker engine"
                exc.hint = f"build it first: invoke build --version {self.version}"
            raise


def load_allowlist(config: Config, env: Environment) -> allowlist.AllowList:
    path = config.root / env.scan.allowlist
    return allowlist.load(path, [s.name for s in config.services], shown_as=env.scan.allowlist)


def scan_images(ctx: RunContext, settings: ScanSettings, today: dt.date | None = None,
                rescan: bool = False) -> list[Verdict]:
    """Scan every service's image, print the summary, record it; exit 1 when the gate fails.
    The image scanned is the one this release's build recorded (by id), not whatever the
    version tag points at now: another checkout may have built the same tag since."""
    config, env, runner, version = ctx.config, ctx.env, ctx.runner, ctx.release
    services, record = ctx.services, ctx.record
    today = today or dt.date.today()
    allow = load_allowlist(config, env)  # bad entries exit 2 before anything runs
    scanner = ImageScanner(ctx, settings, allow, today, rescan)
    trivy = scanner.trivy_version = trivy_version(runner, scanner.trivy)
    console.note(f"scan: trivy {trivy}; {settings.describe()}")
    _announce_allowlist(allow, env.scan.allowlist, today)
    if not runner.dry_run:
        scanner.reports.mkdir(parents=True, exist_ok=True)
    with record.stage("scan") as stage:
        db = prepare_db(runner, scanner.trivy, settings, scanner.cache_dir)
        scanner.db_version = str(db.get("built") or db["source"])
        console.note(f"scan: vulnerability DB: {db['detail']}")
        workers = 1 if runner.dry_run else (ctx.jobs or default_jobs(len(services)))
        with ui.progress("scan", [s.name for s in services]) as tracker:
            found = fan_out(lambda s: scanner.scan(s, tracker, str(
                record.images.get(s.name, {}).get("image_id") or "")), services,
                [s.name for s in services], workers)
        verdicts = [v for v in found if v is not None]
        if runner.dry_run:
            return verdicts
        scan = _record(record, scanner, db, trivy, verdicts)
        stage.update(passed=scan["passed"], limited=settings.limited)
        columns, rows = scan_gate.summary(verdicts, settings.ignore_unfixed)
        ui.table(f"scan {version} ({settings.severity} and above blocks)", columns, rows)
        console.note(f"scan: reports in {scanner.reports.relative_to(config.root)}/")
        _gate(verdicts)
    return verdicts


def _announce_allowlist(allow: allowlist.AllowList, name: str, today: dt.date) -> None:
    if allow.path is None:
        console.note(f"scan: allow list: none ({name} not found)")
        return
    expired = allow.expired(today)
    console.note(f"scan: allow list: {name}, {len(allow.entries)} entries, "
                 f"{len(expired)} expired")
    for entry in expired:
        scope = f" for {entry.service}" if entry.service else ""
        console.note(f"scan: EXPIRED allow-list entry {entry.index} ({entry.id}{scope}, "
                     f"expired {entry.expires}): it no longer applies")


def _record(record: ReleaseRecord, scanner: ImageScanner, db: dict[str, Any], trivy: str,
            verdicts: Sequence[Verdict]) -> dict[str, Any]:
    """record.data["scan"]: the settings of the last run, and each service's latest verdict."""
    settings = scanner.settings
    scan: dict[str, Any] = record.data.setdefault("scan", {})
    services = scan.setdefault("services", {})
    for verdict in verdicts:
        report, sbom = scanner.paths(verdict.service)
        services[verdict.service] = {
            **scan_gate.record_entry(verdict), "severity": settings.severity, "at": now(),
            "report": str(report.relative_to(scanner.root)),
            "sbom": str(sbom.relative_to(scanner.root)),
            "reused_scan_of": scanner.reused.get(verdict.service),
        }
    scan.update(
        severity=settings.severity, scanners=list(settings.scanners), limited=settings.limited,
        ignore_unfixed=settings.ignore_unfixed, db=db, trivy=trivy,
        expired_entries=sorted({e.id for e in scanner.allow.expired(scanner.today)}),
        passed=all(s["passed"] for s in services.values()), at=now(),
    )
    return scan


def _gate(verdicts: Sequence[Verdict]) -> None:
    for verdict in verdicts:
        for finding in verdict.blocking[:SHOWN_FINDINGS]:
            console.note(f"blocking: {verdict.service}: {finding.describe()}")
        if len(verdict.blocking) > SHOWN_FINDINGS:
            more = len(verdict.blocking) - SHOWN_FINDINGS
            console.note(f"blocking: {verdict.service}: ... and {more} more (see its report)")
    message = scan_gate.failure(verdicts)
    if message:
        raise ShipyardError(message, hint="fix the image, or accept the finding in the allow "
                            "list with a reason and an expiry date (see docs/scanning.md)")
