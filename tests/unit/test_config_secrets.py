"""`[environments.E.secrets]` of cloudrun and gke environments: env var → Secret Manager secret."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from shipyard.config.targets import SecretRef, parse_secret_ref
from tests.unit.test_config import BASE, PROD, STAGING, error, load

# api lists two secrets, web one (shared with api).
NEEDS = (BASE.replace('context = "api"', 'context = "api"\nsecrets = ["DATABASE_URL", "API_KEY"]')
         .replace('context = "web"', 'context = "web"\nsecrets = ["DATABASE_URL"]'))
MAPPED = """
[environments.staging.secrets]
DATABASE_URL = "db-url"
API_KEY = "api-key:7"
"""
F = "SECRET_ID, SECRET_ID:VERSION or projects/PROJECT_NUMBER/secrets/SECRET_ID[:VERSION]"


def test_each_listed_name_maps_to_a_secret_and_a_version(tmp_path: Path) -> None:
    gcp = load(tmp_path, NEEDS + STAGING + MAPPED).environment("staging").gcp
    assert gcp is not None
    assert dict(gcp.secrets) == {"DATABASE_URL": SecretRef("db-url", "latest"),
                                 "API_KEY": SecretRef("api-key", "7")}
    assert list(gcp.secrets) == ["DATABASE_URL", "API_KEY"]  # config order
    with pytest.raises(TypeError):
        gcp.secrets["X"] = SecretRef("x")  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        gcp.secrets["API_KEY"].version = "8"  # type: ignore[misc]


def test_gke_environments_map_secrets_the_same_way(tmp_path: Path) -> None:
    text = NEEDS + PROD + MAPPED.replace("staging", "prod")
    gcp = load(tmp_path, text).environment("prod").gcp
    assert gcp is not None and gcp.secrets["API_KEY"] == SecretRef("api-key", "7")


def test_no_table_is_needed_when_no_service_lists_a_secret(tmp_path: Path) -> None:
    gcp = load(tmp_path, BASE + STAGING).environment("staging").gcp
    assert gcp is not None and dict(gcp.secrets) == {}


HOME = "projects/home-proj/secrets"


@pytest.mark.parametrize(("value", "ref", "shown", "name"), [
    ("db-url", SecretRef("db-url"), "db-url", f"{HOME}/db-url"),
    ("db-url:latest", SecretRef("db-url"), "db-url", f"{HOME}/db-url"),
    ("DB_url-2:12", SecretRef("DB_url-2", "12"), "DB_url-2:12", f"{HOME}/DB_url-2"),
    ("a" * 255, SecretRef("a" * 255), "a" * 255, f"{HOME}/{'a' * 255}"),
    ("projects/123456789012/secrets/redis-url", SecretRef("redis-url", "latest", "123456789012"),
     "projects/123456789012/secrets/redis-url", "projects/123456789012/secrets/redis-url"),
    ("projects/42/secrets/redis-url:3", SecretRef("redis-url", "3", "42"),
     "projects/42/secrets/redis-url:3", "projects/42/secrets/redis-url"),
])
def test_secret_references_that_parse(value: str, ref: SecretRef, shown: str, name: str) -> None:
    parsed = parse_secret_ref(value)
    assert parsed == ref
    assert str(parsed) == shown
    # what --set-secrets takes before :VERSION, and the API's resource name
    assert parsed.reference == shown.split(":")[0]
    assert parsed.name("home-proj") == name


KEY = "environments.staging.secrets"
CASES = {
    "unmapped name": (NEEDS + STAGING + MAPPED.replace('API_KEY = "api-key:7"\n', ""),
                      f"{KEY}.API_KEY: missing (services.api.secrets lists it)"),
    "no table at all": (NEEDS + STAGING,
                        f"{KEY}.DATABASE_URL: missing (services.api.secrets lists it)"),
    "name only the second service lists": (
        NEEDS.replace('secrets = ["DATABASE_URL", "API_KEY"]', 'secrets = ["API_KEY"]')
        + STAGING + '[environments.staging.secrets]\nAPI_KEY = "k"\n',
        f"{KEY}.DATABASE_URL: missing (services.web.secrets lists it)"),
    "gke too": (NEEDS + PROD, "environments.prod.secrets.DATABASE_URL: missing "
                              "(services.api.secrets lists it)"),
    "name no service lists": (NEEDS + STAGING + MAPPED + 'DATABSE_URL = "db-url"\n',
                              f"{KEY}.DATABSE_URL: unknown key"),
    "not a string": (NEEDS + STAGING + MAPPED.replace('"api-key:7"', "7"),
                     f"{KEY}.API_KEY: must be a string"),
    "not a table": (NEEDS + STAGING + 'secrets = ["db-url"]\n', f"{KEY}: must be a table"),
    "secrets on local": (BASE + "[environments.local.secrets]\nA = 'a'\n",
                         "environments.local.secrets: unknown key"),
    "id with a space": (NEEDS + STAGING + MAPPED.replace('"db-url"', '"db url"'),
                        f"{KEY}.DATABASE_URL: secret id 'db url' must be 1 to 255 letters, "
                        f"digits, '_' or '-' (write {F})"),
    "empty id": (NEEDS + STAGING + MAPPED.replace('"db-url"', '""'),
                 f"{KEY}.DATABASE_URL: secret id '' must be 1 to 255 letters, digits, '_' or "
                 f"'-' (write {F})"),
    "id too long": (NEEDS + STAGING + MAPPED.replace('"db-url"', f'"{"a" * 256}"'),
                    f"{KEY}.DATABASE_URL: secret id '{'a' * 256}' must be 1 to 255 letters, "
                    f"digits, '_' or '-' (write {F})"),
    "id with a slash": (NEEDS + STAGING + MAPPED.replace('"db-url"', '"team/db-url"'),
                        f"{KEY}.DATABASE_URL: secret id 'team/db-url' must be 1 to 255 "
                        f"letters, digits, '_' or '-' (write {F})"),
    "version zero": (NEEDS + STAGING + MAPPED.replace("api-key:7", "api-key:0"),
                     f"{KEY}.API_KEY: version '0' must be a positive integer or latest"),
    "negative version": (NEEDS + STAGING + MAPPED.replace("api-key:7", "api-key:-1"),
                         f"{KEY}.API_KEY: version '-1' must be a positive integer or latest"),
    "leading zero": (NEEDS + STAGING + MAPPED.replace("api-key:7", "api-key:07"),
                     f"{KEY}.API_KEY: version '07' must be a positive integer or latest"),
    "empty version": (NEEDS + STAGING + MAPPED.replace("api-key:7", "api-key:"),
                      f"{KEY}.API_KEY: version '' must be a positive integer or latest"),
    "LATEST": (NEEDS + STAGING + MAPPED.replace("api-key:7", "api-key:LATEST"),
               f"{KEY}.API_KEY: version 'LATEST' must be a positive integer or latest"),
    "two colons": (NEEDS + STAGING + MAPPED.replace("api-key:7", "api-key:7:8"),
                   f"{KEY}.API_KEY: version '7:8' must be a positive integer or latest"),
    "another project by id": (
        NEEDS + STAGING + MAPPED.replace('"db-url"', '"projects/other-proj/secrets/db-url"'),
        f"{KEY}.DATABASE_URL: another project is named by its number, not 'other-proj' "
        "(Cloud Run takes projects/PROJECT_NUMBER/secrets/SECRET_ID)"),
    "a version path": (
        NEEDS + STAGING + MAPPED.replace('"db-url"', '"projects/12/secrets/db-url/versions/3"'),
        f"{KEY}.DATABASE_URL: not a secret reference (write {F})"),
    "bad id in another project": (
        NEEDS + STAGING + MAPPED.replace('"db-url"', '"projects/12/secrets/db.url"'),
        f"{KEY}.DATABASE_URL: secret id 'db.url' must be 1 to 255 letters, digits, '_' or '-' "
        f"(write {F})"),
}


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_secret_mapping_mistakes_are_one_line_errors_naming_the_key(
        tmp_path: Path, text: str, expected: str) -> None:
    assert error(tmp_path, text) == f"shipyard.toml: {expected}"
