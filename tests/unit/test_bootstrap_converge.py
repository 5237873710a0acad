"""gcp-bootstrap's reads and changes through the runner (the FakeRunner answers for gcloud):
what counts as absent, what is retried, what stops the run, and that a dry run changes
nothing."""

from __future__ import annotations

import json

import pytest

from shipyard.bootstrap.converge import apply, observe
from shipyard.bootstrap.desired import desired
from shipyard.bootstrap.plan import Plan, Step
from shipyard.commands.gcloud_bootstrap import ACCOUNT, PolicyHolder
from shipyard.errors import CommandError, ShipyardError
from tests.unit.fakes import FakeRunner, Reply
from tests.unit.test_bootstrap_plan import ALL_APIS, RUNTIME, environment

GRANT = Step(("gcloud", "projects", "add-iam-policy-binding", "p", "--member", "user:a@b.c",
              "--role", "roles/x"), "grant roles/x", "grant")
CREATE = Step(("gcloud", "secrets", "create", "db-url"), "create secret db-url", "create")
NOT_FOUND = "ERROR: (gcloud.secrets.describe) NOT_FOUND: Secret [projects/1/secrets/x] not found"


def test_a_refused_policy_write_is_retried_until_it_goes_through() -> None:
    runner = FakeRunner()
    tries = iter([Reply(1, "", "ERROR: ... ABORTED: There were concurrent policy changes."),
                  Reply(1, "", "Service account run@p.iam.gserviceaccount.com does not exist."),
                  Reply()])
    runner.on(GRANT.argv, lambda _call: next(tries))
    assert apply(runner, Plan((), (GRANT,)), "p", backoff=0) == 1
    assert len(runner.ran(*GRANT.argv)) == 3


def test_a_policy_write_refused_for_good_stops_the_run_with_a_hint() -> None:
    runner = FakeRunner()
    runner.fail(GRANT.argv, "ERROR: PERMISSION_DENIED: Policy update access denied.")
    with pytest.raises(CommandError) as failed:
        apply(runner, Plan((), (GRANT, CREATE)), "p", backoff=0)
    assert len(runner.ran(*GRANT.argv)) == 1 and runner.ran(*CREATE.argv) == []
    assert "PERMISSION_DENIED" in failed.value.stderr_tail
    assert failed.value.hint is not None and failed.value.hint.startswith(
        "grant roles/x failed; gcloud's account needs to read and change project p")
    assert "rerun gcp-bootstrap to carry on" in failed.value.hint


def test_a_create_that_meets_already_exists_is_done() -> None:
    runner = FakeRunner()
    runner.fail(CREATE.argv, "ERROR: (gcloud.secrets.create) ALREADY_EXISTS: Secret exists.")
    assert apply(runner, Plan((), (CREATE,)), "p") == 1
    runner.fail(GRANT.argv, "ERROR: ALREADY_EXISTS: not a create, so not fine")
    with pytest.raises(CommandError):
        apply(runner, Plan((), (GRANT,)), "p", backoff=0)


def test_a_dry_run_runs_no_change() -> None:
    runner = FakeRunner(dry_run=True)
    assert apply(runner, Plan((), (CREATE, GRANT)), "p") == 2
    assert runner.executed == [] and runner.planned == [CREATE.argv, GRANT.argv]


def project_reads(runner: FakeRunner, *, repo_format: str = "DOCKER") -> None:
    services = [{"config": {"name": api}} for api in ALL_APIS]
    runner.on(("gcloud", "services", "list"), Reply(0, json.dumps(services)))
    runner.on(("gcloud", "artifacts", "repositories", "describe"),
              Reply(0, json.dumps({"format": repo_format})))
    runner.on(("gcloud", "iam", "service-accounts", "describe"), Reply(0, "{}"))
    runner.fail(("gcloud", "secrets", "describe"), NOT_FOUND)
    policy = {"bindings": [{"role": "roles/run.admin", "members": ["user:a@b.c"]}]}
    for group in (("projects",), ("iam", "service-accounts"), ("artifacts", "repositories")):
        runner.on(("gcloud", *group, "get-iam-policy"), Reply(0, json.dumps(policy)))


def test_reads_run_in_a_dry_run_too_and_not_found_is_absent() -> None:
    runner = FakeRunner(dry_run=True)
    project_reads(runner)
    want = desired(environment())
    seen = observe(runner, "gcloud", want)
    assert seen.enabled == ALL_APIS
    assert seen.exists[want.repository] is True
    assert seen.exists[PolicyHolder(ACCOUNT, RUNTIME.partition(":")[2], want.project)] is True
    assert [seen.exists[s] for s in want.secrets] == [False, False, False]
    # no policy is read for a secret that is not there
    assert runner.ran("gcloud", "secrets", "get-iam-policy") == []
    assert seen.granted[want.repository] == {("roles/run.admin", "user:a@b.c")}


def test_a_read_that_fails_otherwise_stops_before_any_change() -> None:
    runner = FakeRunner()
    project_reads(runner)
    runner.fail(("gcloud", "secrets", "describe"), "ERROR: PERMISSION_DENIED: no access")
    with pytest.raises(CommandError) as failed:
        observe(runner, "gcloud", desired(environment()))
    assert "PERMISSION_DENIED" in failed.value.stderr_tail


def test_a_repository_of_another_format_is_not_taken_for_ours() -> None:
    runner = FakeRunner()
    project_reads(runner, repo_format="MAVEN")
    with pytest.raises(ShipyardError, match="exists but holds MAVEN packages, not docker"):
        observe(runner, "gcloud", desired(environment()))


def test_apis_that_are_off_are_not_read_through() -> None:
    runner = FakeRunner()
    runner.on(("gcloud", "services", "list"), Reply(0, "[]"))
    seen = observe(runner, "gcloud", desired(environment()))
    assert runner.argvs == [runner.argvs[0]] and seen.exists == {} and seen.granted == {}


def test_changes_run_in_waves_and_two_writes_of_one_policy_never_race() -> None:
    from shipyard.bootstrap.converge import _waves
    from shipyard.bootstrap.plan import Observed, plan

    the_plan = plan(desired(environment()), Observed(frozenset()), "gcloud")
    waves = _waves(the_plan.steps)
    assert [[len(lane) for lane in wave] for wave in waves] == [
        [1], [1, 1, 1, 1, 1, 1], [4, 1, 1, 2, 2, 2]]  # project: 4 grants, each secret: 2
    assert [s for wave in waves for lane in wave for s in lane] == list(the_plan.steps)

    runner = FakeRunner()
    runner.on(("gcloud",))
    assert apply(runner, the_plan, "p") == 19
    assert sorted(runner.argvs) == sorted(s.argv for s in the_plan.steps)
    first_grant = next(i for i, a in enumerate(runner.argvs) if "add-iam-policy-binding" in a)
    assert all("add-iam-policy-binding" in a for a in runner.argvs[first_grant:])
    assert runner.argvs[0][1:3] == ("services", "enable")


def test_a_project_that_is_not_there_is_an_error_not_a_project_with_every_api_off() -> None:
    runner = FakeRunner()
    runner.fail(("gcloud", "services", "list"),
                "ERROR: (gcloud.services.list) NOT_FOUND: Project 'p' not found.")
    with pytest.raises(CommandError) as failed:
        observe(runner, "gcloud", desired(environment()))
    assert "NOT_FOUND" in failed.value.stderr_tail and len(runner.argvs) == 1
