"""Identity tokens for verifying private Cloud Run services through their URLs."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from shipyard.commands import gcloud as g

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext


class IdentityTokens:
    """One token per URL per run, minted by gcloud on demand."""

    def __init__(self, ctx: RunContext, gcloud: str) -> None:
        assert ctx.env.gcp is not None and ctx.env.gcp.run is not None
        self.ctx, self.gcloud, self.run = ctx, gcloud, ctx.env.gcp.run
        self._tokens: dict[str, str] = {}  # URL → identity token
        self._lock = threading.Lock()

    def bearer(self, name: str, url: str) -> str | None:
        """The bearer for a private service's URL: an identity token whose audience is that
        URL, read from gcloud's stdout (never argv), masked in everything printed or logged,
        and minted once per URL (it lives an hour; verification retries every half second).
        None for a public service."""
        if self.run.is_public(name):
            return None
        with self._lock:
            if url not in self._tokens:
                account = self.run.invoker_service_account
                argv = g.print_identity_token(self.gcloud, url, account)
                hint = (f"the deployer must be allowed to mint tokens for {account}" if account
                        else f"{name} is private: a user login cannot mint an identity token "
                             "for a URL; set invoker_service_account in "
                             f"[environments.{self.ctx.env.name}.run] (docs/cloud-run.md)")
                token = self.ctx.runner.run(argv, mutates=False, timeout=120,
                                            hint=hint).stdout.strip()
                self.ctx.runner.redactor.add(token)
                self._tokens[url] = token
            return self._tokens[url]
