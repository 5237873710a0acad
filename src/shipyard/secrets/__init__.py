"""Where secret values come from, per environment: a 0600 dotenv file for `local`
(secrets/dotenv.py); Google Secret Manager for `cloudrun` and `gke` (secrets/secret_manager.py).

A source binds each name a service lists in `secrets` to a reference with a pinned version
(`SecretBinding`). Only a target that injects values itself (local) asks the source to reveal
them; every value read is registered with the runner's redactor, so no output, log or record
ever shows one. Secret Manager never reveals: Cloud Run and GKE get references and read the
values themselves. Sources are chosen from one registry of kinds, like targets.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from shipyard.errors import UsageError
from shipyard.targets.base import Check, SecretBinding

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext

# target kind → "module:Class" of its secret source; each class has `from_context(ctx)`.
SOURCES: dict[str, str] = {
    "local": "shipyard.secrets.dotenv:DotenvSecrets",
    "cloudrun": "shipyard.secrets.secret_manager:SecretManagerSecrets",
    "gke": "shipyard.secrets.secret_manager:SecretManagerSecrets",
}


class SecretSource(Protocol):
    def missing(self) -> dict[str, list[str]]:
        """service → the NAMES it needs that the source lacks (checked by name only)."""

    def bindings(self) -> dict[str, tuple[SecretBinding, ...]]:
        """service → its bindings, versions pinned now; UsageError naming (never showing)
        everything missing, across all services, at once."""

    def reveal(self, bindings: Sequence[SecretBinding]) -> dict[str, str]:
        """env name → value, for a target that injects values itself. Never logged."""

    def checks(self) -> Sequence[Check]:
        """The source's own read-only preflight checks (beyond "every name is present")."""


def secret_source(ctx: RunContext) -> SecretSource:
    source: SecretSource = from_registry(SOURCES, ctx, "secret source")
    return source


def from_registry(registry: Mapping[str, str], ctx: RunContext, what: str) -> Any:
    """`Class.from_context(ctx)` of the class REGISTRY names for the environment's target."""
    kind = ctx.env.target
    if kind not in registry:
        raise UsageError(f"no {what} for target {kind!r} ({ctx.env.name}) yet",
                         hint=f"the kinds with a {what}: " + ", ".join(registry))
    module, _, name = registry[kind].partition(":")
    return getattr(importlib.import_module(module), name).from_context(ctx)
