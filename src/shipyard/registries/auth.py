"""How the registry client and docker authenticate to a registry.

`Anonymous` for the local registry. `TokenLogin` for registries that take an OAuth2 access
token as the password of `oauth2accesstoken` (Artifact Registry: the token of
`gcloud auth print-access-token`). The token is fetched once, when first needed, and registered
with the redactor; it never reaches argv, a log, or a file:
- the registry client answers the registry's challenge (`WWW-Authenticate: Basic`, or `Bearer
  realm=...` with the distribution token exchange);
- docker gets it from shipyard's credential helper (`docker-credential-shipyard`, which reads
  it from its own environment), named in a per-run DOCKER_CONFIG whose config.json holds no
  secret; the user's ~/.docker/config.json is never read or written.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

TOKEN_ENV = "SHIPYARD_REGISTRY_TOKEN"  # read by docker-credential-shipyard
USERNAME = "oauth2accesstoken"
HELPER = "shipyard"  # docker runs docker-credential-shipyard
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class RegistryAuth(Protocol):
    def headers(self) -> dict[str, str]:
        """HTTP headers for the registry API (empty for anonymous access)."""

    def answer(self, challenge: str, fetch: Callable[[str, dict[str, str]], bytes]
               ) -> dict[str, str] | None:
        """Headers that answer a 401's WWW-Authenticate, or None when it cannot."""

    def docker_env(self, host: str) -> dict[str, str]:
        """Environment for the docker commands that talk to `host` ({} for anonymous)."""


class Anonymous:
    def headers(self) -> dict[str, str]:
        return {}

    def answer(self, challenge: str, fetch: Callable[[str, dict[str, str]], bytes]
               ) -> dict[str, str] | None:
        return None

    def docker_env(self, host: str) -> dict[str, str]:
        return {}


@dataclass
class TokenLogin:
    """Username `oauth2accesstoken`, password an access token from `fetch` (called once)."""

    fetch: Callable[[], str]
    on_token: Callable[[str], None] = lambda token: None  # e.g. the runner's redactor.add
    _token: str | None = field(default=None, repr=False)
    _headers: dict[str, str] = field(default_factory=dict, repr=False)
    _config: Path | None = field(default=None, repr=False)

    def token(self) -> str:
        if self._token is None:
            self._token = self.fetch().strip()
            self.on_token(self._token)
        return self._token

    def basic(self) -> str:
        pair = f"{USERNAME}:{self.token()}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def headers(self) -> dict[str, str]:
        return dict(self._headers)

    def answer(self, challenge: str, fetch: Callable[[str, dict[str, str]], bytes]
               ) -> dict[str, str] | None:
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            self._headers = {"Authorization": self.basic()}
        elif scheme == "bearer":
            params = dict(_CHALLENGE.findall(challenge))
            if "realm" not in params:
                return None
            query = "&".join(f"{k}={params[k]}" for k in ("service", "scope") if k in params)
            url = params["realm"] + (f"?{query}" if query else "")
            body = json.loads(fetch(url, {"Authorization": self.basic()}) or b"{}")
            registry_token = body.get("token") or body.get("access_token")
            if not registry_token:
                return None
            self._headers = {"Authorization": f"Bearer {registry_token}"}
        else:
            return None
        return self.headers()

    def docker_env(self, host: str) -> dict[str, str]:
        if self._config is None:
            self._config = Path(tempfile.mkdtemp(prefix="shipyard-docker-"))
            # No secret in here: docker asks the helper, which reads TOKEN_ENV.
            (self._config / "config.json").write_text(json.dumps({"credHelpers": {host: HELPER}}))
        helpers = str(Path(sys.executable).parent)  # where pip put docker-credential-shipyard
        return {"DOCKER_CONFIG": str(self._config), TOKEN_ENV: self.token(),
                "PATH": f"{helpers}{os.pathsep}{os.environ.get('PATH', '')}"}


def credential_helper() -> None:
    """`docker-credential-shipyard get|store|erase|list` (docker's credential helper protocol):
    `get` answers with the token from $SHIPYARD_REGISTRY_TOKEN; nothing is ever stored."""
    action = sys.argv[1] if len(sys.argv) > 1 else ""
    if action == "get":
        server = sys.stdin.read().strip()
        token = os.environ.get(TOKEN_ENV)
        if not token:
            sys.stdout.write("credentials not found in native keychain\n")
            raise SystemExit(1)
        json.dump({"ServerURL": server, "Username": USERNAME, "Secret": token}, sys.stdout)
    elif action == "list":
        sys.stdout.write("{}")
    elif action in ("store", "erase"):
        sys.stdin.read()  # shipyard never stores a credential
    else:
        sys.stderr.write("usage: docker-credential-shipyard get|store|erase|list\n")
        raise SystemExit(2)
