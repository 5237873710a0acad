"""`invoke release / deploy-run / rollback / status --env staging` on Cloud Run, through the
real gcloud, against the Cloud Run and Secret Manager stand-ins (tests/contract/), with images
built by the real Docker engine and pushed to a real registry.

One scenario, as a team would live it: a first release of two new services, a v2 deployed
with --no-traffic and moved once both verified, a v3 whose alpha never becomes ready, a v4
whose beta answers the wrong version (traffic stays on v2 for both, each time), traffic pinned
by hand (reported), and a rollback that is one traffic update per service.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.conftest import AppRepo, LocalRegistryProcess, Ran, invoke
from tests.contract.cloudrun_standin import CloudRunStandIn, http_get
from tests.contract.conftest import PROJECT
from tests.contract.secret_manager_standin import SecretManagerStandIn
from tests.integration.release_fixtures import kill_tree

pytestmark = pytest.mark.contract

SA = f"run@{PROJECT}.iam.gserviceaccount.com"
SECRET_V2 = "postgres://app:s3cret-value-two@db/app"
CONFIG = """\
[project]
name = "demo"

[services.alpha]
context = "alpha"
port = 8080
secrets = ["DATABASE_URL"]

[services.beta]
context = "beta"
port = 8080

[scan]
scanners = ["secret", "misconfig"]

[environments.local]
target = "local"
registry_port = {registry}
proxy_ports = {{ alpha = 1, beta = 2 }}

[environments.staging]
target = "cloudrun"
project = "{project}"
region = "us-central1"
repository = "demo"
registry = "127.0.0.1:{registry}/demo"
service_account = "{sa}"

[environments.staging.run]
allow_unauthenticated = true
memory = "256Mi"

[environments.staging.secrets]
DATABASE_URL = "db-url"
"""


@pytest.fixture
def secret_manager() -> Iterator[SecretManagerStandIn]:
    with SecretManagerStandIn({PROJECT: "100000000042"}, token="fake") as sm:
        sm.add_secret(PROJECT, "db-url", ("postgres://app:old-value-one@db/app", "ENABLED"),
                      (SECRET_V2, "ENABLED"), ("postgres://app:never-enabled@db/app",
                                               "DISABLED"))
        sm.grant(PROJECT, "db-url", f"serviceAccount:{SA}")
        yield sm


class Staging:
    def __init__(self, repo: AppRepo, env: dict[str, str], run: CloudRunStandIn) -> None:
        self.repo, self.env, self.run = repo, env, run

    def invoke(self, *args: str) -> Ran:
        return invoke(self.repo.work, *args, env=self.env, timeout=600)

    def ok(self, *args: str) -> Ran:
        ran = self.invoke(*args)
        assert ran.code == 0, f"invoke {' '.join(args)} exited {ran.code}:\n{ran.text}"
        return ran

    def change(self, message: str) -> None:
        for name in ("alpha", "beta"):
            path = self.repo.work / name / "content.txt"
            path.write_text(path.read_text() + message + "\n")
        self.repo.git("commit", "-q", "-am", message)
        self.repo.git("push", "-q", "origin", "main")

    def serving(self) -> dict[str, str]:
        """service → the version that answers at its service URL (the stand-in routes it)."""
        found = {}
        for name in ("alpha", "beta"):
            (revision, percent), = self.run.traffic(name).items()
            assert percent == 100
            labels = next(r for r in self.run.revisions(name)
                          if r["metadata"]["name"] == revision)["metadata"]["labels"]
            found[name] = labels["dev-shipyard-version"]
        return found


@pytest.fixture
def staging(images_app: AppRepo, registry: LocalRegistryProcess, cloudrun: CloudRunStandIn,
            cloudrun_env: dict[str, str], secret_manager: SecretManagerStandIn) -> Staging:
    (images_app.work / "shipyard.toml").write_text(
        CONFIG.format(registry=registry.port, project=PROJECT, sa=SA))
    images_app.git("commit", "-q", "-am", "a Cloud Run staging environment")
    images_app.git("push", "-q", "origin", "main")
    env = {**cloudrun_env, "SHIPYARD_SECRETMANAGER_ENDPOINT": secret_manager.url}
    return Staging(images_app, env, cloudrun)


def test_release_deploy_fail_rollback_on_cloud_run(
        staging: Staging, secret_manager: SecretManagerStandIn) -> None:
    run = staging.run
    first = staging.ok("release", "--version", "v1.0.0", "--env", "staging")
    assert "alpha: a new service: its first revision" in first.err
    assert staging.serving() == {"alpha": "v1-0-0", "beta": "v1-0-0"}
    v1 = {name: next(iter(run.traffic(name))) for name in ("alpha", "beta")}

    # v2: built and pushed, then deploy-run: no traffic until both verified, then one move each.
    staging.change("v2")
    for step in ("build", "push"):
        staging.ok(step, "--version", "v2.0.0", "--env", "staging")
    before = len(run.requests)
    staging.ok("deploy-run", "--version", "v2.0.0", "--env", "staging")
    deploy_writes = run.requests[before:]
    deploys = [r for r in deploy_writes if r.method == "PUT" and
               r.command == "gcloud.run.deploy"]
    moves = [r for r in deploy_writes if r.method == "PUT" and
             r.command == "shipyard.run.services.update-traffic"]
    assert len(deploys) == 2 and len(moves) == 2
    assert all(t.get("percent") == 100 and t.get("revisionName") == v1[r.path.rsplit("/")[-1]]
               for r in deploys for t in r.body["spec"]["traffic"] if t.get("percent"))
    assert staging.serving() == {"alpha": "v2-0-0", "beta": "v2-0-0"}
    v2 = {name: next(iter(run.traffic(name))) for name in ("alpha", "beta")}

    # The secret reaches Cloud Run as a reference pinned to the newest ENABLED version only.
    refs = [e["valueFrom"]["secretKeyRef"] for r in run.requests if r.method in ("POST", "PUT")
            and isinstance(r.body, dict) and "template" in (r.body.get("spec") or {})
            for c in r.body["spec"]["template"]["spec"]["containers"]
            for e in c.get("env") or [] if "valueFrom" in e]
    assert refs and all(ref == {"name": "db-url", "key": "2"} for ref in refs), refs

    # v3: alpha never becomes ready. No traffic moves anywhere.
    staging.change("v3")
    run.fail_ready("alpha", "Container failed to start and listen on the port")
    failed = staging.invoke("release", "--version", "v3.0.0", "--env", "staging")
    assert failed.code == 1, failed.text
    assert "Container failed to start and listen on the port" in failed.err
    assert "hint: traffic was not moved; its logs: gcloud logging read" in failed.err
    assert {n: next(iter(run.traffic(n))) for n in v2} == v2
    spec = run.service("alpha")["spec"]["traffic"]  # type: ignore[index]
    assert any(t.get("tag") == "v3-0-0" for t in spec)  # the failed revision keeps its tag

    # v4: beta becomes ready but answers another version. No traffic moves anywhere.
    staging.change("v4")
    run.wrong_version("beta", "v0.0.0")
    wrong = staging.invoke("release", "--version", "v4.0.0", "--env", "staging")
    assert wrong.code == 1, wrong.text
    assert "answered 200 'v0.0.0', not v4.0.0" in wrong.err, wrong.err
    assert "removing the tags of failed revisions: v3-0-0" in wrong.err
    assert {n: next(iter(run.traffic(n))) for n in v2} == v2
    assert staging.serving() == {"alpha": "v2-0-0", "beta": "v2-0-0"}

    # Someone pins alpha's traffic by hand; the next deploy says so before it moves it.
    run.pin("alpha", v1["alpha"])
    pinned = staging.ok("deploy-run", "--version", "v2.0.0", "--env", "staging")
    assert "warning: alpha: traffic was set by hand" in pinned.err

    # Rollback: one traffic update per service, no deploy, back to v1's recorded revisions,
    # all from shipyard's own process: not one gcloud start-up (the token is the environment's).
    before = len(run.requests)
    log = staging.repo.work / ".shipyard" / "logs" / "commands.log"
    logged = len(log.read_text().splitlines())
    staging.ok("rollback", "--env", "staging", "--to", "v1.0.0")
    entries = [json.loads(line) for line in log.read_text().splitlines()[logged:]]
    assert not [e for e in entries if "gcloud" in str(e.get("argv"))], entries
    assert sorted(e["request"].rsplit("/", 1)[-1] for e in entries
                  if e.get("request", "").startswith("API PUT")) == ["alpha", "beta"]
    rollback = run.requests[before:]
    assert [r for r in rollback if r.method == "POST"] == []
    assert sorted(r.path.rsplit("/")[-1] for r in rollback if r.method == "PUT") == [
        "alpha", "beta"]
    assert all(r.command == "shipyard.run.services.update-traffic"
               for r in rollback if r.method == "PUT")
    assert {n: next(iter(run.traffic(n))) for n in v1} == v1

    status = json.loads(staging.ok("status", "--env", "staging", "--json").out)
    assert status["serving"] == "v1.0.0"
    assert {s["name"]: s["revision"] for s in status["services"]} == v1

    # The value never went anywhere: not to Cloud Run, not to Secret Manager, not on disk.
    assert not any(SECRET_V2 in r.raw for r in run.requests)
    assert SECRET_V2 not in secret_manager.log_text()
    for path in (staging.repo.work / ".shipyard").rglob("*"):
        if path.is_file():
            assert SECRET_V2 not in path.read_text(errors="replace"), path
    records = staging.repo.work / ".shipyard" / "releases" / "staging"
    kept = json.loads((records / "v2.0.0.json").read_text())["secrets"]
    assert kept == {"alpha": [{"env": "DATABASE_URL", "secret": "db-url", "version": "2"}],
                    "beta": []}


def test_preflight_refuses_a_missing_secret_by_name_before_anything_runs(
        staging: Staging, secret_manager: SecretManagerStandIn) -> None:
    config = staging.repo.work / "shipyard.toml"
    config.write_text(config.read_text().replace('DATABASE_URL = "db-url"',
                                                 'DATABASE_URL = "no-such-secret"'))
    staging.repo.git("commit", "-q", "-am", "a secret that does not exist")
    staging.repo.git("push", "-q", "origin", "main")
    refused = staging.invoke("release", "--version", "v1.0.0", "--env", "staging")
    assert refused.code == 2, refused.text
    assert "no-such-secret" in refused.err and "DATABASE_URL" in refused.err
    assert staging.run.writes() == []  # nothing was deployed
    assert staging.repo.git("tag", "--list") == ""  # nothing was tagged


def test_a_version_too_long_for_cloud_runs_tag_limit_is_bad_input(staging: Staging) -> None:
    long = "v1.0.0-" + "rc" * 20
    refused = staging.invoke("deploy-run", "--version", long, "--env", "staging")
    assert refused.code == 2, refused.text
    assert "Cloud Run allows 46" in refused.err
    assert staging.run.writes() == []


def test_deploy_run_refuses_a_local_environment(staging: Staging) -> None:
    refused = staging.invoke("deploy-run", "--version", "v1.0.0", "--env", "local")
    assert refused.code == 2
    assert refused.err.splitlines()[0] == ("error: deploy-run deploys to target 'cloudrun'; "
                                           "environment 'local' is 'local'")
    assert refused.err.splitlines()[1] == "hint: pass --env staging"



INVOKER = f"verifier@{PROJECT}.iam.gserviceaccount.com"


def test_a_private_service_is_verified_with_an_identity_token(
        staging: Staging, secret_manager: SecretManagerStandIn) -> None:
    """alpha private, beta public. The stand-in answers a private service's URLs 403 without
    a bearer it minted, so a verification that forgot the identity token fails the release."""
    config = staging.repo.work / "shipyard.toml"
    config.write_text(config.read_text().replace(
        "allow_unauthenticated = true\n",
        f'allow_unauthenticated = {{ beta = true }}\ninvoker_service_account = "{INVOKER}"\n'))
    staging.repo.git("commit", "-q", "-am", "alpha private, beta public")
    staging.repo.git("push", "-q", "origin", "main")
    run = staging.run
    released = staging.ok("release", "--version", "v1.0.0", "--env", "staging")
    assert staging.serving() == {"alpha": "v1-0-0", "beta": "v1-0-0"}

    alpha_url = run.revision_url("alpha", next(iter(run.traffic("alpha"))))
    beta_url = run.revision_url("beta", next(iter(run.traffic("beta"))))
    assert alpha_url and beta_url
    assert http_get(f"{alpha_url}/version")[0] == 403  # private: shipyard had to send a token
    assert http_get(f"{beta_url}/version") == (200, "v1.0.0")  # public: no token needed
    assert run.revision_hits("alpha", next(iter(run.traffic("alpha"))))[:2] == [
        "/healthz", "/version"]

    # Tokens were minted by impersonating the invoker, for alpha's URLs only.
    minted = [r for r in run.requests if r.path.endswith(":generateIdToken")]
    assert minted and all(INVOKER in r.path for r in minted)
    audiences = {str((r.body or {}).get("audience")) for r in minted}
    alpha_service = run.service("alpha")["status"]["url"]  # type: ignore[index]
    assert audiences and audiences <= {alpha_url, alpha_service}, audiences
    # The token itself: never printed, never on a command line, never on disk.
    tokens = set(run._minted)
    assert tokens
    assert not any(t in released.text for t in tokens)
    for path in (staging.repo.work / ".shipyard").rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not any(t in text for t in tokens), path


def test_rollback_to_a_revision_that_is_gone_deploys_its_image_again(staging: Staging) -> None:
    """The rollback lists nothing first: Cloud Run's refusal of the move is the check."""
    run = staging.run
    staging.ok("release", "--version", "v1.0.0", "--env", "staging")
    v1 = {name: next(iter(run.traffic(name))) for name in ("alpha", "beta")}
    staging.change("v2")
    staging.ok("release", "--version", "v2.0.0", "--env", "staging")
    v2 = {name: next(iter(run.traffic(name))) for name in ("alpha", "beta")}

    # A dry run reads, says each move with the gcloud command that does the same, writes none.
    before = len(run.requests)
    log = staging.repo.work / ".shipyard" / "logs" / "commands.log"
    logged = log.read_text()
    planned = staging.ok("rollback", "--env", "staging", "--to", "v1.0.0", "--dry-run")
    for name in ("alpha", "beta"):
        assert (f"[dry-run] Cloud Run API: move all traffic of {name} to {v1[name]} (= gcloud "
                f"run services update-traffic {name} --to-revisions {v1[name]}=100)"
                in planned.out), planned.text
    assert [r.method for r in run.requests[before:] if r.method != "GET"] == []
    assert {n: next(iter(run.traffic(n))) for n in v2} == v2
    assert log.read_text() == logged

    run.delete_revision("alpha", v1["alpha"])  # out of band: v1's alpha revision is gone
    before = len(run.requests)
    rolled = staging.ok("rollback", "--env", "staging", "--to", "v1.0.0")
    assert "rollback: the recorded revision of alpha is gone" in rolled.err, rolled.err
    assert staging.serving() == {"alpha": "v1-0-0", "beta": "v1-0-0"}
    asked = run.requests[before:]
    first_move = next(i for i, r in enumerate(asked) if r.method == "PUT"
                      and r.command == "shipyard.run.services.update-traffic")
    assert not [r for r in asked[:first_move] if "/revisions" in r.path]  # no list first


def test_a_rollback_killed_mid_move_reports_what_serves_and_the_rerun_finishes_it(
        staging: Staging) -> None:
    """kill -9 of `invoke rollback` after Cloud Run took both traffic moves but before it
    reported them Ready: `status` reads what serves from Cloud Run, not from the killed run's
    record, and the same rollback again (taking over the dead run's lock) finishes it."""
    run = staging.run
    staging.ok("release", "--version", "v1.0.0", "--env", "staging")
    v1 = {name: next(iter(run.traffic(name))) for name in ("alpha", "beta")}
    staging.change("v2")
    staging.ok("release", "--version", "v2.0.0", "--env", "staging")

    run.reconcile_gets = 10**6  # the moves are taken, and stay "reconciling" until told
    proc = subprocess.Popen((sys.executable, "-m", "invoke", "rollback", "--env", "staging",
                             "--to", "v1.0.0"), cwd=staging.repo.work,
                            env={**os.environ, **staging.env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while {n: next(iter(run.traffic(n))) for n in v1} != v1:
        assert proc.poll() is None, f"the rollback ended before the kill: {proc.stderr}"
        assert time.monotonic() < deadline, "the rollback never moved traffic"
        time.sleep(0.01)
    time.sleep(0.3)  # it polls for Ready now
    assert proc.poll() is None
    kill_tree(proc)
    run.reconcile_gets = 0
    run.reconciled()

    status = json.loads(staging.ok("status", "--env", "staging", "--json").out)
    assert {s["name"]: s["revision"] for s in status["services"]} == v1
    assert status["serving"] == "v1.0.0", status

    # The dead run's lock (this checkout's) is refused with its hint, taken over on request.
    refused = staging.invoke("rollback", "--env", "staging", "--to", "v1.0.0")
    assert refused.code != 0 and "which has died" in refused.err, refused.text
    assert "--break-lock" in refused.err
    staging.ok("rollback", "--env", "staging", "--to", "v1.0.0", "--break-lock")
    assert {n: next(iter(run.traffic(n))) for n in v1} == v1
    status = json.loads(staging.ok("status", "--env", "staging", "--json").out)
    assert status["serving"] == "v1.0.0" and status["last_verified"] == "v1.0.0", status
