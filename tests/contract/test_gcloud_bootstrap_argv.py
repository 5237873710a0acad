"""Every command line commands/gcloud_bootstrap.py builds passes the real gcloud's parser
(exit 2 is a parser refusal; `Running [gcloud.…]` in the debug log means it was accepted). The
requests go to an endpoint nothing answers, so each call then fails (exit 1) and changes
nothing. The same check as tests/contract/test_gcloud_argv.py."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shipyard.commands import gcloud_bootstrap as gb
from tests.conftest import require_tool
from tests.contract.gcloud_env import GCLOUD, hermetic

pytestmark = pytest.mark.contract

SA = "app-runtime@p-1.iam.gserviceaccount.com"
MEMBER = "serviceAccount:app-deployer@p-1.iam.gserviceaccount.com"
HOLDERS = {
    "project": gb.PolicyHolder(gb.PROJECT, "p-1", "p-1"),
    "account": gb.PolicyHolder(gb.ACCOUNT, SA, "p-1"),
    "repository": gb.PolicyHolder(gb.REPOSITORY, "repo", "p-1", "us-central1"),
    "secret": gb.PolicyHolder(gb.SECRET, "db-url", "p-1"),
}
BUILDERS: dict[str, Callable[[], tuple[str, ...]]] = {
    "services list": lambda: gb.enabled_services(GCLOUD, "p-1"),
    "services enable": lambda: gb.enable_services(GCLOUD, "p-1", ["run.googleapis.com",
                                                                  "iam.googleapis.com"]),
    "repository describe": lambda: gb.describe_repository(GCLOUD, "repo", "us-central1", "p-1"),
    "repository create": lambda: gb.create_repository(GCLOUD, "repo", "us-central1", "p-1",
                                                      "release images (shipyard)"),
    "account describe": lambda: gb.describe_service_account(GCLOUD, SA, "p-1"),
    "account create": lambda: gb.create_service_account(GCLOUD, "app-runtime",
                                                        "shipyard runtime", "p-1"),
    "secret describe": lambda: gb.describe_secret(GCLOUD, "db-url", "p-1"),
    "secret create": lambda: gb.create_secret(GCLOUD, "db-url", "p-1"),
    **{f"{kind} get policy": (lambda h=holder: gb.get_iam_policy(GCLOUD, h))
       for kind, holder in HOLDERS.items()},
    **{f"{kind} add binding": (lambda h=holder: gb.add_iam_binding(GCLOUD, h, MEMBER,
                                                                  "roles/viewer"))
       for kind, holder in HOLDERS.items()},
}


@pytest.fixture(autouse=True)
def real_gcloud() -> None:
    require_tool("gcloud", "its parser is the check", install="the Google Cloud SDK")


def hermetic_env(tmp: Path) -> dict[str, str]:
    # Nothing listens at the overrides: a parsed command fails at its first request, exit 1.
    apis = ("SERVICEUSAGE", "ARTIFACTREGISTRY", "IAM", "CLOUDRESOURCEMANAGER", "SECRETMANAGER")
    return {**os.environ, **hermetic(tmp, "p-1"),
            **{f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}": "http://127.0.0.1:9/" for api in apis}}


def test_a_few_argv_exactly() -> None:
    assert gb.create_secret(GCLOUD, "db-url", "p-1") == (
        GCLOUD, "secrets", "create", "db-url", "--replication-policy", "automatic",
        "--project", "p-1", "--quiet")
    assert gb.enable_services(GCLOUD, "p-1", ["run.googleapis.com", "iam.googleapis.com",
                                              "run.googleapis.com"]) == (
        GCLOUD, "services", "enable", "iam.googleapis.com", "run.googleapis.com",
        "--project", "p-1", "--quiet")
    assert gb.add_iam_binding(GCLOUD, HOLDERS["repository"], MEMBER,
                              "roles/artifactregistry.writer") == (
        GCLOUD, "artifacts", "repositories", "add-iam-policy-binding", "repo", "--location",
        "us-central1", "--project", "p-1", "--member", MEMBER, "--role",
        "roles/artifactregistry.writer", "--condition=None", "--format", "none", "--quiet")
    with pytest.raises(ValueError, match="no API"):
        gb.enable_services(GCLOUD, "p-1", [])


def test_no_builder_takes_a_secret_value() -> None:
    for name, build in BUILDERS.items():
        assert not any(arg.startswith("--data") for arg in build()), name


def test_every_argv_passes_the_real_gcloud_parser(tmp_path: Path) -> None:
    def parse(name: str) -> tuple[str, int, str]:
        home = tmp_path / name.replace(" ", "-")
        done = subprocess.run((*BUILDERS[name](), "--verbosity=debug"), env=hermetic_env(home),
                              capture_output=True, text=True, timeout=180, check=False,
                              stdin=subprocess.DEVNULL)
        return name, done.returncode, done.stderr

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(parse, BUILDERS))
    for name, code, err in results:
        assert code != 2, f"{name}: gcloud's parser refused it:\n{err[-1500:]}"
        assert "Running [gcloud." in err, f"{name}: never got past parsing:\n{err[-1500:]}"


def test_the_parser_check_can_fail(tmp_path: Path) -> None:
    # The same check on what gcloud's parser refuses: a misspelt flag. (A bad value such as
    # --replication-policy=everywhere is refused later, exit 1: not a parser check.)
    argv = (*gb.create_secret(GCLOUD, "db-url", "p-1"), "--replication=automatic")
    done = subprocess.run(argv, env=hermetic_env(tmp_path), capture_output=True, text=True,
                          timeout=180, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr[-1000:]
