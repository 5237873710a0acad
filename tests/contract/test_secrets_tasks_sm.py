"""`invoke secrets-set / secrets-list / secrets-check --env staging` (Secret Manager), run as a
user runs them in a copy of the sample, against the Secret Manager stand-in
(tests/contract/secret_manager_standin.py) through the real python client; the gcloud lines
the hints give are run with the real gcloud against the same stand-in.

The world each test starts from, in project meta-ad-studio-staging:

    DATABASE_URL → db-url          1 ENABLED, 2 ENABLED, 3 DISABLED   (newest enabled: 2)
    RUNWAYML_API_KEY → runwayml-key  1 ENABLED
    REDIS_URL → redis-url          1 DISABLED (no enabled version)

db-url and runwayml-key grant secretAccessor to the runtime account; redis-url grants nothing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.state import audit
from shipyard.state.records import ReleaseRecord
from shipyard.version import Version
from tests.conftest import require_tool
from tests.contract.gcloud_env import environ, hermetic, run_gcloud
from tests.contract.secret_manager_standin import SecretManagerStandIn
from tests.support.apps import sample_copy
from tests.support.argv_watch import watching_argv
from tests.support.cli import Ran, invoke

pytestmark = pytest.mark.contract

PROJECT = "meta-ad-studio-staging"
NUMBER = "100000000042"
SA = "meta-ad-studio-run@meta-ad-studio-staging.iam.gserviceaccount.com"
NEW = "postgres://meta:rotated-Zq81-value@db:5432/app"
OLD = ("postgres://meta:old-one@db/app", "postgres://meta:old-two@db/app",
       "postgres://meta:never@db/app")


@dataclass
class Staging:
    app: Path
    sm: SecretManagerStandIn
    env: dict[str, str]

    def run(self, *args: str, stdin: str | None = None) -> Ran:
        return invoke(self.app, *args, "--env", "staging", env=self.env, stdin=stdin)

    def versions(self, secret: str) -> list[tuple[int, str]]:
        return [(v.number, v.state) for v in self.sm.secrets[(NUMBER, secret)].versions]

    def writes(self) -> list[str]:
        return [line for line in self.sm.lines() if line.startswith("POST")]


@pytest.fixture
def staging(tmp_path: Path) -> Iterator[Staging]:
    app = tmp_path / "app"
    sample_copy(app, tmp_path / "remote.git")
    with SecretManagerStandIn({PROJECT: NUMBER}, token="fake") as sm:
        sm.add_secret(PROJECT, "db-url", (OLD[0], "ENABLED"), (OLD[1], "ENABLED"),
                      (OLD[2], "DISABLED"))
        sm.add_secret(PROJECT, "runwayml-key", ("rk-live-one-0001", "ENABLED"))
        sm.add_secret(PROJECT, "redis-url", ("redis://old:1/0", "DISABLED"))
        for secret in ("db-url", "runwayml-key"):
            sm.grant(PROJECT, secret, f"serviceAccount:{SA}")
        env = environ({"SHIPYARD_SECRETMANAGER_ENDPOINT": sm.url,
                       "CLOUDSDK_AUTH_ACCESS_TOKEN": "fake"})
        yield Staging(app, sm, env)


def pin(staging: Staging, reference: str) -> None:
    config = staging.app / "shipyard.toml"
    text = config.read_text()
    staging_secrets = text.index("[environments.staging.secrets]")
    head, tail = text[:staging_secrets], text[staging_secrets:]
    config.write_text(head + tail.replace('DATABASE_URL = "db-url"',
                                          f'DATABASE_URL = "{reference}"', 1))


def test_set_adds_a_version_and_disables_the_previous_newest_enabled(staging: Staging) -> None:
    encoded = base64.b64encode(NEW.encode()).decode()
    with watching_argv(NEW, encoded) as watch:
        ran = staging.run("secrets-set", "DATABASE_URL", "--disable-previous", stdin=NEW)
    assert ran.code == 0, ran.text
    assert ran.out.strip() == ("DATABASE_URL set: db-url version 4 (disabled version 2); "
                               "used by api-server")
    # 2 was the newest ENABLED version (3 is newer, but disabled, and stays so)
    assert staging.versions("db-url") == [(1, "ENABLED"), (2, "DISABLED"), (3, "DISABLED"),
                                          (4, "ENABLED")]
    added = staging.sm.secrets[(NUMBER, "db-url")].versions[3]
    assert added.payload == NEW.encode() and added.client_checksum  # CRC32C sent, and checked
    assert staging.sm.lines() == [
        f"GET /v1/projects/{PROJECT}/secrets/db-url/versions",
        f"POST /v1/projects/{PROJECT}/secrets/db-url:addVersion",
        f"POST /v1/projects/{PROJECT}/secrets/db-url/versions/2:disable",
    ]
    # the value: only in the addVersion body, which needs it; nowhere else at all
    carrying = [r.line for r in staging.sm.requests
                if NEW in r.body or encoded in r.body or encoded in r.path]
    assert carrying == [f"POST /v1/projects/{PROJECT}/secrets/db-url:addVersion"]
    assert watch.saw("secrets-set") and watch.hits == []
    assert NEW not in ran.text and encoded not in ran.text
    records = {p: p.read_bytes() for p in (staging.app / ".shipyard").rglob("*") if p.is_file()}
    assert records and [p for p, data in records.items()
                        if NEW.encode() in data or encoded.encode() in data] == []
    audit = json.loads((staging.app / ".shipyard/audit.log").read_text().splitlines()[-1])
    assert (audit["secret"], audit["secret_version"], audit["disabled_version"]) == (
        "DATABASE_URL", "4", "2")


def test_without_disable_previous_the_old_versions_stay_enabled(staging: Staging) -> None:
    ran = staging.run("secrets-set", "RUNWAYML_API_KEY", stdin="rk-live-two-0002\n")
    assert ran.code == 0, ran.text
    assert staging.versions("runwayml-key") == [(1, "ENABLED"), (2, "ENABLED")]
    assert staging.sm.secrets[(NUMBER, "runwayml-key")].versions[1].payload == b"rk-live-two-0002"
    assert staging.writes() == [f"POST /v1/projects/{PROJECT}/secrets/runwayml-key:addVersion"]


def test_a_dry_run_reads_but_sends_no_change(staging: Staging) -> None:
    ran = staging.run("secrets-set", "DATABASE_URL", "--disable-previous", "--dry-run",
                      stdin=NEW)
    assert ran.code == 0, ran.text
    assert (f"[dry-run] would add a version to projects/{PROJECT}/secrets/db-url, then "
            "disable version 2; nothing was sent") in ran.err
    assert staging.writes() == [] and NEW not in staging.sm.log_text()
    assert not (staging.app / ".shipyard" / "audit.log").exists()


def test_a_pinned_version_is_never_the_one_disabled(staging: Staging) -> None:
    pin(staging, "db-url:2")
    refused = staging.run("secrets-set", "DATABASE_URL", "--disable-previous", stdin=NEW)
    assert refused.code == 2 and staging.writes() == []
    assert "DATABASE_URL is pinned to db-url:2" in refused.line("error: ")
    hint = refused.line("hint: ")
    gcloud_line = hint[hint.index("gcloud "):]
    assert gcloud_line == f"gcloud secrets versions disable 2 --secret db-url --project {PROJECT}"

    kept = staging.run("secrets-set", "DATABASE_URL", stdin=NEW)
    assert kept.code == 0, kept.text
    assert ("note: DATABASE_URL is pinned to db-url:2: deploys keep using version 2 until you "
            "pin the new one in [environments.staging.secrets]") in kept.err
    # the hint's own gcloud line, run by the real gcloud against the same stand-in
    require_tool("gcloud", "runs the hint's gcloud line", "install the Google Cloud SDK")
    settings = {**hermetic(staging.app.parent / "gcloud", PROJECT),
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER": staging.sm.url + "/"}
    done = run_gcloud(settings, *gcloud_line.split()[1:])
    assert done.code == 0, done
    assert staging.versions("db-url")[1] == (2, "DISABLED")


def test_a_secret_that_does_not_exist_is_not_created(staging: Staging) -> None:
    del staging.sm.secrets[(NUMBER, "redis-url")]
    ran = staging.run("secrets-set", "REDIS_URL", stdin="redis://new:1/0")
    assert ran.code == 2 and staging.writes() == []
    assert ran.line("error: ") == f"redis-url not found in Secret Manager (project {PROJECT})"
    assert ran.line("hint: ").startswith(f"create it: gcloud secrets create redis-url --project "
                                         f"{PROJECT} --data-file=-")


def test_no_permission_to_add_says_which_role_and_shows_no_value(staging: Staging) -> None:
    staging.sm.read_only.add("db-url")
    ran = staging.run("secrets-set", "DATABASE_URL", stdin=NEW)
    assert ran.code == 1
    assert ran.line("error: ").startswith(f"cannot add a version to db-url (projects/{PROJECT}/"
                                          "secrets/db-url) for "
                                          "DATABASE_URL: permission denied (PERMISSION_DENIED")
    assert ran.line("hint: ") == ("the deploying account needs "
                                  "roles/secretmanager.secretVersionAdder on the secret")
    assert NEW not in ran.text and len(staging.versions("db-url")) == 3


def test_list_shows_versions_and_users_and_reads_only_metadata(staging: Staging) -> None:
    ran = staging.run("secrets-list", "--json")
    assert ran.code == 0, ran.text
    rows = {r["name"]: r for r in json.loads(ran.out)["secrets"]}
    assert {n: (r["secret"], r["version"], r["enabled"], r["pinned"], r["services"])
            for n, r in rows.items()} == {
        "DATABASE_URL": ("db-url", "2", ["2", "1"], False, ["api-server"]),
        "RUNWAYML_API_KEY": ("runwayml-key", "1", ["1"], False, ["api-server"]),
        "REDIS_URL": ("redis-url", None, [], False, ["api-server"]),
    }
    assert rows["REDIS_URL"]["problem"] == ("redis-url has no enabled version (1 version, "
                                            "none enabled)")
    assert staging.writes() == [] and not any(":access" in line for line in staging.sm.lines())
    assert not any(value in ran.text for value in (*OLD, "rk-live-one-0001"))
    pin(staging, "db-url:1")
    table = staging.run("secrets-list")
    assert table.code == 0 and "1 (pinned)" in table.out


def test_check_names_each_secret_the_runtime_cannot_read(staging: Staging) -> None:
    failed = staging.run("secrets-check")
    assert failed.code == 1
    error = failed.line("error: ")
    assert "secret REDIS_URL: redis-url has no enabled version" in error
    assert "DATABASE_URL" not in error and "RUNWAYML_API_KEY" not in error

    assert staging.run("secrets-set", "REDIS_URL", stdin="redis://new:1/0").code == 0
    no_grant = staging.run("secrets-check", "--json")
    assert no_grant.code == 1
    checks = {c["name"]: c for c in json.loads(no_grant.out)["checks"]}
    assert [n for n, c in checks.items() if not c["ok"]] == ["secret REDIS_URL"]
    assert checks["secret REDIS_URL"]["detail"].startswith(
        f"serviceAccount:{SA} may not access redis-url")
    assert checks["secret DATABASE_URL"]["detail"] == (
        f"db-url version 2 (newest enabled); serviceAccount:{SA} has "
        "roles/secretmanager.secretAccessor")

    staging.sm.grant(PROJECT, "redis-url", f"serviceAccount:{SA}")
    passed = staging.run("secrets-check")
    assert passed.code == 0, passed.text
    assert not any(":access" in line for line in staging.sm.lines())


def test_disabling_a_version_the_serving_release_pins_warns(staging: Staging) -> None:
    # what a verified deploy of v1.1.0 leaves behind: its record with the pinned bindings
    record = ReleaseRecord.open(staging.app, Version.parse("v1.1.0"), "staging")
    record.data.update(status="released", verified=True, secrets={"api-server": [
        {"env": "DATABASE_URL", "secret": "db-url", "version": "2"}]})
    record.save()
    audit.record_deploy(staging.app, "staging", "v1.1.0", "release", True)
    ran = staging.run("secrets-set", "DATABASE_URL", "--disable-previous", stdin=NEW)
    assert ran.code == 0, ran.text
    assert ("note: v1.1.0, serving staging now, pins db-url version 2 for api-server: instances "
            "that start from now on fail until a deploy pins version 4 (invoke deploy --version "
            "v1.1.0 --env staging)") in ran.err
    quiet = staging.run("secrets-set", "RUNWAYML_API_KEY", "--disable-previous",
                        stdin="rk-live-two-0002")
    assert quiet.code == 0 and "note:" not in quiet.err  # v1.1.0 does not pin runwayml-key 1


def test_on_gke_the_note_names_the_overlay_that_pins_versions(staging: Staging) -> None:
    staging.sm.add_secret("meta-ad-studio-prod", "db-url", (OLD[0], "ENABLED"))
    ran = invoke(staging.app, "secrets-set", "DATABASE_URL", "--env", "prod", env=staging.env,
                 stdin=NEW)
    assert ran.code == 0, ran.text
    assert "DATABASE_URL set: db-url version 2; used by api-server" in ran.out
    assert ("note: the pods of env prod mount the secret versions that the SecretProviderClass "
            "in k8s/overlays/prod names: change db-url's there to the new version, then "
            "release") in ran.err
    check = invoke(staging.app, "secrets-check", "--env", "prod", env=staging.env)
    assert check.code == 1  # prod's runtime account was granted nothing here
    failed = check.line("error: ")
    assert "secret DATABASE_URL: serviceAccount:meta-ad-studio-run@meta-ad-studio-prod" \
        ".iam.gserviceaccount.com" in failed, failed
    assert "redis-url not found in Secret Manager" in failed, failed
