"""`invoke gcp-bootstrap --env staging` in a copy of the sample, through the real gcloud,
against the project-setup stand-in (tests/contract/gcp_standin.py): a dry run changes nothing,
a first run makes everything, a rerun makes no change call, a partly set-up project gets only
what it lacks, and no secret value or `--data-file` goes anywhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.contract.gcp_standin import GcpStandIn
from tests.support.apps import sample_copy
from tests.support.cli import Ran, invoke

pytestmark = pytest.mark.contract

P = "meta-ad-studio-staging"
RUNTIME = f"meta-ad-studio-run@{P}.iam.gserviceaccount.com"
DEPLOYER = f"shipyard-deployer@{P}.iam.gserviceaccount.com"
APIS = {"artifactregistry.googleapis.com", "cloudbuild.googleapis.com",
        "cloudresourcemanager.googleapis.com", "iam.googleapis.com", "run.googleapis.com",
        "secretmanager.googleapis.com"}
SECRETS = ("db-url", "runwayml-key", "redis-url")
REPO = "repositories/us-central1/meta-ad-studio"


@pytest.fixture
def gcp() -> Iterator[GcpStandIn]:
    require_tool("gcloud", "gcp-bootstrap runs the real gcloud", install="the Google Cloud SDK")
    with GcpStandIn(P, "100000000077") as standin:
        yield standin


@pytest.fixture
def app(tmp_path: Path) -> Path:
    sample_copy(tmp_path / "app", tmp_path / "remote.git")
    return tmp_path / "app"


def bootstrap(app: Path, gcp: GcpStandIn, *flags: str) -> Ran:
    ran = invoke(app, "gcp-bootstrap", "--env", "staging", *flags,
                 env=gcp.env(app.parent), timeout=900)
    assert ran.code == 0, ran.text
    return ran


def commands_run(app: Path) -> list[str]:
    log = app / ".shipyard" / "logs" / "commands.log"
    return [json.loads(line)["argv"] for line in log.read_text().splitlines()]


def secret_policy(gcp: GcpStandIn, secret: str) -> set[tuple[str, str]]:
    found = gcp.secret_manager.secrets[("100000000077", secret)]
    return {(b["role"], m) for b in found.bindings for m in b["members"]}


def test_a_dry_run_prints_the_plan_and_makes_no_change_call(app: Path, gcp: GcpStandIn
                                                            ) -> None:
    ran = bootstrap(app, gcp, "--dry-run")
    assert gcp.changes() == []
    assert gcp.enabled == set() and gcp.accounts == {} and gcp.secret_manager.secrets == {}
    rows = [line for line in ran.out.splitlines() if "│" in line]
    for api in APIS:
        assert any(api in row and "will create" in row for row in rows), ran.out
    assert any("roles/run.admin → shipyard-deployer on project" in row and
               "will change" in row for row in rows), ran.out
    planned = [line for line in ran.out.splitlines() if line.startswith("[dry-run] ")]
    assert len(planned) == 19 and "services enable" in planned[0]
    assert "dry run: 19 change(s) planned, none made" in ran.err
    assert not (app / ".shipyard" / "logs").exists()  # a dry run writes nothing


def test_a_first_run_makes_everything_and_a_rerun_makes_no_change_call(
        app: Path, gcp: GcpStandIn) -> None:
    first = bootstrap(app, gcp)
    assert "19 change(s) made" in first.err
    assert gcp.enabled == APIS
    assert gcp.repositories == {("us-central1", "meta-ad-studio"): "DOCKER"}
    assert set(gcp.accounts) == {RUNTIME, DEPLOYER}
    assert gcp.granted(f"projects/{P}") == {
        ("roles/logging.logWriter", f"serviceAccount:{RUNTIME}"),
        ("roles/monitoring.metricWriter", f"serviceAccount:{RUNTIME}"),
        ("roles/cloudtrace.agent", f"serviceAccount:{RUNTIME}"),
        ("roles/run.admin", f"serviceAccount:{DEPLOYER}")}
    assert gcp.granted(f"serviceAccounts/{RUNTIME}") == {
        ("roles/iam.serviceAccountUser", f"serviceAccount:{DEPLOYER}")}
    assert gcp.granted(f"serviceAccounts/{DEPLOYER}") == set()
    assert gcp.granted(REPO) == {("roles/artifactregistry.writer", f"serviceAccount:{DEPLOYER}")}
    for secret in SECRETS:
        assert gcp.secret_manager.secrets[("100000000077", secret)].versions == []  # empty
        assert secret_policy(gcp, secret) == {
            ("roles/secretmanager.secretAccessor", f"serviceAccount:{RUNTIME}"),
            ("roles/secretmanager.viewer", f"serviceAccount:{DEPLOYER}")}
    enables = [c for c in gcp.changes() if c.path.endswith(":batchEnable")]
    assert len(enables) == 1 and set(json.loads(enables[0].body)["serviceIds"]) == APIS
    assert not any(":addVersion" in c.path or '"payload"' in c.body for c in gcp.calls)
    assert not any("--data-file" in argv for argv in commands_run(app))

    before = len(gcp.calls)
    again = bootstrap(app, gcp, "--json")
    assert [c for c in gcp.calls[before:] if c.changes] == []
    report = json.loads(again.out)
    assert report["changes"] == 0 and report["commands"] == []
    assert {row["state"] for row in report["resources"]} == {"present"}
    assert len(report["resources"]) == 24
    assert "nothing to do: everything is present" in again.err


def test_a_partly_set_up_project_gets_only_what_it_lacks(app: Path, gcp: GcpStandIn) -> None:
    gcp.enable(*(APIS - {"cloudbuild.googleapis.com"}))
    gcp.add_repository("meta-ad-studio", "us-central1")
    gcp.add_account(RUNTIME)
    gcp.grant(f"projects/{P}", "roles/owner", "user:lead@example.com")
    gcp.grant(f"projects/{P}", "roles/logging.logWriter", f"serviceAccount:{RUNTIME}")
    gcp.secret_manager.add_secret(P, "db-url", ("a value someone set earlier", "ENABLED"))
    gcp.secret_manager.grant(P, "db-url", f"serviceAccount:{RUNTIME}")
    gcp.conflicts = 1  # the first policy write meets another writer: 409 ABORTED, retried

    ran = bootstrap(app, gcp, "--json")
    report = json.loads(ran.out)
    assert [" ".join(argv[:3]) for argv in report["commands"]] == [
        "services enable cloudbuild.googleapis.com",
        "iam service-accounts create",
        "secrets create runwayml-key", "secrets create redis-url",
        f"projects add-iam-policy-binding {P}", f"projects add-iam-policy-binding {P}",
        f"projects add-iam-policy-binding {P}",
        "iam service-accounts add-iam-policy-binding",
        "artifacts repositories add-iam-policy-binding",
        "secrets add-iam-policy-binding db-url",
        "secrets add-iam-policy-binding runwayml-key",
        "secrets add-iam-policy-binding runwayml-key",
        "secrets add-iam-policy-binding redis-url", "secrets add-iam-policy-binding redis-url"]
    assert report["commands"][1][3] == "shipyard-deployer"
    assert report["changes"] == 14
    states = {row["name"]: row["state"] for row in report["resources"]}
    assert states["meta-ad-studio"] == "present" and states[RUNTIME] == "present"
    assert states["db-url"] == "present" and states["runwayml-key"] == "will create"
    # what was there stays: the other binding, the secret's value
    assert ("roles/owner", "user:lead@example.com") in gcp.granted(f"projects/{P}")
    assert gcp.secret_manager.secrets[("100000000077", "db-url")].versions[0].payload == (
        b"a value someone set earlier")
    assert gcp.conflicts == 0  # the refused write happened, and its retry went through
    assert len(gcp.granted(f"projects/{P}")) == 5


def test_a_run_stopped_by_a_refusal_is_finished_by_the_next(app: Path, gcp: GcpStandIn) -> None:
    gcp.denied.add("secretId=redis-url")  # gcloud's account may not create this one
    ran = invoke(app, "gcp-bootstrap", "--env", "staging", env=gcp.env(app.parent),
                 timeout=900)
    assert ran.code == 1, ran.text
    assert ran.line("error: ").startswith("command failed (exit 1): ")
    assert "secrets create redis-url" in ran.line("error: ")
    assert ran.line("hint: ").endswith("What ran before stays done: rerun gcp-bootstrap to "
                                       "carry on")
    assert "Traceback" not in ran.text
    made = {s for _, s in gcp.secret_manager.secrets}
    assert made == {"db-url", "runwayml-key"} and set(gcp.accounts) == {RUNTIME, DEPLOYER}
    assert gcp.granted(f"projects/{P}") == set()  # the grants come after every create

    gcp.denied.clear()
    before = len(gcp.calls)
    again = bootstrap(app, gcp, "--json")
    report = json.loads(again.out)
    assert report["changes"] == 13  # the secret left over, then the 12 bindings
    assert report["commands"][0][:3] == ["secrets", "create", "redis-url"]
    assert sum(c.changes for c in gcp.calls[before:]) == 13
    assert len(gcp.granted(f"projects/{P}")) == 4 and secret_policy(gcp, "redis-url")
