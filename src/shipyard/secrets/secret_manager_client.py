"""How shipyard reaches Google Secret Manager: which endpoint, which credentials, one client.

The client (google-cloud-secret-manager, REST transport) is made on first use and once per run
(secret_manager_api.py). Credentials: `CLOUDSDK_AUTH_ACCESS_TOKEN` when set (as gcloud honours
it), else google-auth's application default credentials. `SHIPYARD_SECRETMANAGER_ENDPOINT` (or
gcloud's own `CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER`) points it at another endpoint,
e.g. a test stand-in on `http://127.0.0.1:PORT`; a plain-http endpoint gets no credentials
unless a token is set, so a real token never travels unencrypted.

The google libraries are imported inside the functions: they take about half a second, and
`invoke --list`, local environments and config checks never need them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from shipyard.errors import ShipyardError, UsageError

if TYPE_CHECKING:
    from google.cloud.secretmanager import SecretManagerServiceClient

ENDPOINT_ENV = "SHIPYARD_SECRETMANAGER_ENDPOINT"
GCLOUD_ENDPOINT_ENV = "CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER"
TOKEN_ENV = "CLOUDSDK_AUTH_ACCESS_TOKEN"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
CREDENTIALS_HINT = ("log in with `gcloud auth application-default login`, or set "
                    f"GOOGLE_APPLICATION_CREDENTIALS, or export {TOKEN_ENV}")


def endpoint(environ: Mapping[str, str]) -> str | None:
    """The endpoint override, `scheme://host[:port]`, or None for Google's own."""
    value = environ.get(ENDPOINT_ENV) or environ.get(GCLOUD_ENDPOINT_ENV)
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") \
            or parts.query or parts.fragment:
        source = ENDPOINT_ENV if environ.get(ENDPOINT_ENV) else GCLOUD_ENDPOINT_ENV
        raise UsageError(f"{source}={value!r} is not an endpoint URL",
                         hint="write scheme://HOST[:PORT], e.g. http://127.0.0.1:8085")
    return f"{parts.scheme}://{parts.netloc}"


def make_client(environ: Mapping[str, str]) -> SecretManagerServiceClient:
    """The Secret Manager client for this run; see the module docstring for the rules."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials, Credentials
    from google.cloud.secretmanager import SecretManagerServiceClient

    url = endpoint(environ)
    token = environ.get(TOKEN_ENV)
    credentials: Credentials
    if token:
        from google.oauth2.credentials import Credentials as TokenCredentials

        credentials = TokenCredentials(token=token)  # type: ignore[no-untyped-call]
    elif url is not None and url.startswith("http://"):
        credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
    else:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            credentials, _project = google.auth.default(scopes=list(SCOPES))
        except DefaultCredentialsError as exc:
            raise ShipyardError(f"no Google credentials for Secret Manager: {exc}",
                                hint=CREDENTIALS_HINT) from None
    options = ClientOptions(api_endpoint=url) if url else None
    # REST rather than gRPC: the transport the stand-in tests exercise is the one that runs.
    return SecretManagerServiceClient(credentials=credentials, transport="rest",
                                      client_options=options)
