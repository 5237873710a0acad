"""The sample's own tests (`nox -s tests`, a Cloud Build step): its entrypoint scripts and
Dockerfiles, checked without network or a Docker engine."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1]
API = APP / "packages" / "api-server" / "server"
SERVICES = {"api-server": API, "meta-verse-visualizer-main": APP / "meta-verse-visualizer-main"}
SECRETS = ("DATABASE_URL", "RUNWAYML_API_KEY", "REDIS_URL")


def api_server(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The api-server entrypoint as the container starts it, with only ENV set."""
    return subprocess.run(("/bin/sh", str(API / "entrypoint.sh")), env={"PATH": "/usr/bin:/bin",
                          **env}, capture_output=True, text=True, timeout=10, check=False)


@pytest.mark.parametrize("folder", SERVICES.values(), ids=SERVICES.keys())
def test_entrypoints_parse_as_posix_sh(folder: Path) -> None:
    done = subprocess.run(("/bin/sh", "-n", str(folder / "entrypoint.sh")),
                          capture_output=True, text=True, timeout=10, check=False)
    assert done.returncode == 0, done.stderr


def test_api_server_refuses_to_start_without_its_secrets_and_names_only_them() -> None:
    given = {"DATABASE_URL": "postgres://app:pw-sample-1@db/app"}
    done = api_server(given)
    assert done.returncode == 78  # EX_CONFIG
    assert done.stderr.strip() == ("api-server: missing required environment variables: "
                                   "RUNWAYML_API_KEY REDIS_URL")
    assert "pw-sample-1" not in done.stdout + done.stderr


def test_api_server_refuses_an_unknown_feature_flag_value() -> None:
    done = api_server({**{name: f"value-of-{name}" for name in SECRETS},
                       "VIDEO_GENERATION_ENABLED": "maybe"})
    assert done.returncode == 78
    assert "VIDEO_GENERATION_ENABLED must be true or false, got 'maybe'" in done.stderr


@pytest.mark.parametrize("folder", SERVICES.values(), ids=SERVICES.keys())
def test_images_run_as_nobody_with_a_healthcheck_and_pull_no_frontend(folder: Path) -> None:
    dockerfile = (folder / "Dockerfile").read_text()
    assert re.search(r"^USER 65534:65534$", dockerfile, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD wget .*/healthz", dockerfile, re.MULTILINE)
    assert "# syntax=" not in dockerfile  # BuildKit would pull a frontend image
    assert re.search(r'case "\$\{VERSION:-\}" in', dockerfile)  # VERSION is required
