"""`cloudbuild-submit`: the seed's manual trigger, `gcloud builds submit --config F
--substitutions _VERSION=V,...`, validated first and run through the runner.

Only four substitutions can ever be passed, each from a flag or shipyard.toml: `_VERSION`
(the validated version), `_ENV` (an environment's name), `_REGION` and `_PROJECT_ID` (its
GCP settings). No secret value has a way in.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from shipyard.cloudbuild.parse import Build
from shipyard.cloudbuild.submit_checks import checked_substitutions, load
from shipyard.commands import gcloud_builds as gb
from shipyard.errors import CommandError, ShipyardError, UsageError
from shipyard.pipeline.context import RunContext
from shipyard.state.workspace import state_dir, state_path
from shipyard.targets.gcloud_auth import gcloud_path
from shipyard.ui import console

# gcloud's last words on a failed build, and where it printed the logs.
_FAILED = re.compile(r'build ([0-9a-f-]{8,}) completed with status "([A-Z_]+)"')
_LOGS = re.compile(r"Logs are available at \[ ?(\S+?) ?\]")
_CREATED = re.compile(r"/builds/([0-9a-f-]{8,})\]")


@dataclass(frozen=True)
class Submission:
    build_file: Build
    substitutions: dict[str, str]
    project: str | None
    region: str | None


def plan(ctx: RunContext, config_file: str, env_given: bool) -> Submission:
    """Everything checked before gcloud runs: the file, and each substitution passed."""
    assert ctx.version is not None
    build = load(ctx.config.root, config_file)
    wanted = {"_VERSION": str(ctx.version)}
    project = region = None
    if env_given:
        if ctx.env.gcp is None:
            raise UsageError(f"environment {ctx.env.name!r} is {ctx.env.target}, not a "
                             "Google Cloud one",
                             hint="a Cloud Build submit releases to a cloudrun or gke "
                                  "environment; for local use `nox -s cloudbuild`")
        project, region = ctx.env.gcp.project, ctx.env.gcp.region
        wanted.update(_ENV=ctx.env.name, _REGION=region, _PROJECT_ID=project)
    subs = checked_substitutions(build, config_file, wanted,
                                 optional=frozenset({"_REGION", "_PROJECT_ID"}))
    return Submission(build, subs, project, region)


def submit(ctx: RunContext, submission: Submission, *, upload_source: bool,
           asynchronous: bool) -> dict[str, str] | None:
    """Run the submit; returns the build's id, status and log URL (None in dry-run). A build
    that ends in any status but SUCCESS is a step failure (exit 1) naming it and its logs."""
    s = submission
    ignore = write_ignore_file(ctx) if upload_source else None
    argv = gb.builds_submit(gcloud_path(), config=str(s.build_file.path),
                            source=str(ctx.config.root) if upload_source else None,
                            substitutions=s.substitutions, project=s.project,
                            region=s.region, asynchronous=asynchronous, ignore_file=ignore)
    try:
        result = ctx.runner.run(argv, timeout=_timeout(s.build_file), cwd=ctx.config.root)
    except CommandError as exc:
        raise _failed(exc, s.region) from None
    if result.dry_run:
        return None
    build_id = _build_id(result.stdout, result.stderr)
    logs = _LOGS.search(result.stderr)
    state = "submitted (not waited for)" if asynchronous else "succeeded"
    console.note(f"build {build_id} {state}" + (f"; logs: {logs.group(1)}" if logs else ""))
    return {"build_id": build_id, "status": "QUEUED" if asynchronous else "SUCCESS",
            "log_url": logs.group(1) if logs else ""}


def write_ignore_file(ctx: RunContext) -> str:
    """The ignore file the source upload uses, relative to the repo. Without one, gcloud
    uploads everything when the repo has no .gcloudignore or .git (measured: the local
    secrets file went into the tarball). shipyard's state and every local environment's
    secrets file are always left out, then the app's own .gcloudignore (else .gitignore)
    applies. Not written in dry-run; the command shows where it would be."""
    root = ctx.config.root
    state = state_path(root)
    path = state / "cloudbuild" / "gcloudignore"
    relative = path.relative_to(root).as_posix()
    if ctx.runner.dry_run:
        return relative
    state_dir(root)  # made on first use, ignored by git
    lines = ["# Written by shipyard (invoke cloudbuild-submit): what the source upload leaves",
             "# out. shipyard's state and the local secrets files never leave this machine.",
             f"/{state.relative_to(root).as_posix()}/", "/.git/"]
    for env in ctx.config.environments.values():
        secrets = (root / env.local.secrets_file).resolve() if env.local else None
        if secrets is not None and secrets.is_relative_to(root):
            lines.append("/" + secrets.relative_to(root).as_posix())
    for own in (".gcloudignore", ".gitignore"):
        if (root / own).is_file():
            lines += [f"# from {own}:", *(root / own).read_text(encoding="utf-8").splitlines()]
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return relative


def _timeout(build: Build) -> float:
    """Wait as long as the file lets the build run, plus gcloud's own start and polling."""
    return build.timeout + 300.0


def _build_id(stdout: str, stderr: str) -> str:
    try:
        return str(json.loads(stdout)["id"])
    except (ValueError, KeyError, TypeError):
        created = _CREATED.search(stderr)
        return created.group(1) if created else "(unknown)"


def _failed(exc: CommandError, region: str | None) -> ShipyardError:
    text = exc.stderr_tail
    failed, logs = _FAILED.search(text), _LOGS.search(text)
    if failed is None:
        return exc
    build_id, status = failed.groups()
    detail = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                   if line.startswith("BUILD FAILURE:")), "")
    where = (f" ({detail})" if detail else "") + (f"; logs: {logs.group(1)}" if logs else "")
    log = f"gcloud builds log {build_id}" + (f" --region {region}" if region else "")
    return ShipyardError(f"Cloud Build build {build_id} ended {status}{where}",
                         hint=f"{log} shows what the failing step printed")
