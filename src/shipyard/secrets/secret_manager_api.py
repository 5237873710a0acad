"""Every Secret Manager call shipyard makes goes through `SecretManagerApi.call`: one client
per run, made on first use; 503 and 429 retried with backoff; and the one place that turns
google-api-core and google-auth exceptions into a ShipyardError naming the secret and the env
var, with a hint. NotFound passes through: what it means depends on the question asked.

No message holds a value: none is in any exception these calls raise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from shipyard.config.targets import SecretRef
from shipyard.errors import ShipyardError
from shipyard.secrets import secret_manager_client
from shipyard.secrets.secret_manager_client import (
    CREDENTIALS_HINT,
    ENDPOINT_ENV,
    GCLOUD_ENDPOINT_ENV,
    TOKEN_ENV,
    endpoint,
)

if TYPE_CHECKING:
    from google.cloud.secretmanager import SecretManagerServiceClient

VIEWER = "roles/secretmanager.viewer"
CALL_TIMEOUT = 30.0  # seconds per API call
TRANSIENT_TRIES = 3  # a call answered 503 or 429 is tried this often in all
BACKOFF = 0.5  # seconds before the first retry; doubled before each next one

T = TypeVar("T")


@dataclass(frozen=True)
class EnvSecret:
    """The secret one env var is mapped to, as the API names it."""

    env: str  # the env var, e.g. DATABASE_URL
    ref: SecretRef
    name: str  # projects/P/secrets/S
    project: str  # the project it lives in, for hints

    @classmethod
    def of(cls, env: str, ref: SecretRef, default_project: str) -> EnvSecret:
        return cls(env, ref, ref.name(default_project), ref.project or default_project)


class SecretManagerApi:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self._client: SecretManagerServiceClient | None = None

    @property
    def client(self) -> SecretManagerServiceClient:
        if self._client is None:
            # Looked up on the module at call time: the contract tests count the clients.
            self._client = secret_manager_client.make_client(self.environ)
        return self._client

    def call(self, about: EnvSecret, call: Callable[[SecretManagerServiceClient], T],
             doing: str = "read", role: str = VIEWER) -> T:
        """One API call; NotFound passes through, every other failure becomes a ShipyardError
        naming the secret and the env var. `doing` and `role`: what the call does, and the
        role it needs, for the messages."""
        from google.api_core import exceptions as api
        from google.auth import exceptions as auth

        what = f"cannot {doing} {about.ref.reference} ({about.name}) for {about.env}"
        for attempt in range(1, TRANSIENT_TRIES + 1):
            try:
                return call(self.client)
            except api.NotFound:
                raise
            except (api.ServiceUnavailable, api.TooManyRequests) as exc:
                if attempt == TRANSIENT_TRIES:
                    raise ShipyardError(f"{what}: {_status(exc)} after {attempt} tries",
                                        hint="Secret Manager is busy or unavailable; rerun "
                                             "later") from None
                time.sleep(BACKOFF * 2 ** (attempt - 1))
            except api.Forbidden as exc:  # PermissionDenied is one (gRPC); REST raises it plain
                raise ShipyardError(
                    f"{what}: permission denied ({_status(exc)})",
                    hint=f"the deploying account needs {role} on the secret" + (
                        " (metadata and IAM policy only; shipyard never reads values)"
                        if role == VIEWER else "")) from None
            except (api.Unauthorized, auth.GoogleAuthError) as exc:  # Unauthenticated too
                raise ShipyardError(f"{what}: not authenticated ({self._auth_problem(exc)})",
                                    hint=CREDENTIALS_HINT) from None
            except api.GoogleAPICallError as exc:
                raise ShipyardError(f"{what}: {_status(exc)}",
                                    hint="see the Secret Manager status page, or rerun with "
                                         "the same command") from None
            except OSError as exc:  # requests' ConnectionError and Timeout are OSErrors
                raise ShipyardError(f"{what}: Secret Manager did not answer at "
                                    f"{endpoint(self.environ) or 'its default endpoint'} "
                                    f"({type(exc).__name__})",
                                    hint=f"check the network, or unset {ENDPOINT_ENV} / "
                                         f"{GCLOUD_ENDPOINT_ENV} if set by mistake") from None
        raise AssertionError("unreachable")

    def _auth_problem(self, exc: Exception) -> str:
        """google-auth reports a refused token as "cannot be refreshed": say what happened."""
        if self.environ.get(TOKEN_ENV):
            return f"the API refused the access token in {TOKEN_ENV}"
        url = endpoint(self.environ)
        if url is not None and url.startswith("http://"):
            return (f"the API wants credentials, and a plain-http endpoint gets none without "
                    f"{TOKEN_ENV}")
        return _status(exc)


def _status(exc: Exception) -> str:
    """The API's own one-line reason (without the request URL the client prepends)."""
    response: Any = getattr(exc, "response", None)
    try:
        error = response.json()["error"]
        return f"{error['status']}: {error['message']}"
    except Exception:  # not a JSON error body: the exception's own words
        return " ".join(str(exc).split())[:300]
