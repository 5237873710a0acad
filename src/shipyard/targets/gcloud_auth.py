"""What the Google Cloud targets share: gcloud's access token for Artifact Registry (the
registry client and docker), and the preflight check that gcloud has one."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from shipyard.commands import gcloud as g
from shipyard.errors import CommandError, ShipyardError
from shipyard.registries.auth import TokenLogin
from shipyard.registries.client import Registry

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext


def gcloud_path() -> str:
    return shutil.which("gcloud") or "gcloud"


def artifact_registry(ctx: RunContext, gcloud: str) -> tuple[Registry, TokenLogin]:
    """The environment's Artifact Registry, authenticated with `gcloud auth
    print-access-token` (fetched once, on first use, and masked in all output)."""
    login = TokenLogin(lambda: ctx.runner.run(g.print_access_token(gcloud), mutates=False,
                                              timeout=120).stdout,
                       on_token=ctx.runner.redactor.add)
    return Registry(ctx.env.registry, login), login


def auth_detail(login: TokenLogin) -> str:
    try:
        login.token()
    except CommandError as exc:
        raise ShipyardError("gcloud gives no access token: "
                            f"{(exc.stderr_tail.splitlines() or [exc.message])[-1][:200]}",
                            hint="gcloud auth login (or, in Cloud Build, the build's service "
                                 "account); see docs/cloud-run.md") from None
    return "gcloud gives an access token (used for Artifact Registry and the API)"
