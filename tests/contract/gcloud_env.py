"""Run the real gcloud hermetically against the contract stand-ins.

`gcloud_env(tmp_path, standin)` is the set of variables to give gcloud (a test, or shipyard
through its own environment): a throwaway CLOUDSDK_CONFIG, the fake access token, no prompts,
no usage reporting or update checks, no colour, the project, and the Cloud Run endpoint
pointed at the stand-in, reached through the stand-in as an HTTP proxy (see
../shared/TOOLING-FACTS.md, "Pointing gcloud at a stand-in"). `environ(settings)` is
os.environ without anything that could send gcloud elsewhere (CLOUDSDK_*, proxies, Google
credentials), plus the settings. `run_gcloud(settings, *args)` runs gcloud with that.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

GCLOUD = shutil.which("gcloud") or "/usr/bin/gcloud"
ACCESS_TOKEN = "fake"


class StandIn(Protocol):
    project: str

    @property
    def port(self) -> int: ...

    @property
    def endpoint(self) -> str: ...


def hermetic(config: Path, project: str) -> dict[str, str]:
    """gcloud with a throwaway config and a fake token: no prompts, no usage reporting, no
    update checks, no GCE metadata probe, no colour, the project set."""
    config.mkdir(parents=True, exist_ok=True)
    return {
        "CLOUDSDK_CONFIG": str(config),
        "CLOUDSDK_AUTH_ACCESS_TOKEN": ACCESS_TOKEN,
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
        "CLOUDSDK_SURVEY_DISABLE_PROMPTS": "true",
        "CLOUDSDK_CORE_SHOULD_PROMPT_TO_ENABLE_API": "false",
        "CLOUDSDK_CORE_DISABLE_COLOR": "true",  # plain text to match on: no colour and,
        "TERM": "dumb",  # with a dumb terminal, no bold either
        "CLOUDSDK_CORE_PROJECT": project,
    }


def gcloud_env(tmp_path: Path, standin: StandIn) -> dict[str, str]:
    """The variables that make gcloud hermetic and send Cloud Run calls to `standin`."""
    port = str(standin.port)
    return {
        **hermetic(tmp_path / "gcloud-config", standin.project),
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN": standin.endpoint,
        # print-identity-token --impersonate-service-account mints ID tokens here
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_IAMCREDENTIALS": f"http://127.0.0.1:{port}/",
        "CLOUDSDK_PROXY_TYPE": "http",
        "CLOUDSDK_PROXY_ADDRESS": "127.0.0.1",
        "CLOUDSDK_PROXY_PORT": port,
    }


def environ(settings: dict[str, str]) -> dict[str, str]:
    """os.environ minus what could point gcloud elsewhere, plus `settings`."""
    dropped = ("CLOUDSDK_", "GOOGLE_", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith(dropped)}
    return {**base, "NO_COLOR": "1", "COLUMNS": "200", **settings}


@dataclass
class GcloudRun:
    code: int
    out: str
    err: str
    argv: tuple[str, ...]

    @property
    def text(self) -> str:
        return self.out + self.err

    def __str__(self) -> str:
        return f"gcloud exit {self.code}: {' '.join(self.argv[1:])}\n{self.out}\n{self.err}"


def run_gcloud(settings: dict[str, str], *args: str, timeout: float = 60) -> GcloudRun:
    """Run the real gcloud with `settings` (from gcloud_env), bounded in time."""
    argv = (GCLOUD, *args)
    done = subprocess.run(argv, env=environ(settings), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    return GcloudRun(done.returncode, done.stdout, done.stderr, argv)
