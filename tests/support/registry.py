"""A real CNCF distribution registry (Debian docker-registry) on a free loopback port."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import suppress
from pathlib import Path

from tests.support.ports import free_port

MANIFESTS = ("application/vnd.docker.distribution.manifest.v2+json, "
             "application/vnd.oci.image.manifest.v1+json")


class LocalRegistryProcess:
    """`docker-registry serve` with filesystem storage under `home`; its output, one access log
    line per request, goes to `home/registry.log`."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.log_path = home / "registry.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start it and wait (20 s at most) until it answers; RuntimeError when it does not."""
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {self.home / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n"
        )
        with self.log_path.open("ab") as sink:
            self.proc = subprocess.Popen(("docker-registry", "serve", str(config)),
                                         stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with suppress(OSError):
                urllib.request.urlopen(f"{self.url}/v2/", timeout=1).close()
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"the registry did not start on {self.url}; see {self.log_path}")

    def stop(self) -> None:
        """Kill it (at once, as a crash would: tests stop it in the middle of a push)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def delete_manifest(self, repo: str, digest: str) -> None:
        """DELETE /v2/REPO/manifests/DIGEST (the registry runs with delete enabled)."""
        request = urllib.request.Request(f"{self.url}/v2/{repo}/manifests/{digest}",
                                         method="DELETE")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 202, response.status

    def digest(self, repo: str, tag: str) -> str | None:
        """Docker-Content-Digest straight from the registry API (not through shipyard)."""
        request = urllib.request.Request(f"{self.url}/v2/{repo}/manifests/{tag}", method="HEAD",
                                         headers={"Accept": MANIFESTS})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return str(response.headers["Docker-Content-Digest"])
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def config_digest(self, repo: str, reference: str) -> str:
        """The image config digest (docker's image id) of a manifest, read from the API."""
        request = urllib.request.Request(f"{self.url}/v2/{repo}/manifests/{reference}",
                                         headers={"Accept": MANIFESTS})
        with urllib.request.urlopen(request, timeout=5) as response:
            return str(json.loads(response.read())["config"]["digest"])
