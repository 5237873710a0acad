"""Every command line commands/gcloud_builds.py builds passes the real gcloud's parser (the
same check as test_gcloud_argv.py: not exit 2, and `Running [gcloud....]` logged)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shipyard.commands import gcloud_builds as gb
from shipyard.version import TAG_PATTERN
from tests.contract.gcloud_env import hermetic

pytestmark = pytest.mark.contract

GCLOUD = shutil.which("gcloud") or "gcloud"
CONFIG = str(Path(__file__).resolve().parents[2] / "examples/meta-ad-studio/ci-cd/cloudbuild.yaml")


def trigger(**changes: object) -> gb.TagTrigger:
    base = dict(name="demo-prod-release", project="p", region="us-central1",
                build_file="ci-cd/cloudbuild.yaml", tag_pattern=TAG_PATTERN,
                service_account="shipyard-deployer@p.iam.gserviceaccount.com",
                substitutions={"_ENV": "prod"}, require_approval=True,
                description="shipyard: release demo to prod on a version tag",
                github_owner="acme", github_name="demo")
    base.update(changes)
    return gb.TagTrigger(**base)  # type: ignore[arg-type]


BUILDERS: dict[str, Callable[[Path], tuple[str, ...]]] = {
    "submit, no source, env": lambda d: gb.builds_submit(
        GCLOUD, config=CONFIG, source=None, project="p", region="us-central1",
        substitutions={"_VERSION": "v1.1.0-rc.1", "_ENV": "prod", "_REGION": "us-central1",
                       "_PROJECT_ID": "p"}),
    "submit, source, async, bare": lambda d: gb.builds_submit(
        GCLOUD, config=CONFIG, source=str(d), substitutions={"_VERSION": "v1.1.0"},
        asynchronous=True, ignore_file="t.yaml"),
    "trigger describe": lambda d: gb.trigger_describe(GCLOUD, "demo-prod-release",
                                                      "us-central1", "p"),
    "trigger create github": lambda d: gb.trigger_create(GCLOUD, trigger()),
    "trigger create 2nd gen, no approval": lambda d: gb.trigger_create(GCLOUD, trigger(
        github_owner=None, github_name=None, require_approval=False,
        repository="projects/p/locations/us-central1/connections/gh/repositories/demo")),
    "trigger import": lambda d: gb.trigger_import(GCLOUD, str(d / "t.yaml"), "us-central1",
                                                  "p"),
}


def test_every_builds_argv_passes_the_real_gcloud_parser(tmp_path: Path) -> None:
    def parse(name: str) -> tuple[str, int, str]:
        home = tmp_path / name.replace(" ", "-").replace(",", "")
        home.mkdir()
        (home / "t.yaml").write_text("name: demo-prod-release\nfilename: x.yaml\n")
        env = {**os.environ, **hermetic(home / "cfg", "p"),
               "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDBUILD": "http://127.0.0.1:9/"}
        done = subprocess.run((*BUILDERS[name](home), "--verbosity=debug"), env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        return name, done.returncode, done.stderr

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(parse, BUILDERS))
    for name, code, err in results:
        assert code != 2, f"{name}: gcloud's parser refused it:\n{err[-1500:]}"
        assert "Running [gcloud." in err, f"{name}: never got past parsing:\n{err[-1500:]}"


def test_the_parser_check_can_fail(tmp_path: Path) -> None:
    # gcloud builds submit has no --dry-run: the parser refuses it with exit 2.
    argv = (*gb.builds_submit(GCLOUD, config=CONFIG, source=None, substitutions={}),
            "--dry-run")
    done = subprocess.run(argv, env={**os.environ, **hermetic(tmp_path, "p")},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr[-1000:]


def test_submit_argv_is_exact() -> None:
    assert gb.builds_submit("gcloud", config="c.yaml", source=None, project="p",
                            region="r", substitutions={"_VERSION": "v1.0.0", "_ENV": "e"}) == (
        "gcloud", "builds", "submit", "--no-source", "--config", "c.yaml", "--substitutions",
        "_ENV=e,_VERSION=v1.0.0", "--region", "r", "--project", "p", "--format", "json",
        "--quiet")
