"""How the registry client and docker authenticate to a registry.

`Anonymous` for the local registry. `BearerToken` for registries that take an OAuth2 access
token (Artifact Registry: `gcloud auth print-access-token` or google-auth's default
credentials); the token is fetched when first needed and never reaches argv or a log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class RegistryAuth(Protocol):
    def headers(self) -> dict[str, str]:
        """HTTP headers for the registry API (empty for anonymous access)."""


class Anonymous:
    def headers(self) -> dict[str, str]:
        return {}


@dataclass
class BearerToken:
    """`Authorization: Bearer TOKEN`; `fetch` is called once, on first use."""

    fetch: Callable[[], str]
    _token: str | None = field(default=None, repr=False)

    def token(self) -> str:
        if self._token is None:
            self._token = self.fetch().strip()
        return self._token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}
