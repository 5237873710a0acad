"""Secret Manager as the secret source of GCP environments, against the stand-in
(tests/contract/secret_manager_standin.py) with the real python client, and the stand-in
against the real gcloud.

The world every test starts from (`world`): two services, three secrets.

    api     DATABASE_URL → db-url (latest)        versions 1 E, 2 E, 3 DISABLED
            RUNWAYML_API_KEY → runwayml-key:7     versions 1..8, all ENABLED
    worker  DATABASE_URL (shared)
            REDIS_URL → projects/200000000002/secrets/redis-url (another project, latest)
                                                  30 versions; only 1..5 ENABLED, so the
                                                  newest enabled one is on the second page

Each secret grants roles/secretmanager.secretAccessor to the runtime account.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shlex
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shipyard import config
from shipyard.errors import ShipyardError, UsageError
from shipyard.exec.runner import Runner
from shipyard.pipeline import preflight as preflight_module
from shipyard.pipeline.context import RunContext
from shipyard.secrets import secret_manager_api, secret_manager_client
from shipyard.secrets.secret_manager import SecretManagerSecrets
from shipyard.stages.deploy import deploy_plan
from shipyard.state.records import ReleaseRecord
from shipyard.targets.base import Check, SecretBinding
from shipyard.version import Version
from tests.conftest import free_port
from tests.contract.gcloud_env import hermetic
from tests.contract.secret_manager_standin import ACCESSOR, SecretManagerStandIn

PROJECT, NUMBER, OTHER = "demo-proj", "100000000001", "200000000002"
SA = "api-runtime@demo-proj.iam.gserviceaccount.com"
MEMBER = f"serviceAccount:{SA}"
REDIS = f"projects/{OTHER}/secrets/redis-url"
V1 = Version.parse("v1.0.0")
NOTE = ("a grant on the project cannot be read through the Secret Manager API, so shipyard "
        "asks for one on the secret")


def value(secret: str, number: int) -> str:
    """A distinctive payload, searched for in everything a test can see."""
    return f"VALUE-{secret}-{number}-s3cr3t-payload"


def app_config(root: Path, *, service_account: str | None = SA, target: str = "cloudrun",
               refs: dict[str, str] | None = None) -> config.Config:
    for name in ("api", "worker"):
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "Dockerfile").write_text("FROM scratch\n")
    env: dict[str, Any] = {
        "target": target, "project": PROJECT, "region": "us-central1",
        "repository": "containers",
        "secrets": refs or {"DATABASE_URL": "db-url", "RUNWAYML_API_KEY": "runwayml-key:7",
                            "REDIS_URL": REDIS},
    }
    if target == "gke":
        env.update(cluster="main", namespace="demo", overlay="k8s/overlays/staging")
    if service_account:
        env["service_account"] = service_account
    data = {
        "project": {"name": "demo"},
        "services": {
            "api": {"context": "api", "port": 8080,
                    "secrets": ["DATABASE_URL", "RUNWAYML_API_KEY"]},
            "worker": {"context": "worker", "port": 8080,
                       "secrets": ["DATABASE_URL", "REDIS_URL"]},
        },
        "environments": {"staging": env},
    }
    return config.parse(data, root)


def seed(sm: SecretManagerStandIn) -> None:
    sm.add_secret(PROJECT, "db-url", (value("db-url", 1), "ENABLED"),
                  (value("db-url", 2), "ENABLED"), (value("db-url", 3), "DISABLED"))
    sm.add_secret(PROJECT, "runwayml-key",
                  *[(value("runwayml-key", n), "ENABLED") for n in range(1, 9)])
    sm.add_secret(OTHER, "redis-url", *[(value("redis-url", n), "ENABLED" if n <= 5 else
                                         ("DESTROYED" if n % 2 else "DISABLED"))
                                        for n in range(1, 31)])
    for project, secret in ((PROJECT, "db-url"), (PROJECT, "runwayml-key"), (OTHER, "redis-url")):
        sm.grant(project, secret, MEMBER)


ALL_VALUES = [value(s, n) for s, count in (("db-url", 3), ("runwayml-key", 8), ("redis-url", 30))
              for n in range(1, count + 1)]


@dataclass
class World:
    sm: SecretManagerStandIn
    root: Path
    monkeypatch: pytest.MonkeyPatch
    made: list[object] = field(default_factory=list)  # clients make_client built

    def context(self, **kwargs: Any) -> RunContext:
        cfg = app_config(self.root, **kwargs)
        ctx = RunContext(cfg, cfg.environment("staging"), Runner(), version=V1)
        # Only what these tests are about: the target contributes the source's checks, and
        # the docker probe is a stub (its real one needs an engine).
        ctx.__dict__["target"] = SimpleNamespace(preflight_checks=lambda: ctx.secrets.checks())
        ctx.__dict__["docker"] = SimpleNamespace(version="28.0", builder="legacy",
                                                 path="/usr/bin/docker")
        return ctx

    def source(self, **kwargs: Any) -> SecretManagerSecrets:
        source = self.context(**kwargs).secrets
        assert isinstance(source, SecretManagerSecrets)
        return source


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with SecretManagerStandIn({PROJECT: NUMBER, "shared-proj": OTHER}, token="fake") as sm:
        seed(sm)
        monkeypatch.setenv(secret_manager_client.ENDPOINT_ENV, sm.url)
        monkeypatch.setenv(secret_manager_client.TOKEN_ENV, "fake")
        monkeypatch.delenv(secret_manager_client.GCLOUD_ENDPOINT_ENV, raising=False)
        world = World(sm, tmp_path / "app", monkeypatch)
        real = secret_manager_client.make_client

        def counting(environ: Any) -> Any:
            client = real(environ)
            world.made.append(client)
            return client

        monkeypatch.setattr(secret_manager_client, "make_client", counting)
        yield world


def run_checks(checks: list[Check]) -> list[tuple[str, str]]:
    """(name, detail or 'FAILED: message') per check, as the preflight table would show."""
    rows = []
    for check in checks:
        try:
            rows.append((check.name, check.probe()))
        except ShipyardError as exc:
            rows.append((check.name, f"FAILED: {exc.message}"))
    return rows


def has(member: str = MEMBER) -> str:
    return f"{member} has {ACCESSOR}"


# --- bindings: pinned now, to the newest ENABLED version ---------------------------------------

def test_bindings_pin_latest_to_the_newest_enabled_version(world: World) -> None:
    bindings = world.source().bindings()
    assert bindings == {
        "api": (SecretBinding("DATABASE_URL", "db-url", "2"),  # 3 is newer, but disabled
                SecretBinding("RUNWAYML_API_KEY", "runwayml-key", "7")),  # pinned, 8 is newer
        "worker": (SecretBinding("DATABASE_URL", "db-url", "2"),
                   SecretBinding("REDIS_URL", REDIS, "5")),  # on the second page of the list
    }
    # the trap being avoided: the API's own `latest` alias is version 3, a disabled one
    assert world.sm.secrets[(NUMBER, "db-url")].versions[-1].state == "DISABLED"
    assert world.sm.lines() == [
        "GET /v1/projects/demo-proj/secrets/db-url/versions",
        "GET /v1/projects/demo-proj/secrets/runwayml-key/versions/7",
        f"GET /v1/{REDIS}/versions",
        f"GET /v1/{REDIS}/versions",  # the second page
    ]
    assert all(r.authorization == "Bearer fake" for r in world.sm.requests)


def test_bindings_are_pinned_when_asked_not_reused_from_preflight(world: World) -> None:
    source = world.source()
    assert source.missing() == {"api": [], "worker": []}
    world.sm.set_state(PROJECT, "db-url", 2, "DISABLED")  # between preflight and deploy
    assert source.bindings()["api"][0] == SecretBinding("DATABASE_URL", "db-url", "1")


def test_missing_and_checks_share_one_answer_per_secret_and_make_one_client(world: World) -> None:
    ctx = world.context()
    source = ctx.secrets
    assert ctx.secrets is source and isinstance(source, SecretManagerSecrets)
    assert world.made == [] and world.sm.requests == []  # lazily: nothing until asked
    source.missing()
    rows = run_checks(source.checks())
    assert rows == [
        ("secret DATABASE_URL", f"db-url version 2 (newest enabled); {has()}"),
        ("secret RUNWAYML_API_KEY", f"runwayml-key version 7 (pinned); {has()}"),
        ("secret REDIS_URL", f"{REDIS} version 5 (newest enabled); {has()}"),
    ]
    assert world.sm.lines() == [
        "GET /v1/projects/demo-proj/secrets/db-url/versions",
        "GET /v1/projects/demo-proj/secrets/runwayml-key/versions/7",
        f"GET /v1/{REDIS}/versions",
        f"GET /v1/{REDIS}/versions",
        "GET /v1/projects/demo-proj/secrets/db-url:getIamPolicy",
        "GET /v1/projects/demo-proj/secrets/runwayml-key:getIamPolicy",
        f"GET /v1/{REDIS}:getIamPolicy",
    ]
    source.bindings()
    assert len(world.made) == 1  # one client for the whole run


# --- missing(), and bindings() refusing everything unbindable at once ----------------------

def test_missing_names_every_secret_that_cannot_be_bound(world: World) -> None:
    del world.sm.secrets[(NUMBER, "db-url")]
    world.sm.secrets[(NUMBER, "runwayml-key")].versions[6:] = []  # versions 1..6 only
    for number in range(1, 6):
        world.sm.set_state(OTHER, "redis-url", number, "DISABLED")
    source = world.source()
    assert source.missing() == {"api": ["DATABASE_URL", "RUNWAYML_API_KEY"],
                                "worker": ["DATABASE_URL", "REDIS_URL"]}
    with pytest.raises(UsageError) as info:
        source.bindings()
    assert info.value.message == (
        "cannot bind secrets: DATABASE_URL: db-url not found in Secret Manager (project "
        "demo-proj); RUNWAYML_API_KEY: runwayml-key has no version 7; REDIS_URL: "
        f"{REDIS} has no enabled version (30 versions, none enabled)")
    assert info.value.hint == ("create it: gcloud secrets create db-url --project demo-proj "
                               "--data-file=- (reads the value from stdin); or map "
                               "DATABASE_URL to another secret in [environments.staging.secrets]")
    assert info.value.exit_code == 2


@pytest.mark.parametrize(("state", "message", "hint"), [
    ("DISABLED", "runwayml-key version 7 is DISABLED",
     "enable it (gcloud secrets versions enable 7 --secret runwayml-key --project demo-proj) or "
     "pin another version in shipyard.toml"),
    ("DESTROYED", "runwayml-key version 7 is DESTROYED",
     "pin another version in shipyard.toml (a destroyed version is gone)"),
])
def test_a_pinned_version_that_is_not_enabled_is_missing(
        world: World, state: str, message: str, hint: str) -> None:
    world.sm.set_state(PROJECT, "runwayml-key", 7, state)
    source = world.source()
    assert source.missing() == {"api": ["RUNWAYML_API_KEY"], "worker": []}
    with pytest.raises(UsageError) as info:
        source.bindings()
    assert (info.value.message, info.value.hint) == (
        f"cannot bind secrets: RUNWAYML_API_KEY: {message}", hint)


def test_reveal_refuses_values_are_never_read(world: World) -> None:
    source = world.source()
    with pytest.raises(ShipyardError) as info:
        source.reveal(source.bindings()["api"])
    assert info.value.message == (
        "secret values are never read from Secret Manager (env staging): Cloud Run and GKE get "
        "references (SECRET:VERSION) and read the values themselves")
    assert not any(":access" in line for line in world.sm.lines())


def test_cloudrun_and_gke_both_use_secret_manager(world: World) -> None:
    assert isinstance(world.source(target="gke"), SecretManagerSecrets)
    assert isinstance(world.source(target="cloudrun"), SecretManagerSecrets)


# --- preflight: each failure by name, before anything changes ----------------------------------

def preflight_rows(ctx: RunContext, monkeypatch: pytest.MonkeyPatch
                   ) -> tuple[list[tuple[str, ...]], ShipyardError | None]:
    shown: list[tuple[str, ...]] = []
    monkeypatch.setattr(preflight_module, "table",
                        lambda _title, _cols, rows: shown.extend(tuple(r) for r in rows))
    try:
        preflight_module.preflight(ctx, tag=False, scan=False)
    except ShipyardError as exc:
        return shown, exc
    return shown, None


def test_preflight_passes_when_every_secret_is_usable(world: World) -> None:
    rows, failure = preflight_rows(world.context(), world.monkeypatch)
    assert failure is None
    assert rows[2:] == [
        ("secret DATABASE_URL", "ok", f"db-url version 2 (newest enabled); {has()}"),
        ("secret RUNWAYML_API_KEY", "ok", f"runwayml-key version 7 (pinned); {has()}"),
        ("secret REDIS_URL", "ok", f"{REDIS} version 5 (newest enabled); {has()}"),
        ("secrets", "ok", "every secret a service needs is present (checked by name)"),
    ]


GRANT = (f"gcloud secrets add-iam-policy-binding db-url --project demo-proj --member {MEMBER} "
         f"--role {ACCESSOR}")
PREFLIGHT_CASES = {
    "missing secret": (
        lambda sm: sm.secrets.pop((NUMBER, "db-url")),
        "secret DATABASE_URL", "db-url not found in Secret Manager (project demo-proj)",
        "missing secrets (api: DATABASE_URL; worker: DATABASE_URL)",
        "create it: gcloud secrets create db-url --project demo-proj --data-file=- (reads the "
        "value from stdin); or map DATABASE_URL to another secret in "
        "[environments.staging.secrets]"),
    "disabled pinned version": (
        lambda sm: sm.set_state(PROJECT, "runwayml-key", 7, "DISABLED"),
        "secret RUNWAYML_API_KEY", "runwayml-key version 7 is DISABLED",
        "missing secrets (api: RUNWAYML_API_KEY)",
        "enable it (gcloud secrets versions enable 7 --secret runwayml-key --project demo-proj)"
        " or pin another version in shipyard.toml"),
    "no enabled version": (
        lambda sm: [sm.set_state(PROJECT, "db-url", n, "DISABLED") for n in (1, 2)],
        "secret DATABASE_URL", "db-url has no enabled version (3 versions, none enabled)",
        "missing secrets (api: DATABASE_URL; worker: DATABASE_URL)",
        "add one: gcloud secrets versions add db-url --project demo-proj --data-file=- (reads "
        "the value from stdin); or enable one: gcloud secrets versions enable VERSION --secret "
        "db-url --project demo-proj"),
    # Grants that do not count: another role for the account, the role for another account.
    "missing accessor binding": (
        lambda sm: (sm.secrets[(NUMBER, "db-url")].bindings.clear(),
                    sm.grant(PROJECT, "db-url", MEMBER, "roles/secretmanager.viewer"),
                    sm.grant(PROJECT, "db-url", "serviceAccount:other@demo-proj.iam."
                                                "gserviceaccount.com")),
        "secret DATABASE_URL",
        f"{MEMBER} may not access db-url: its IAM policy has no {ACCESSOR} binding for that "
        f"account ({NOTE})", None, GRANT),
}


@pytest.mark.parametrize(("break_it", "check", "message", "secrets_row", "hint"),
                         PREFLIGHT_CASES.values(), ids=PREFLIGHT_CASES.keys())
def test_preflight_fails_by_name_before_anything_changes(
        world: World, break_it: Any, check: str, message: str, secrets_row: str | None,
        hint: str) -> None:
    break_it(world.sm)
    rows, failure = preflight_rows(world.context(), world.monkeypatch)
    assert failure is not None
    failed = [(name, detail) for name, result, detail in rows if result == "FAILED"]
    expected = [(check, message)] + ([("secrets", secrets_row)] if secrets_row else [])
    assert failed == expected
    assert failure.message == "preflight failed, nothing was changed: " + "; ".join(
        f"{name}: {detail}" for name, detail in expected)
    assert failure.hint == hint
    assert failure.exit_code == 2  # every failure is bad setup: nothing ran
    # Read-only and by name: every request a GET, none of them an :access.
    assert {r.method for r in world.sm.requests} == {"GET"}
    assert not any(":access" in line for line in world.sm.lines())


def test_the_access_check_needs_the_runtime_account(world: World) -> None:
    rows = run_checks(world.source(service_account=None).checks())
    assert rows[0] == ("secret DATABASE_URL", "FAILED: cannot check who may access db-url: "
                       "environments.staging.service_account (the account the services run "
                       "as) is not set")


def test_an_admin_grant_counts_and_emails_compare_case_insensitively(world: World) -> None:
    world.sm.secrets[(NUMBER, "db-url")].bindings.clear()
    world.sm.grant(PROJECT, "db-url", "serviceAccount:API-Runtime@demo-proj.iam."
                                      "gserviceaccount.com", "roles/secretmanager.admin")
    rows = run_checks(world.source().checks())
    # roles/secretmanager.admin carries secretmanager.versions.access too
    assert rows[0] == ("secret DATABASE_URL", f"db-url version 2 (newest enabled); {MEMBER} "
                                              "has roles/secretmanager.admin")


def test_a_conditional_grant_counts_and_is_shown_with_its_condition(world: World) -> None:
    world.sm.secrets[(NUMBER, "db-url")].bindings.clear()
    world.sm.grant(PROJECT, "db-url", MEMBER, condition={
        "title": "until 2030", "expression": 'request.time < timestamp("2030-01-01T00:00:00Z")'})
    rows = run_checks(world.source().checks())
    assert rows[0] == ("secret DATABASE_URL",
                       f"db-url version 2 (newest enabled); {has()} (if until 2030)")
    policy_read = [r for r in world.sm.requests if r.path.endswith("db-url:getIamPolicy")]
    # conditional bindings are only returned to clients asking for policy version 3
    assert [r.query["options.requestedPolicyVersion"] for r in policy_read] == [["3"]]


# --- values: never read, never shown ---------------------------------------------------------

def test_no_value_is_read_or_appears_in_any_request_output_log_or_record(
        world: World, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
        ) -> None:
    caplog.set_level(logging.DEBUG)
    ctx = world.context()
    rows, failure = preflight_rows(ctx, world.monkeypatch)
    assert failure is None
    record = ReleaseRecord.open(ctx.config.root, V1, "staging")
    for service in ("api", "worker"):
        record.images[service] = {"pinned": f"europe-docker.pkg.dev/p/r/{service}@sha256:"
                                            + "a" * 64}
    plan = deploy_plan(ctx, V1, record)  # the deploy stage's own path to ctx.secrets.bindings()
    record.data["secrets"] = {s.service: [b.to_json() for b in s.secrets] for s in plan.services}
    record.save()
    saved = record.path.read_text()
    assert json.loads(saved)["secrets"]["worker"] == [
        {"env": "DATABASE_URL", "secret": "db-url", "version": "2"},
        {"env": "REDIS_URL", "secret": REDIS, "version": "5"}]
    seen = "\n".join([world.sm.log_text(), *capsys.readouterr(), caplog.text, saved,
                      repr(rows), repr(plan)])
    assert "GET /v1/projects/demo-proj/secrets/db-url/versions" in seen  # the log is there
    for secret in ALL_VALUES:
        for form in (secret, base64.b64encode(secret.encode()).decode()):
            assert form not in seen
    assert [line for line in world.sm.lines() if ":access" in line] == []
    assert {r.method for r in world.sm.requests} == {"GET"}


# --- credentials, endpoints and API failures -----------------------------------------------

def test_a_plain_http_endpoint_without_a_token_gets_no_credentials(world: World) -> None:
    world.sm.token = None
    world.monkeypatch.delenv(secret_manager_client.TOKEN_ENV)
    world.source().missing()
    assert {r.authorization for r in world.sm.requests} == {None}


@pytest.mark.parametrize(("token", "problem"), [
    (None, "the API wants credentials, and a plain-http endpoint gets none without "
           "CLOUDSDK_AUTH_ACCESS_TOKEN"),
    ("expired", "the API refused the access token in CLOUDSDK_AUTH_ACCESS_TOKEN"),
])
def test_refused_credentials_are_a_failure_with_a_login_hint(
        world: World, token: str | None, problem: str) -> None:
    if token is None:
        world.monkeypatch.delenv(secret_manager_client.TOKEN_ENV)
    else:
        world.monkeypatch.setenv(secret_manager_client.TOKEN_ENV, token)
    with pytest.raises(ShipyardError) as info:
        world.source().missing()
    assert info.value.message == ("cannot read db-url (projects/demo-proj/secrets/db-url) for "
                                  f"DATABASE_URL: not authenticated ({problem})")
    assert info.value.hint == ("log in with `gcloud auth application-default login`, or set "
                               "GOOGLE_APPLICATION_CREDENTIALS, or export "
                               "CLOUDSDK_AUTH_ACCESS_TOKEN")
    assert info.value.exit_code == 1


def test_gclouds_own_endpoint_override_is_honoured(world: World) -> None:
    world.monkeypatch.delenv(secret_manager_client.ENDPOINT_ENV)
    world.monkeypatch.setenv(secret_manager_client.GCLOUD_ENDPOINT_ENV, f"{world.sm.url}/")
    assert world.source().missing() == {"api": [], "worker": []}
    assert len(world.sm.requests) == 4


@pytest.mark.parametrize("endpoint", ["127.0.0.1:8085", "http://127.0.0.1:8085/v1/",
                                      "ftp://127.0.0.1:8085"])
def test_an_endpoint_that_is_not_a_url_is_bad_input(world: World, endpoint: str) -> None:
    world.monkeypatch.setenv(secret_manager_client.ENDPOINT_ENV, endpoint)
    with pytest.raises(UsageError) as info:
        world.source().missing()
    assert info.value.message == (f"SHIPYARD_SECRETMANAGER_ENDPOINT={endpoint!r} is not an "
                                  "endpoint URL")


def test_permission_denied_names_the_secret_and_the_role_the_deployer_needs(
        world: World) -> None:
    world.sm.denied.add("runwayml-key")
    with pytest.raises(ShipyardError) as info:
        world.source().missing()
    assert info.value.message == (
        "cannot read runwayml-key (projects/demo-proj/secrets/runwayml-key) for "
        "RUNWAYML_API_KEY: permission denied (PERMISSION_DENIED: Permission denied on resource "
        f"projects/{NUMBER}/secrets/runwayml-key.)")
    assert info.value.hint == ("the deploying account needs roles/secretmanager.viewer on the "
                               "secret (metadata and IAM policy only; shipyard never reads "
                               "values)")
    assert info.value.exit_code == 1


def test_an_unavailable_api_is_retried_then_reported(world: World) -> None:
    world.monkeypatch.setattr(secret_manager_api, "BACKOFF", 0.01)
    world.sm.unavailable = 2
    assert world.source().bindings()["api"][0].version == "2"
    world.sm.unavailable = 3
    with pytest.raises(ShipyardError) as info:
        world.source().bindings()
    assert info.value.message == (
        "cannot read db-url (projects/demo-proj/secrets/db-url) for DATABASE_URL: UNAVAILABLE: "
        "The service is currently unavailable. after 3 tries")


def test_an_endpoint_that_does_not_answer_is_reported_by_secret(world: World) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    world.monkeypatch.setenv(secret_manager_client.ENDPOINT_ENV, url)
    with pytest.raises(ShipyardError) as info:
        world.source().missing()
    assert info.value.message == (
        "cannot read db-url (projects/demo-proj/secrets/db-url) for DATABASE_URL: Secret Manager "
        f"did not answer at {url} (ConnectionError)")


# --- the stand-in speaks what gcloud speaks ----------------------------------------------------

GCLOUD = shutil.which("gcloud")


def gcloud(tmp_path: Path, sm: SecretManagerStandIn, *args: str, stdin: str | None = None
           ) -> subprocess.CompletedProcess[str]:
    assert GCLOUD is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSDK_")}
    env.update({
        **hermetic(tmp_path / "gcloud-config", PROJECT),
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER": f"{sm.url}/",
    })
    return subprocess.run((GCLOUD, *args), env=env, input=stdin, capture_output=True,
                          text=True, timeout=120)


def test_the_standin_answers_enums_as_asked_and_errors_in_googles_shape(world: World) -> None:
    def get(path: str) -> tuple[int, Any]:
        request = urllib.request.Request(f"{world.sm.url}{path}",
                                         headers={"Authorization": "Bearer fake"})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    version = "/v1/projects/demo-proj/secrets/db-url/versions/3"
    assert get(f"{version}?%24alt=json%3Benum-encoding%3Dint")[1]["state"] == 2
    assert get(f"{version}?alt=json")[1]["state"] == "DISABLED"
    assert get("/v1/projects/demo-proj/secrets/db-url/versions/latest")[1]["name"] == (
        f"projects/{NUMBER}/secrets/db-url/versions/3")  # the newest created, disabled or not
    assert get("/v1/projects/demo-proj/secrets/nope") == (404, {"error": {
        "code": 404, "status": "NOT_FOUND",
        "message": f"Secret [projects/{NUMBER}/secrets/nope] not found or has no versions."}})


@pytest.mark.contract
@pytest.mark.skipif(GCLOUD is None, reason="needs the real gcloud")
def test_gcloud_reads_adds_and_grants_against_the_standin(world: World, tmp_path: Path) -> None:
    sm = world.sm
    done = gcloud(tmp_path, sm, "secrets", "versions", "access", "2", "--secret", "db-url")
    assert (done.returncode, done.stdout) == (0, value("db-url", 2)), done.stderr
    assert sm.lines()[-1] == "GET /v1/projects/demo-proj/secrets/db-url/versions/2:access"

    done = gcloud(tmp_path, sm, "secrets", "versions", "access", "3", "--secret", "db-url")
    assert done.returncode == 1
    assert "is in DISABLED state" in done.stderr

    # gcloud sends dataCrc32c and insists on clientSpecifiedPayloadChecksum in the answer.
    done = gcloud(tmp_path, sm, "secrets", "versions", "add", "db-url", "--data-file=-",
                  stdin="VALUE-db-url-4-added-by-gcloud")
    assert done.returncode == 0, done.stderr
    added = sm.requests[-1]
    assert added.line == "POST /v1/projects/demo-proj/secrets/db-url:addVersion"
    assert "dataCrc32c" in json.loads(added.body)["payload"]
    assert sm.secrets[(NUMBER, "db-url")].versions[-1].payload == b"VALUE-db-url-4-added-by-gcloud"

    # The hint of a missing accessor binding, run as printed, is what makes the check pass.
    sm.secrets[(NUMBER, "db-url")].bindings.clear()
    source = world.source()
    [failed] = [c for c in source.checks() if c.name == "secret DATABASE_URL"]
    with pytest.raises(UsageError) as info:
        failed.probe()
    assert info.value.hint == GRANT
    argv = shlex.split(info.value.hint or "")
    assert argv[0] == "gcloud"
    done = gcloud(tmp_path, sm, *argv[1:])
    assert done.returncode == 0, done.stderr
    assert [r.line for r in sm.requests[-2:]] == [
        "GET /v1/projects/demo-proj/secrets/db-url:getIamPolicy",
        "POST /v1/projects/demo-proj/secrets/db-url:setIamPolicy"]
    assert run_checks(world.source().checks())[0] == (
        "secret DATABASE_URL", f"db-url version 4 (newest enabled); {has()}")
