"""`invoke cloudbuild-submit` and `invoke cloudbuild-trigger` through the real gcloud, against
the Cloud Build stand-in (tests/contract/cloudbuild_standin.py), on a copy of the sample.

The sample's own ci-cd/cloudbuild.yaml is what gets submitted: gcloud parses it, and the
Build it sends is checked against the file.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.version import TAG_PATTERN, is_version_tag
from tests.contract.cloudbuild_standin import CloudBuildStandIn, cloudbuild_env, used_variables
from tests.contract.gcloud_env import run_gcloud
from tests.support.apps import SAMPLE, write_secrets
from tests.support.cli import Ran, invoke

pytestmark = pytest.mark.contract

STAGING = "meta-ad-studio-staging"
PROD = "meta-ad-studio-prod"
SECRET_VALUES = {"DATABASE_URL": "postgres://app:pa55-db-value@db/app",
                 "RUNWAYML_API_KEY": "rw-key-value-0f3c9a", "REDIS_URL": "redis://:r3dis@r/0"}


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A copy of the sample with its local secrets file filled in: values the build body
    must never carry."""
    copy = tmp_path / "app"
    shutil.copytree(SAMPLE, copy, ignore=shutil.ignore_patterns(".shipyard"))
    write_secrets(copy / ".shipyard/secrets/local.env", SECRET_VALUES)
    return copy


@pytest.fixture
def staging() -> Iterator[CloudBuildStandIn]:
    with CloudBuildStandIn(project=STAGING) as standin:
        yield standin


def run(app: Path, standin: CloudBuildStandIn, tmp_path: Path, *args: str) -> Ran:
    return invoke(app, *args, env=cloudbuild_env(tmp_path, standin), timeout=240)


def sample_build() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((SAMPLE / "ci-cd/cloudbuild.yaml").read_text())
    return loaded


# -- submit ----------------------------------------------------------------------------------

def test_submit_sends_the_parsed_file_and_no_secret(app: Path, staging: CloudBuildStandIn,
                                                    tmp_path: Path) -> None:
    ran = run(app, staging, tmp_path, "cloudbuild-submit", "--version", "v1.1.0", "--env",
              "staging", "--no-source")
    assert ran.code == 0, ran.text
    (post,) = [r for r in staging.requests if r.method == "POST"]
    assert post.path == f"/v1/projects/{STAGING}/locations/us-central1/builds"
    body, wanted = post.body, sample_build()
    assert body["steps"] == wanted["steps"]
    assert body["timeout"] == wanted["timeout"] and body["options"] == wanted["options"]
    assert body["substitutions"] == {"_VERSION": "v1.1.0", "_ENV": "staging",
                                     "_REGION": "us-central1", "_PROJECT_ID": STAGING}
    # Every substitution sent is one a step uses; no secret value is anywhere in the body.
    assert set(body["substitutions"]) <= used_variables(body["steps"])
    for value in SECRET_VALUES.values():
        assert value not in post.raw
    assert "availableSecrets" not in body and "secretEnv" not in post.raw
    assert [r.method for r in staging.requests][-1] == "GET"
    assert staging.builds[0]["status"] == "SUCCESS"
    assert "build " in ran.text and "succeeded" in ran.text


def test_submit_uploads_the_repo_without_shipyards_state(app: Path, staging: CloudBuildStandIn,
                                                          tmp_path: Path) -> None:
    # The default: gcloud tars the repo and uploads it. Left to itself it would take the
    # local secrets file along (this copy has no .git, so no .gcloudignore is generated).
    ran = run(app, staging, tmp_path, "cloudbuild-submit", "--version", "v1.1.0", "--env",
              "staging", "--async")
    assert ran.code == 0, ran.text
    (build,) = staging.builds
    source = build["source"]["storageSource"]
    assert source["bucket"] == f"{STAGING}_cloudbuild"
    files = staging.source_files(build)
    assert {"shipyard.toml", "ci-cd/cloudbuild.yaml", "tasks.py",
            "packages/api-server/server/Dockerfile"} <= set(files)
    assert not [f for f in files if f.startswith(".shipyard")]
    content = staging.source_bytes(build)
    for value in SECRET_VALUES.values():
        assert value.encode() not in content
    assert not (app / ".gcloudignore").exists()  # gcloud wrote nothing into the repo
    assert "--ignore-file .shipyard/cloudbuild/gcloudignore" in ran.text


def test_a_failed_build_exits_1_naming_the_build_and_its_log(
        app: Path, staging: CloudBuildStandIn, tmp_path: Path) -> None:
    staging.outcome("FAILURE", 'Build step 2 "tests" failed: step exited with non-zero status')
    ran = run(app, staging, tmp_path, "cloudbuild-submit", "--version", "v1.1.0", "--env",
              "staging", "--no-source")
    assert ran.code == 1, ran.text
    build_id = staging.builds[0]["id"]
    assert build_id in ran.line("error: ") and "FAILURE" in ran.line("error: ")
    assert 'step 2 "tests"' in ran.line("error: ")
    assert ran.line("hint: ").startswith(f"gcloud builds log {build_id} --region us-central1")
    assert "Traceback" not in ran.text


def test_async_returns_after_the_post(app: Path, staging: CloudBuildStandIn,
                                      tmp_path: Path) -> None:
    staging.hold()  # the build would never finish: only --async can return
    ran = run(app, staging, tmp_path, "cloudbuild-submit", "--version", "v1.2.0-rc.1",
              "--no-source", "--async", "--json")
    assert ran.code == 0, ran.text
    assert [r.method for r in staging.requests] == ["POST"]
    (build,) = staging.builds
    assert json.loads(ran.out) == {"build_id": build["id"], "status": "QUEUED",
                                   "log_url": build["logUrl"]}
    # Without --env: only _VERSION is passed; the file's defaults fill in the rest.
    assert staging.requests[0].body["substitutions"]["_VERSION"] == "v1.2.0-rc.1"
    assert staging.requests[0].body["substitutions"]["_ENV"] == "staging"


@pytest.mark.parametrize(("args", "expected"), [
    (("--version", "v1.1"), "invalid version"),
    (("--version", "v1.1.0", "--env", "local"), "not a Google Cloud one"),
    (("--version", "v1.1.0", "--config", "ci-cd/missing.yaml"), "build file not found"),
    (("--version", "v1.1.0", "--env", "staging", "--config", "ci-cd/bare.yaml"),
     "does not declare the substitution _ENV"),
    (("--version", "v1.1.0", "--config", "ci-cd/broken.yaml"), "not valid YAML"),
])
def test_bad_input_sends_nothing(app: Path, staging: CloudBuildStandIn, tmp_path: Path,
                                 args: tuple[str, ...], expected: str) -> None:
    (app / "ci-cd/bare.yaml").write_text(
        "substitutions: {_VERSION: v0.0.0}\nsteps:\n- name: ubuntu\n  args: [echo, $_VERSION]\n")
    (app / "ci-cd/broken.yaml").write_text("steps: [\n")
    ran = run(app, staging, tmp_path, "cloudbuild-submit", *args, "--no-source")
    assert ran.code == 2, ran.text
    assert expected in ran.line("error: ")
    assert staging.requests == []


def test_the_standin_refuses_what_cloud_build_refuses(app: Path, staging: CloudBuildStandIn,
                                                      tmp_path: Path) -> None:
    # An unused substitution fails the build under MUST_MATCH: shipyard never sends one
    # (above); sent by hand, the stand-in says no, as Cloud Build does.
    env = cloudbuild_env(tmp_path, staging)
    done = run_gcloud(env, "builds", "submit", "--no-source", "--config",
                      str(app / "ci-cd/cloudbuild.yaml"), "--substitutions",
                      "_VERSION=v1.0.0,_UNUSED=x", "--region", "us-central1")
    assert done.code == 1 and '"_UNUSED" in the substitution data is not matched' in done.err
    assert staging.builds == []


# -- the tag trigger -------------------------------------------------------------------------

def writes(standin: CloudBuildStandIn) -> list[str]:
    return [f"{r.method} {r.command}" for r in standin.writes()]


def test_trigger_create_then_rerun_writes_nothing(app: Path, staging: CloudBuildStandIn,
                                                  tmp_path: Path) -> None:
    ran = run(app, staging, tmp_path, "cloudbuild-trigger", "--env", "staging")
    assert ran.code == 0, ran.text
    assert writes(staging) == ["POST gcloud.builds.triggers.create.github"]
    trigger = staging.trigger("meta-ad-studio-staging-release", "us-central1")
    assert trigger is not None
    assert trigger["github"] == {"owner": "meta-ad-studio", "name": "meta-ad-studio",
                                 "push": {"tag": TAG_PATTERN}}
    assert trigger["serviceAccount"] == (f"projects/{STAGING}/serviceAccounts/"
                                         f"shipyard-deployer@{STAGING}.iam.gserviceaccount.com")
    assert trigger["substitutions"] == {"_ENV": "staging"}
    assert trigger["filename"] == "ci-cd/cloudbuild.yaml"
    assert not trigger.get("approvalConfig", {}).get("approvalRequired")

    again = run(app, staging, tmp_path, "cloudbuild-trigger", "--env", "staging")
    assert again.code == 0, again.text
    assert "up to date" in again.text
    assert len(staging.writes()) == 1  # still only the create


def test_a_drifted_trigger_is_updated_once(app: Path, staging: CloudBuildStandIn,
                                           tmp_path: Path) -> None:
    assert run(app, staging, tmp_path, "cloudbuild-trigger", "--env", "staging").code == 0
    drifted = staging.trigger("meta-ad-studio-staging-release", "us-central1")
    assert drifted is not None
    drifted["github"]["push"]["tag"] = ".*"  # someone widened it in the console
    drifted["substitutions"] = {"_ENV": "prod"}
    staging.put_trigger("us-central1", drifted)
    ran = run(app, staging, tmp_path, "cloudbuild-trigger", "--env", "staging")
    assert ran.code == 0, ran.text
    assert writes(staging) == ["POST gcloud.builds.triggers.create.github",
                               "PATCH gcloud.builds.triggers.import"]
    fixed = staging.trigger("meta-ad-studio-staging-release", "us-central1")
    assert fixed is not None and fixed["id"] == drifted["id"]
    assert fixed["github"]["push"]["tag"] == TAG_PATTERN
    assert fixed["substitutions"] == {"_ENV": "staging"}
    assert run(app, staging, tmp_path, "cloudbuild-trigger", "--env", "staging").code == 0
    assert len(staging.writes()) == 2


def test_prod_trigger_requires_approval_and_dry_run_writes_nothing(app: Path,
                                                                   tmp_path: Path) -> None:
    with CloudBuildStandIn(project=PROD) as prod:
        dry = run(app, prod, tmp_path, "cloudbuild-trigger", "--env", "prod", "--dry-run")
        assert dry.code == 0, dry.text
        assert "[dry-run]" in dry.text and "--require-approval" in dry.text
        assert prod.writes() == []
        assert run(app, prod, tmp_path, "cloudbuild-trigger", "--env", "prod").code == 0
        trigger = prod.trigger("meta-ad-studio-prod-release", "us-central1")
        assert trigger is not None and trigger["approvalConfig"] == {"approvalRequired": True}
        # Creating it again, behind shipyard's back, is what the API refuses.
        env = cloudbuild_env(tmp_path, prod)
        again = run_gcloud(env, "builds", "triggers", "create", "github", "--name",
                           "meta-ad-studio-prod-release", "--region", "us-central1",
                           "--repo-owner", "o", "--repo-name", "n", "--tag-pattern", "^v1$",
                           "--build-config", "ci-cd/cloudbuild.yaml")
        assert again.code == 1 and "already exists" in again.err


def test_the_tag_pattern_is_the_version_rule() -> None:
    import re

    rule = re.compile(TAG_PATTERN)
    for tag in ("v1.1.0", "v0.0.1", "v10.2.3-rc.1", "v1.0.0-alpha-2", "v01.0.0", "v1.0",
                "1.0.0", "v1.0.0+build", "v1.0.0-", "v1.0.0-01", "v1.1.0\n"):
        assert bool(rule.fullmatch(tag)) is is_version_tag(tag), tag


def test_a_second_gen_repository_trigger_converges_too(app: Path, staging: CloudBuildStandIn,
                                                       tmp_path: Path) -> None:
    config = app / "shipyard.toml"
    repository = f"projects/{STAGING}/locations/us-central1/connections/gh/repositories/mas"
    config.write_text(config.read_text().replace(
        'github_owner = "meta-ad-studio"\ngithub_name = "meta-ad-studio"\n',
        f'repository = "{repository}"\n'))
    assert run(app, staging, tmp_path, "cloudbuild-trigger", "--env", "staging").code == 0
    trigger = staging.trigger("meta-ad-studio-staging-release", "us-central1")
    assert trigger is not None and "github" not in trigger
    assert trigger["repositoryEventConfig"] == {"repository": repository,
                                                "push": {"tag": TAG_PATTERN}}
    again = run(app, staging, tmp_path, "cloudbuild-trigger", "--env", "staging")
    assert again.code == 0 and "up to date" in again.text
    assert writes(staging) == ["POST gcloud.builds.triggers.create.github"]
