"""`cloudbuild-trigger`: the tag trigger of an environment, converged.

The trigger is read first (`gcloud builds triggers describe`). Absent: `triggers create
github`. Present and equal in every field shipyard owns: nothing is written. Drifted:
`triggers import` of the whole desired trigger (a PATCH), so a field changed in the console
comes back. The tag pattern is shipyard's own version rule (version.TAG_PATTERN), so the
trigger fires on exactly the tags `release` accepts.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from shipyard.cloudbuild.submit_checks import declares_and_uses, load
from shipyard.commands import gcloud_builds as gb
from shipyard.errors import CommandError, ConfigError, UsageError
from shipyard.pipeline.context import RunContext
from shipyard.targets.gcloud_auth import gcloud_path
from shipyard.ui import console
from shipyard.version import TAG_PATTERN

MAX_NAME = 64


def desired(ctx: RunContext) -> gb.TagTrigger:
    """The trigger shipyard.toml describes for ctx.env; bad config exits 2 here."""
    gcp, cb = ctx.env.gcp, ctx.config.cloudbuild
    if gcp is None:
        raise UsageError(f"environment {ctx.env.name!r} is {ctx.env.target}: a tag trigger "
                         "releases to a cloudrun or gke environment",
                         hint="pick one with --env, e.g. --env staging")
    if cb.github_owner is None and cb.repository is None:
        raise ConfigError("shipyard.toml: cloudbuild: no repository to trigger on",
                          hint="set [cloudbuild] github_owner and github_name (or a 2nd-gen "
                               "repository); see docs/cloud-build-trigger.md")
    build = load(ctx.config.root, cb.config)
    if not declares_and_uses(build, "_ENV"):
        raise UsageError(f"{cb.config} does not declare and use _ENV",
                         hint="the trigger passes _ENV=ENV; add it under substitutions")
    name = f"{ctx.config.project.name}-{ctx.env.name}-release"
    if len(name) > MAX_NAME:
        raise ConfigError(f"trigger name {name} is longer than {MAX_NAME} characters",
                          hint="shorten [project] name or the environment's name")
    return gb.TagTrigger(
        name=name, project=gcp.project, region=gcp.region, build_file=cb.config,
        tag_pattern=TAG_PATTERN, service_account=gcp.deployer_service_account,
        substitutions={"_ENV": ctx.env.name},
        require_approval=ctx.env.name in cb.require_approval,
        description=f"shipyard: release {ctx.config.project.name} to {ctx.env.name} on a "
                    "version tag",
        github_owner=cb.github_owner, github_name=cb.github_name, repository=cb.repository)


def owned(trigger: dict[str, Any]) -> dict[str, Any]:
    """The fields shipyard sets, normalised as Cloud Build answers them (no approvalConfig
    means no approval; output-only fields dropped)."""
    keys = ("name", "description", "filename", "serviceAccount", "substitutions", "github",
            "repositoryEventConfig")
    view = {key: trigger[key] for key in keys if trigger.get(key) not in (None, {}, "")}
    view["approvalRequired"] = bool((trigger.get("approvalConfig") or {})
                                    .get("approvalRequired"))
    return view


def converge(ctx: RunContext, want: gb.TagTrigger) -> str:
    """Create, update or leave the trigger; returns what happened: created, updated,
    unchanged (or would-create / would-update in dry-run)."""
    gcloud = gcloud_path()
    current = _read(ctx, gcloud, want)
    body = gb.trigger_body(want)
    if current is not None and owned(current) == owned(body):
        console.note(f"trigger {want.name} is up to date: nothing to change")
        return "unchanged"
    if current is None:
        ctx.runner.run(gb.trigger_create(gcloud, want), timeout=180)
        verb = "created"
    else:
        drift = sorted(k for k in set(owned(body)) | set(owned(current))
                       if owned(body).get(k) != owned(current).get(k))
        console.note(f"trigger {want.name} drifted ({', '.join(drift)}): updating it")
        _import(ctx, gcloud, want, body)
        verb = "updated"
    if ctx.runner.dry_run:
        return f"would-{verb[:-1]}"
    console.note(f"trigger {want.name} {verb}: tags matching {want.tag_pattern} release to "
                 f"{ctx.env.name}")
    return verb


def _read(ctx: RunContext, gcloud: str, want: gb.TagTrigger) -> dict[str, Any] | None:
    argv = gb.trigger_describe(gcloud, want.name, want.region, want.project)
    result = ctx.runner.run(argv, mutates=False, check=False, timeout=120)
    if result.ok:
        found: dict[str, Any] = json.loads(result.stdout)
        return found
    if "NOT_FOUND" in result.stderr:
        return None
    raise CommandError(f"could not read trigger {want.name} (exit {result.returncode})",
                       argv=argv, returncode=result.returncode,
                       stderr_tail="\n".join(result.stderr.strip().splitlines()[-6:]),
                       hint="check gcloud's account and project: gcloud auth list")


def _import(ctx: RunContext, gcloud: str, want: gb.TagTrigger, body: dict[str, Any]) -> None:
    """The whole trigger goes through a private temp file (it holds no secret), removed
    after; in dry-run the file is not written and its path is a placeholder."""
    if ctx.runner.dry_run:
        ctx.runner.run(gb.trigger_import(gcloud, f"<{want.name}.yaml>", want.region,
                                         want.project))
        return
    fd, name = tempfile.mkstemp(prefix="shipyard-trigger-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yaml.safe_dump(body, out, sort_keys=True)
        ctx.runner.run(gb.trigger_import(gcloud, name, want.region, want.project),
                       timeout=180)
    finally:
        Path(name).unlink(missing_ok=True)
