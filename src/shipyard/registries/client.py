"""Read-only client for the OCI distribution API (the registry's own answers, not CLI text).

Used for digests (Docker-Content-Digest), tag lists and image labels. Plain HTTP is used for
loopback registries only; everything else is HTTPS.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from shipyard.errors import ShipyardError
from shipyard.registries.auth import Anonymous, RegistryAuth

MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))
TIMEOUT = 10.0
ATTEMPTS = 3  # connection failures are retried with backoff: registries restart, networks blip


@dataclass(frozen=True)
class ImageName:
    """`HOST[:PORT]/PATH` split for the registry API."""

    host: str
    path: str

    @classmethod
    def parse(cls, repository: str) -> ImageName:
        host, _, path = repository.partition("/")
        return cls(host, path)

    @property
    def base_url(self) -> str:
        loopback = self.host.split(":")[0] in ("127.0.0.1", "localhost", "[::1]")
        return f"{'http' if loopback else 'https'}://{self.host}/v2/"


class Registry:
    """One client for every registry; `auth` decides how it (and docker) authenticate."""

    def __init__(self, repository: str, auth: RegistryAuth | None = None,
                 attempts: int = ATTEMPTS, backoff: float = 0.5) -> None:
        self.repository = repository
        self.name = ImageName.parse(repository)
        self.auth: RegistryAuth = auth or Anonymous()
        self.attempts = attempts
        self.backoff = backoff

    def _request(self, method: str, url: str, accept: str | None = None
                 ) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = self._send(method, url, accept, self.auth.headers())
        challenge = {k.lower(): v for k, v in headers.items()}.get("www-authenticate")
        if status == 401 and challenge:  # answer the registry's challenge once, then retry
            answer = self.auth.answer(challenge, lambda u, h: self._send("GET", u, None, h)[2])
            if answer is not None:
                status, headers, body = self._send(method, url, accept, answer)
        if status == 401:
            raise ShipyardError(f"registry {self.name.host} refused the credentials (401)",
                                hint="check `gcloud auth print-access-token` works and the "
                                     "account may read the repository")
        return status, headers, body

    def _send(self, method: str, url: str, accept: str | None, headers: dict[str, str]
              ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(url, method=method, headers=headers)
        if accept:
            request.add_header("Accept", accept)

        def once() -> tuple[int, dict[str, str], bytes]:
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                    return response.status, dict(response.headers), response.read()
            except urllib.error.HTTPError as exc:
                return exc.code, dict(exc.headers), exc.read() if method == "GET" else b""

        retrying = Retrying(stop=stop_after_attempt(self.attempts), reraise=True,
                            wait=wait_exponential(multiplier=self.backoff, max=5),
                            retry=retry_if_exception_type((urllib.error.URLError, OSError)))
        try:
            return retrying(once)
        except (urllib.error.URLError, OSError) as exc:
            raise ShipyardError(
                f"registry {self.name.host} is not reachable: {exc}",
                hint="start it with `invoke local-up` (local env) or check the network",
            ) from None

    def docker_env(self) -> dict[str, str]:
        """Environment for docker commands that push to or pull from this registry."""
        return self.auth.docker_env(self.name.host)

    def ping(self) -> bool:
        """One quick try, no retries: used to decide whether to start a local registry."""
        quick = Registry(self.repository, self.auth, attempts=1)
        try:
            status, _, _ = quick._send("GET", self.name.base_url, None, {})
        except ShipyardError:
            return False
        return status in (200, 401)

    def digest(self, repo: str, tag: str) -> str | None:
        """The manifest digest the registry serves for REPO:TAG, or None when the tag is absent."""
        url = f"{self.name.base_url}{self.name.path}/{repo}/manifests/{tag}"
        status, headers, _ = self._request("HEAD", url, MANIFEST_TYPES)
        if status == 404:
            return None
        if status != 200:
            raise ShipyardError(f"registry answered {status} for {repo}:{tag}",
                                hint="check the registry's logs")
        digest = {k.lower(): v for k, v in headers.items()}.get("docker-content-digest")
        if not digest or not digest.startswith("sha256:"):
            raise ShipyardError(f"registry gave no Docker-Content-Digest for {repo}:{tag}")
        return digest

    def tags(self, repo: str) -> list[str]:
        url = f"{self.name.base_url}{self.name.path}/{repo}/tags/list"
        status, _, body = self._request("GET", url)
        if status == 404:
            return []
        if status != 200:
            raise ShipyardError(f"registry answered {status} listing tags of {repo}")
        return list(json.loads(body).get("tags") or [])

    def config_digest(self, repo: str, reference: str) -> str | None:
        """The image config's digest (what docker calls the image ID) of a single-platform
        manifest, or None when there is no such manifest."""
        url = f"{self.name.base_url}{self.name.path}/{repo}/manifests/{reference}"
        status, _, body = self._request("GET", url, MANIFEST_TYPES)
        if status != 200:
            return None
        manifest: dict[str, Any] = json.loads(body)
        digest = (manifest.get("config") or {}).get("digest")
        return str(digest) if digest else None

    def labels(self, repo: str, reference: str) -> dict[str, str]:
        """The image config's labels for a tag or digest (single-platform manifests)."""
        config_digest = self.config_digest(repo, reference)
        if not config_digest:
            return {}
        base = f"{self.name.base_url}{self.name.path}/{repo}"
        status, _, blob = self._request("GET", f"{base}/blobs/{config_digest}")
        if status != 200:
            return {}
        config = json.loads(blob).get("config") or {}
        return dict(config.get("Labels") or {})
