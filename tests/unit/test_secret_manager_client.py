"""How the Secret Manager source makes its client: credentials, endpoint, and import cost.
(What it asks the API is tested against the stand-in in tests/contract/test_secret_manager.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import google.auth
import pytest
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import DefaultCredentialsError
from google.oauth2.credentials import Credentials

from shipyard.errors import ShipyardError, UsageError
from shipyard.secrets import secret_manager_client
from shipyard.secrets.secret_manager_client import endpoint, make_client

SRC = Path(__file__).resolve().parents[2] / "src"


class FakeAdc(AnonymousCredentials):
    """Stands for whatever google.auth.default() finds (a user login, a key file, metadata)."""


@pytest.fixture
def adc(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    asked: list[Any] = []

    def default(scopes: Any = None, **_: Any) -> tuple[FakeAdc, str]:
        asked.append(scopes)
        return FakeAdc(), "adc-project"  # type: ignore[no-untyped-call]

    monkeypatch.setattr(google.auth, "default", default)
    return asked


def host(client: Any) -> str:
    return str(client._transport._host)


def test_default_credentials_and_googles_endpoint_over_rest(adc: list[Any]) -> None:
    client = make_client({})
    assert isinstance(client._transport._credentials, FakeAdc)
    assert adc == [["https://www.googleapis.com/auth/cloud-platform"]]
    assert host(client) == "https://secretmanager.googleapis.com"
    assert type(client._transport).__name__ == "SecretManagerServiceRestTransport"


def test_a_token_in_the_environment_wins_as_gcloud_lets_it(adc: list[Any]) -> None:
    client = make_client({"CLOUDSDK_AUTH_ACCESS_TOKEN": "tok-123"})
    credentials = client._transport._credentials
    assert isinstance(credentials, Credentials) and credentials.token == "tok-123"
    assert adc == []


def test_a_plain_http_endpoint_gets_no_credentials_without_a_token(adc: list[Any]) -> None:
    client = make_client({"SHIPYARD_SECRETMANAGER_ENDPOINT": "http://127.0.0.1:8085"})
    assert type(client._transport._credentials) is AnonymousCredentials
    assert host(client) == "http://127.0.0.1:8085"
    assert adc == []


def test_an_https_endpoint_uses_the_default_credentials(adc: list[Any]) -> None:
    client = make_client({"CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER":
                          "https://secretmanager.example.test/"})
    assert isinstance(client._transport._credentials, FakeAdc)
    assert host(client) == "https://secretmanager.example.test"


def test_no_default_credentials_is_a_failure_with_a_login_hint(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def default(**_: Any) -> None:
        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", default)
    with pytest.raises(ShipyardError) as info:
        make_client({})
    assert info.value.message == ("no Google credentials for Secret Manager: Your default "
                                  "credentials were not found.")
    assert info.value.hint == ("log in with `gcloud auth application-default login`, or set "
                               "GOOGLE_APPLICATION_CREDENTIALS, or export "
                               "CLOUDSDK_AUTH_ACCESS_TOKEN")
    assert info.value.exit_code == 1


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, None),
    ({"SHIPYARD_SECRETMANAGER_ENDPOINT": "http://127.0.0.1:8085/"}, "http://127.0.0.1:8085"),
    ({"CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER": "http://localhost:9/"},
     "http://localhost:9"),
    ({"SHIPYARD_SECRETMANAGER_ENDPOINT": "http://a:1",  # shipyard's own wins
      "CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER": "http://b:2/"}, "http://a:1"),
])
def test_endpoint_overrides(environ: dict[str, str], expected: str | None) -> None:
    assert endpoint(environ) == expected


def test_a_bad_gcloud_override_is_named_as_such() -> None:
    with pytest.raises(UsageError) as info:
        endpoint({"CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER": "http://b:2/v1/?x"})
    assert info.value.message == ("CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER="
                                  "'http://b:2/v1/?x' is not an endpoint URL")
    assert info.value.hint == "write scheme://HOST[:PORT], e.g. http://127.0.0.1:8085"


def test_making_the_source_imports_no_google_client() -> None:
    """The client library costs about half a second to import: only a run that asks the API
    pays it (`invoke --list`, local environments and config checks do not). Importing the
    store, or any module the source is made of, does not either."""
    code = """
import sys
from types import MappingProxyType
from shipyard.config.targets import GcpSettings, SecretRef
from shipyard.secrets.secret_manager import SecretManagerSecrets
import shipyard.secrets.secret_manager_store
gcp = GcpSettings("p", "r", "x", secrets=MappingProxyType({"A": SecretRef("a")}))
source = SecretManagerSecrets("staging", gcp, {"web": ["A"]})
print(sorted(m for m in sys.modules if m.startswith("google")))
"""
    done = subprocess.run((sys.executable, "-c", code), capture_output=True, text=True,
                          env={"PYTHONPATH": str(SRC)}, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_module_constants_are_what_the_docs_say() -> None:
    client = secret_manager_client
    assert client.ENDPOINT_ENV == "SHIPYARD_SECRETMANAGER_ENDPOINT"
    assert client.GCLOUD_ENDPOINT_ENV == "CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER"
    assert client.TOKEN_ENV == "CLOUDSDK_AUTH_ACCESS_TOKEN"
