"""What the Google Cloud targets share: gcloud's access token for Artifact Registry (the
registry client and docker), the preflight check that gcloud has one, and gcloud's version."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.commands import gcloud as g
from shipyard.errors import CommandError, ShipyardError
from shipyard.exec.tools import tool_version
from shipyard.registries.auth import TokenLogin
from shipyard.registries.client import Registry

TOKEN_ENV = "CLOUDSDK_AUTH_ACCESS_TOKEN"  # gcloud's own: it then uses this token, unasked

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext


def gcloud_path() -> str:
    return shutil.which("gcloud") or "gcloud"


def gcloud_version(ctx: RunContext, gcloud: str) -> str:
    """What `gcloud --version` prints first, read from the SDK's own VERSION file when there
    is one: that call costs about 1 s of CPU, the file nothing."""
    found = shutil.which(gcloud)
    if found:
        version = Path(os.path.realpath(found)).parent.parent / "VERSION"
        try:
            text = version.read_text(encoding="utf-8").strip()
        except OSError:
            text = ""
        if text and len(text) < 40:
            return f"Google Cloud SDK {text}"
    return tool_version(ctx.runner, (gcloud, "--version"), "gcloud")


def artifact_registry(ctx: RunContext, gcloud: str) -> tuple[Registry, TokenLogin]:
    """The environment's Artifact Registry, authenticated with gcloud's access token
    (fetched once, on first use, and masked in all output): `CLOUDSDK_AUTH_ACCESS_TOKEN` when
    set, which is what gcloud itself then uses, else `gcloud auth print-access-token`."""
    def fetch() -> str:
        return os.environ.get(TOKEN_ENV) or ctx.runner.run(
            g.print_access_token(gcloud), mutates=False, timeout=120).stdout

    login = TokenLogin(fetch, on_token=ctx.runner.redactor.add)
    return Registry(ctx.env.registry, login), login


def auth_detail(login: TokenLogin) -> str:
    try:
        login.token()
    except CommandError as exc:
        raise ShipyardError("gcloud gives no access token: "
                            f"{(exc.stderr_tail.splitlines() or [exc.message])[-1][:200]}",
                            hint="gcloud auth login (or, in Cloud Build, the build's service "
                                 "account); see docs/cloud-run.md") from None
    source = TOKEN_ENV if os.environ.get(TOKEN_ENV) else "gcloud"
    return f"{source} gives an access token (used for Artifact Registry and the API)"
