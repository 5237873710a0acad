"""The registry of target kinds: the one place that maps `target = "..."` to an implementation.

A kind is imported only when an environment uses it, so `invoke --list` stays quick and a
Cloud Run run never loads the local target's modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from shipyard.errors import UsageError

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext
    from shipyard.registries.client import Registry
    from shipyard.targets.base import Target

# kind → "module:Class"; each class takes the run context and implements targets.base.Target.
KINDS: dict[str, str] = {
    "local": "shipyard.targets.local:LocalTarget",
    "cloudrun": "shipyard.targets.cloudrun:CloudRunTarget",
    "gke": "shipyard.targets.gke:GkeTarget",
}
PLANNED: dict[str, str] = {}


def make_target(ctx: RunContext) -> Target:
    kind = ctx.env.target
    if kind not in KINDS:
        what = PLANNED.get(kind, kind)
        raise UsageError(f"deploying to {what} (env {ctx.env.name}, target {kind!r}) is not "
                         "available yet", hint="use a local environment; build and scan work "
                                               "for every environment")
    module, _, name = KINDS[kind].partition(":")
    cls = getattr(importlib.import_module(module), name)
    target: Target = cls(ctx)
    return target


def registry_for(ctx: RunContext) -> Registry:
    """The environment's registry client, from its target. A kind still planned reads its
    registry anonymously, so build and scan already work for it."""
    from shipyard.registries.client import Registry

    if ctx.env.target in KINDS:
        return ctx.target.registry()
    return Registry(ctx.env.registry)


def require_kind(ctx: RunContext, kind: str, task: str) -> None:
    """A task that only makes sense on one kind of target (deploy-run: cloudrun)."""
    if ctx.env.target != kind:
        fitting = sorted(n for n, e in ctx.config.environments.items() if e.target == kind)
        raise UsageError(f"{task} deploys to target {kind!r}; environment {ctx.env.name!r} "
                         f"is {ctx.env.target!r}",
                         hint=f"pass --env {fitting[0]}" if fitting else
                         f"`invoke deploy --env {ctx.env.name}` deploys to any target")
