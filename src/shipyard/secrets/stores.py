"""Managing the secrets of an environment (`secrets-set`, `secrets-list`, `secrets-check`):
one store per kind of secret source, chosen from one registry, like the sources.

A store writes a value (it never reads one back), describes what it holds by name and version,
and gives its read-only checks. What it prints or returns never holds a value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from shipyard.secrets import from_registry
from shipyard.targets.base import Check

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext

# target kind → "module:Class" of its store; each class has `from_context(ctx)`.
STORES: dict[str, str] = {
    "local": "shipyard.secrets.dotenv_store:DotenvStore",
    "cloudrun": "shipyard.secrets.secret_manager_store:SecretManagerStore",
    "gke": "shipyard.secrets.secret_manager_store:SecretManagerStore",
}


@dataclass(frozen=True)
class Stored:
    """What a store holds for one name: `secret` is where (a file, or a Secret Manager
    reference), `version` the one a deploy would use now (None: none usable)."""

    name: str
    secret: str
    version: str | None
    enabled: tuple[str, ...] = ()  # Secret Manager: every enabled version, newest first
    pinned: bool = False  # shipyard.toml pins `version`
    problem: str | None = None
    services: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "enabled": list(self.enabled), "services": list(self.services)}


@dataclass(frozen=True)
class Written:
    """What `put` did (or, in a dry run, would do)."""

    name: str
    secret: str
    version: str  # the new version ("current" for a dotenv file)
    previous: str | None = None  # the version that was newest-enabled before, if any
    disabled: str | None = None  # the version --disable-previous disabled
    notes: tuple[str, ...] = ()


class SecretStore(Protocol):
    keeps_versions: bool  # False: one value per name, so --disable-previous has no meaning

    def put(self, name: str, value: str, *, disable_previous: bool) -> Written:
        """Store VALUE as NAME's new value; a dry run checks everything and writes nothing."""

    def inventory(self) -> list[Stored]:
        """Every name a service lists, in config order, without a value."""

    def checks(self) -> Sequence[Check]:
        """Read-only: each name exists, is usable, and (GCP) the runtime account may read it."""


def secret_store(ctx: RunContext) -> SecretStore:
    store: SecretStore = from_registry(STORES, ctx, "secret store")
    return store
