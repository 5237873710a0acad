"""trivy argv builders: the version, the vulnerability DB, the image scan, the SBOM. Pure.

Every call names its cache dir and turns off what would otherwise change results behind the
user's back: `--config ''`, `--ignorefile ''` and `--secret-config ''` stop trivy from reading
trivy.yaml, .trivyignore and trivy-secret.yaml from the working directory (shipyard's allow
list is the one place to accept a finding); `--skip-check-update` and `--skip-version-check`
keep it off the network; scans never download the DB (`--skip-db-update`): `download_db` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

Argv = tuple[str, ...]
IMAGE_CONFIG_SCANNERS = ("misconfig", "secret")
SCAN_TIMEOUT = "30m"


def version(trivy: str) -> Argv:
    return (trivy, "version", "--format", "json")


def _quiet_flags(cache_dir: Path) -> list[str]:
    return ["--cache-dir", str(cache_dir), "--config", "", "--skip-check-update",
            "--skip-version-check", "--no-progress"]


def download_db(trivy: str, *, cache_dir: Path, db_repository: str | None = None) -> Argv:
    """Fetch or refresh the vulnerability DB into the cache (trivy skips it while fresh)."""
    argv = [trivy, "image", "--download-db-only", *_quiet_flags(cache_dir)]
    if db_repository:
        argv += ["--db-repository", db_repository]
    return tuple(argv)


def scan_image(
    trivy: str,
    image: str,
    *,
    cache_dir: Path,
    scanners: Sequence[str],
    output: Path,
    timeout: str = SCAN_TIMEOUT,
) -> Argv:
    """JSON report of every severity for an image in the local Docker engine."""
    config_scanners = [s for s in IMAGE_CONFIG_SCANNERS if s in scanners]
    argv = [trivy, "image", *_quiet_flags(cache_dir), "--skip-db-update",
            "--image-src", "docker", "--scanners", ",".join(scanners)]
    if config_scanners:
        argv += ["--image-config-scanners", ",".join(config_scanners)]
    argv += ["--ignorefile", "", "--secret-config", "", "--list-all-pkgs", "--timeout", timeout,
             "--format", "json", "--output", str(output), image]
    return tuple(argv)


def sbom(trivy: str, report: Path, output: Path) -> Argv:
    """A CycloneDX SBOM from a JSON report made with --list-all-pkgs: no second image scan."""
    return (trivy, "convert", "--config", "", "--ignorefile", "", "--format", "cyclonedx",
            "--output", str(output), str(report))
