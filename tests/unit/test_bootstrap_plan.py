"""gcp-bootstrap's pure parts: what the sample's environments need, and the plan against what
a project holds (empty, complete, partly set up)."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from shipyard import config
from shipyard.bootstrap.converge import _grants
from shipyard.bootstrap.desired import desired
from shipyard.bootstrap.plan import CHANGE, CREATE, PRESENT, Observed, plan
from shipyard.commands.gcloud_bootstrap import ACCOUNT, PROJECT, SECRET, PolicyHolder
from shipyard.errors import UsageError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "meta-ad-studio"
P = "meta-ad-studio-staging"
RUNTIME = f"serviceAccount:meta-ad-studio-run@{P}.iam.gserviceaccount.com"
DEPLOYER = f"serviceAccount:shipyard-deployer@{P}.iam.gserviceaccount.com"
ALL_APIS = {"artifactregistry.googleapis.com", "cloudbuild.googleapis.com",
            "cloudresourcemanager.googleapis.com", "iam.googleapis.com", "run.googleapis.com",
            "secretmanager.googleapis.com"}


def environment(name: str = "staging", **gcp: object) -> config.Environment:
    env = config.load(EXAMPLE).environment(name)
    assert env.gcp is not None
    return dataclasses.replace(env, gcp=dataclasses.replace(env.gcp, **gcp))  # type: ignore[arg-type]


def complete(env: config.Environment) -> Observed:
    """A project that holds everything `env` needs."""
    want = desired(env)
    holders = {want.repository, *want.secrets,
               *(PolicyHolder(ACCOUNT, a.email, want.project) for a in want.accounts)}
    granted: dict[PolicyHolder, set[tuple[str, str]]] = {}
    for b in want.bindings:
        granted.setdefault(b.holder, set()).add((b.role, b.member))
    return Observed(frozenset(want.apis), {h: True for h in holders},
                    {h: frozenset(g) for h, g in granted.items()})


def test_the_sample_staging_needs_these_bindings_and_no_more() -> None:
    want = desired(environment())
    project = PolicyHolder(PROJECT, P, P)
    runtime = PolicyHolder(ACCOUNT, RUNTIME.partition(":")[2], P)
    assert set(want.apis) == ALL_APIS
    assert {(b.holder, b.role, b.member) for b in want.bindings} == {
        (project, "roles/logging.logWriter", RUNTIME),
        (project, "roles/monitoring.metricWriter", RUNTIME),
        (project, "roles/cloudtrace.agent", RUNTIME),
        (project, "roles/run.admin", DEPLOYER),
        (runtime, "roles/iam.serviceAccountUser", DEPLOYER),
        (want.repository, "roles/artifactregistry.writer", DEPLOYER),
        *((PolicyHolder(SECRET, s, P), "roles/secretmanager.secretAccessor", RUNTIME)
          for s in ("db-url", "runwayml-key", "redis-url")),
        *((PolicyHolder(SECRET, s, P), "roles/secretmanager.viewer", DEPLOYER)
          for s in ("db-url", "runwayml-key", "redis-url")),
    }
    assert all(b.reason for b in want.bindings)


def test_gke_gets_the_container_api_and_developer_role_not_cloud_run() -> None:
    want = desired(environment("prod", service_account="app-runtime@meta-ad-studio-prod.iam."
                                                        "gserviceaccount.com"))
    assert "container.googleapis.com" in want.apis and "run.googleapis.com" not in want.apis
    roles = {b.role for b in want.bindings if b.holder.kind == PROJECT}
    assert "roles/container.developer" in roles and "roles/run.admin" not in roles


def test_an_empty_project_gets_everything_apis_first_in_one_call() -> None:
    the_plan = plan(desired(environment()), Observed(frozenset()), "gcloud")
    verbs = [step.argv[1:3] for step in the_plan.steps]
    assert verbs[0] == ("services", "enable")
    assert set(the_plan.steps[0].argv[3:9]) == ALL_APIS
    assert verbs.count(("services", "enable")) == 1
    creates = [s.argv[1:5] for s in the_plan.steps if "create" in s.argv]
    assert creates == [("artifacts", "repositories", "create", "meta-ad-studio"),
                       ("iam", "service-accounts", "create", "meta-ad-studio-run"),
                       ("iam", "service-accounts", "create", "shipyard-deployer"),
                       ("secrets", "create", "db-url", "--replication-policy"),
                       ("secrets", "create", "runwayml-key", "--replication-policy"),
                       ("secrets", "create", "redis-url", "--replication-policy")]
    # every grant comes after every create: a binding needs its account and resource
    first_grant = next(i for i, s in enumerate(the_plan.steps) if s.kind == "grant")
    assert all(s.kind == "grant" for s in the_plan.steps[first_grant:])
    assert len(the_plan.steps) == 1 + 6 + 12
    assert {r.state for r in the_plan.rows} == {CREATE, CHANGE}
    assert not any("--data-file" in arg or arg.startswith("--data")
                   for s in the_plan.steps for arg in s.argv)


def test_a_complete_project_gets_no_change() -> None:
    env = environment()
    the_plan = plan(desired(env), complete(env), "gcloud")
    assert the_plan.steps == () and not the_plan.changes
    assert {r.state for r in the_plan.rows} == {PRESENT}
    assert len(the_plan.rows) == 6 + 6 + 12


def test_a_partial_project_gets_only_what_is_missing() -> None:
    env = environment()
    full = complete(env)
    db = PolicyHolder(SECRET, "db-url", P)
    seen = Observed(full.enabled - {"cloudbuild.googleapis.com"},
                    {**full.exists, db: False},
                    {h: g for h, g in full.granted.items() if h != db})
    the_plan = plan(desired(env), seen, "gcloud")
    assert [s.argv[1:] for s in the_plan.steps] == [
        ("services", "enable", "cloudbuild.googleapis.com", "--project", P, "--quiet"),
        ("secrets", "create", "db-url", "--replication-policy", "automatic", "--project", P,
         "--quiet"),
        ("secrets", "add-iam-policy-binding", "db-url", "--project", P, "--member", RUNTIME,
         "--role", "roles/secretmanager.secretAccessor", "--condition=None", "--format",
         "none", "--quiet"),
        ("secrets", "add-iam-policy-binding", "db-url", "--project", P, "--member", DEPLOYER,
         "--role", "roles/secretmanager.viewer", "--condition=None", "--format", "none",
         "--quiet"),
    ]


def test_a_conditional_binding_is_not_a_present_one() -> None:
    policy = ('{"bindings": [{"role": "roles/run.admin", "members": ["user:a@b.c"], '
              '"condition": {"title": "until friday", "expression": "request.time < x"}}, '
              '{"role": "roles/viewer", "members": ["user:a@b.c", "user:d@b.c"]}]}')
    assert _grants(policy) == {("roles/viewer", "user:a@b.c"), ("roles/viewer", "user:d@b.c")}
    assert _grants("") == frozenset()


@pytest.mark.parametrize(("changes", "says"), [
    ({"service_account": None}, "environments.staging.service_account is not set"),
    ({"service_account": "run@meta-ad-studio-staging.iam.gserviceaccount.com"},
     "environments.staging.service_account = 'run@meta-ad-studio-staging.iam.gserviceaccount"
     ".com': gcp-bootstrap creates it, so it must be ID@meta-ad-studio-staging.iam."
     "gserviceaccount.com with an ID of 6 to 30"),
    ({"deployer_service_account": "ci-deployer@other-project.iam.gserviceaccount.com"},
     "environments.staging.deployer_service_account = 'ci-deployer@other-project"),
    ({"deployer_service_account": f"meta-ad-studio-run@{P}.iam.gserviceaccount.com"},
     "environments.staging: service_account and deployer_service_account are the same"),
])
def test_accounts_that_cannot_be_made_are_refused_first(changes: dict[str, object],
                                                         says: str) -> None:
    with pytest.raises(UsageError) as refused:
        desired(environment(**changes))
    assert refused.value.message.startswith(says), refused.value.message
    assert refused.value.hint


def test_the_local_environment_is_refused() -> None:
    with pytest.raises(UsageError, match="gcp-bootstrap sets up a cloudrun or gke "
                                         "environment; 'local' is 'local'"):
        desired(config.load(EXAMPLE).environment("local"))


def test_the_deployer_account_defaults_to_one_in_the_project_and_can_be_named() -> None:
    assert environment().gcp.deployer_service_account == (  # type: ignore[union-attr]
        f"shipyard-deployer@{P}.iam.gserviceaccount.com")
    text = (EXAMPLE / "shipyard.toml").read_text().replace(
        'repository = "meta-ad-studio"\nservice_account',
        f'repository = "meta-ad-studio"\ndeployer_service_account = '
        f'"ci-deploy@{P}.iam.gserviceaccount.com"\nservice_account', 1)
    parsed = config.parse(tomllib.loads(text), EXAMPLE)
    assert parsed.environment("staging").gcp.deployer_service_account == (  # type: ignore[union-attr]
        f"ci-deploy@{P}.iam.gserviceaccount.com")
