"""The scan stage against the FakeRunner: trivy gets the image id; the gate decides."""

from __future__ import annotations

import json

import pytest

from shipyard.errors import ShipyardError
from shipyard.scan.gate import Verdict
from shipyard.stages.build import build_images
from shipyard.stages.scan import scan_images, settings_for
from tests.unit.fake_app import Fakes
from tests.unit.fakes import misconfig, vuln


def built(fakes: Fakes) -> dict[str, str]:
    ctx = fakes.context()
    build_images(ctx)
    return {name: str(entry["image_id"]) for name, entry in ctx.record.images.items()}


def scan(fakes: Fakes) -> list[Verdict]:
    ctx = fakes.context()
    return scan_images(ctx, settings_for(ctx.env, None, False))


def test_trivy_scans_the_image_id_this_release_built_not_the_tag(fakes: Fakes) -> None:
    ids = built(fakes)
    fakes.engine.add({"dev.shipyard.service": "api"}, fakes.ref("api"), seed="moved since")
    since = len(fakes.runner.executed)
    scan(fakes)

    trivy = str(fakes.root.parent / "fake-bin" / "trivy")
    cache, reports = fakes.root / ".shipyard/cache", fakes.root / ".shipyard/reports/v1.0.0"
    quiet = ("--config", "", "--skip-check-update", "--skip-version-check", "--no-progress")

    def image(name: str) -> tuple[str, ...]:  # each service has its own layer cache
        return (trivy, "image", "--cache-dir", f"{cache}/trivy-images/{name}", *quiet,
                "--skip-db-update", "--image-src", "docker",
                "--scanners", "vuln,secret,misconfig", "--image-config-scanners",
                "misconfig,secret", "--ignorefile", "", "--secret-config", "", "--list-all-pkgs",
                "--timeout", "30m", "--format", "json",
                "--output", f"{reports}/{name}.trivy.json", ids[name])

    def sbom(name: str) -> tuple[str, ...]:
        return (trivy, "convert", "--config", "", "--ignorefile", "", "--format", "cyclonedx",
                "--output", f"{reports}/{name}.cdx.json", f"{reports}/{name}.trivy.json")

    assert fakes.runner.ran("trivy", since=since) == [
        (trivy, "version", "--format", "json"),
        (trivy, "image", "--download-db-only", "--cache-dir", f"{cache}/trivy", *quiet),
        image("api"), sbom("api"), image("web"), sbom("web"),
    ]
    report = json.loads((reports / "api.trivy.json").read_text())
    assert report["ArtifactName"] == fakes.ref("api")  # named for people, scanned by id
    assert report["Metadata"]["ImageID"] == ids["api"]
    assert report["Results"][0]["Target"] == f"{fakes.ref('api')} (debian 12.8)"


def test_a_critical_finding_fails_the_gate_with_what_blocks(
        fakes: Fakes, capsys: pytest.CaptureFixture[str]) -> None:
    built(fakes)
    fakes.trivy.findings["api"] = [vuln("CVE-2024-0001", "CRITICAL"),
                                   vuln("CVE-2024-0002", "HIGH"),
                                   misconfig("DS002", "CRITICAL")]
    with pytest.raises(ShipyardError) as caught:
        scan(fakes)

    assert caught.value.message == (
        "scan gate failed for api: 2 findings at or above CRITICAL, first api: CRITICAL "
        "misconfig DS002 in the image config (DS002 title)")
    err = capsys.readouterr().err
    assert "blocking: api: CRITICAL misconfig DS002 in the image config (DS002 title)\n" in err
    assert ("blocking: api: CRITICAL vuln CVE-2024-0001 in openssl 3.0.1 (debian 12.8) "
            "(CVE-2024-0001 title)\n") in err
    assert "CVE-2024-0002" not in err  # HIGH is below the threshold
    record = fakes.context().record.data
    assert record["scan"]["passed"] is False
    assert record["scan"]["services"]["api"]["blocking_ids"] == ["CVE-2024-0001", "DS002"]
    assert record["scan"]["services"]["web"]["passed"] is True
    assert record["stages"]["scan"]["status"] == "failed"


def test_findings_below_the_threshold_pass_the_gate(fakes: Fakes) -> None:
    built(fakes)
    fakes.trivy.findings["api"] = [vuln("CVE-2024-0002", "HIGH")]
    verdicts = scan(fakes)

    assert [(v.service, v.passed) for v in verdicts] == [("api", True), ("web", True)]
    record = fakes.context().record.data
    assert record["scan"]["passed"] is True
    assert record["scan"]["services"]["api"]["counts"]["HIGH"] == 1
    assert record["stages"]["scan"]["status"] == "done"
