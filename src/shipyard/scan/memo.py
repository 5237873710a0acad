"""Scan reports remembered by what decides them, so an image scanned once is not scanned again.

A trivy report depends on the image (its id: the config digest), the trivy version, the
scanners and the vulnerability DB's version; nothing else. Those make the key. The verdict is
never stored: it is judged again from the report at every run (pure, milliseconds), so a
changed threshold, allow list or an allow-list entry that expired since always counts.
Entries live under `.shipyard/cache/scans/KEY/`, each written whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPORT, SBOM, META = "report.json", "sbom.cdx.json", "meta.json"


def scan_key(image_id: str, trivy: str, scanners: Sequence[str], db: str) -> str:
    body = json.dumps({"image": image_id, "trivy": trivy, "scanners": sorted(scanners),
                       "db": db}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Remembered:
    report: Path
    sbom: Path
    meta: dict[str, Any]


class ScanMemo:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, key: str) -> Remembered | None:
        entry = self.folder / key
        try:
            meta = json.loads((entry / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not (entry / REPORT).is_file() or not (entry / SBOM).is_file():
            return None
        return Remembered(entry / REPORT, entry / SBOM, dict(meta))

    def put(self, key: str, report: Path, sbom: Path, meta: dict[str, Any]) -> None:
        """Atomic: a kill -9 leaves either the whole entry or none (a temp dir is swept)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=self.folder))
        try:
            shutil.copyfile(report, staging / REPORT)
            shutil.copyfile(sbom, staging / SBOM)
            (staging / META).write_text(json.dumps(meta, sort_keys=True), encoding="utf-8")
            target = self.folder / key
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
