"""Every command line commands/gcloud.py builds passes the real gcloud's parser.

gcloud exits 2 when its parser rejects a command; with `--verbosity=debug` it logs
`Running [gcloud.GROUP.COMMAND] with arguments: [...]` once it accepted them. The requests
then go to an endpoint nothing answers, so each call fails later (exit 1) and changes nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shipyard.commands import gcloud as g
from tests.contract.gcloud_env import hermetic

pytestmark = pytest.mark.contract

GCLOUD = shutil.which("gcloud") or "gcloud"
IMAGE = "us-central1-docker.pkg.dev/p/repo/api-server@sha256:" + "ab" * 32


def hermetic_env(tmp: Path) -> dict[str, str]:
    # Nothing listens at the override: a parsed command fails at its first request, exit 1.
    return {**os.environ, **hermetic(tmp, "p"),
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN": "http://127.0.0.1:9/"}


def service(**changes: object) -> g.RunService:
    base = dict(name="api-server", image=IMAGE, region="us-central1", project="p", port=8080,
                health_path="/healthz", tag="v1-1-0-rc-1",
                env={"VIDEO_GENERATION_ENABLED": "true", "ORIGINS": "a.example,b.example"},
                secrets={"DATABASE_URL": "db-url:7", "REDIS_URL": "redis-url:2"},
                labels={"managed-by": "shipyard", "dev-shipyard-version": "v1-1-0-rc-1"},
                allow_unauthenticated=False, service_account="run@p.iam.gserviceaccount.com",
                cpu="1", memory="512Mi", concurrency=80, min_instances=0, max_instances=10)
    base.update(changes)
    return g.RunService(**base)  # type: ignore[arg-type]


BUILDERS: dict[str, Callable[[], tuple[str, ...]]] = {
    "deploy, no traffic": lambda: g.run_deploy(GCLOUD, service(), no_traffic=True),
    "first deploy, public, bare": lambda: g.run_deploy(GCLOUD, service(
        env={}, secrets={}, labels={}, allow_unauthenticated=True, service_account=None,
        cpu=None, memory=None, concurrency=None, min_instances=None, max_instances=None),
        no_traffic=False),
    "update env (a flag)": lambda: g.update_env(GCLOUD, "api-server", "us-central1", "p",
                                                {"VIDEO_GENERATION_ENABLED": "false"},
                                                "v1-1-0-rc-1-f3a9c2e"),
    "update traffic": lambda: g.update_traffic(GCLOUD, "api-server", "us-central1", "p",
                                               {"api-server-00002-abc": 100}),
    "remove tags": lambda: g.remove_tags(GCLOUD, "api-server", "us-central1", "p",
                                         ["v1-2-0", "v1-3-0"]),
    "describe": lambda: g.describe_service(GCLOUD, "api-server", "us-central1", "p"),
    "revisions": lambda: g.list_revisions(GCLOUD, "api-server", "us-central1", "p"),
    "access token": lambda: g.print_access_token(GCLOUD),
    "identity token": lambda: g.print_identity_token(GCLOUD, "https://api-server-x.a.run.app"),
    "identity token, impersonated": lambda: g.print_identity_token(
        GCLOUD, "https://v1-1-0---api-server-x.a.run.app", "verifier@p.iam.gserviceaccount.com"),
    "config value": lambda: g.config_value(GCLOUD, "core/project"),
    "accounts": lambda: g.accounts(GCLOUD),
}


def test_dict_flags_escape_commas_and_sort() -> None:
    assert g.dict_flag({"B": "2", "A": "1"}) == "A=1,B=2"
    assert g.dict_flag({"ORIGINS": "a,b", "X": "1"}) == "^@^ORIGINS=a,b@X=1"
    assert g.dict_flag({"A": "a,b@c", "B": "#"}) == "^%^A=a,b@c%B=#"


def test_deploy_argv_is_exact() -> None:
    assert g.run_deploy(GCLOUD, service(), no_traffic=True) == (
        GCLOUD, "run", "deploy", "api-server", "--image", IMAGE, "--region", "us-central1",
        "--project", "p", "--port", "8080", "--tag", "v1-1-0-rc-1",
        "--startup-probe", "httpGet.path=/healthz,httpGet.port=8080",
        "--no-allow-unauthenticated", "--service-account", "run@p.iam.gserviceaccount.com",
        "--set-env-vars", "^@^ORIGINS=a.example,b.example@VIDEO_GENERATION_ENABLED=true",
        "--set-secrets", "DATABASE_URL=db-url:7,REDIS_URL=redis-url:2",
        "--labels", "dev-shipyard-version=v1-1-0-rc-1,managed-by=shipyard",
        "--cpu", "1", "--memory", "512Mi", "--concurrency", "80", "--min-instances", "0",
        "--max-instances", "10", "--no-traffic", "--format", "json", "--quiet")


def test_flag_update_argv_is_exact() -> None:
    # Only the flag's variable changes: the image, the secrets and the rest stay as they run.
    assert g.update_env(GCLOUD, "api-server", "us-central1", "p",
                        {"VIDEO_GENERATION_ENABLED": "false", "ORIGINS": "a,b"}, "v1-1-0-fab") == (
        GCLOUD, "run", "services", "update", "api-server", "--region", "us-central1",
        "--project", "p", "--update-env-vars", "^@^ORIGINS=a,b@VIDEO_GENERATION_ENABLED=false",
        "--tag", "v1-1-0-fab", "--no-traffic", "--quiet")


def test_every_argv_passes_the_real_gcloud_parser(tmp_path: Path) -> None:
    def parse(name: str) -> tuple[str, int, str]:
        argv = BUILDERS[name]()
        home = tmp_path / "".join(c if c.isalnum() else "-" for c in name)
        home.mkdir()
        done = subprocess.run((*argv, "--verbosity=debug"), env=hermetic_env(home),
                              capture_output=True, text=True, timeout=120, check=False)
        return name, done.returncode, done.stderr

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(parse, BUILDERS))
    for name, code, err in results:
        assert code != 2, f"{name}: gcloud's parser refused it:\n{err[-1500:]}"
        assert "Running [gcloud." in err, f"{name}: never got past parsing:\n{err[-1500:]}"


def test_the_parser_check_can_fail(tmp_path: Path) -> None:
    # The same check on a command line gcloud must refuse: the dict syntax without a value.
    argv = (*g.run_deploy(GCLOUD, service(), no_traffic=True), "--set-secrets=DATABASE_URL")
    done = subprocess.run(argv, env=hermetic_env(tmp_path), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 2, done.stderr[-1000:]
