"""Every check a release makes before it changes anything, reported together in one table.

The pipeline's own checks (config, git, docker, trivy, secrets) plus the target's
(`Target.preflight_checks`). Every probe only reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from shipyard.build import inputs
from shipyard.build.gitrepo import GitRepo
from shipyard.errors import EXIT_USAGE, ShipyardError, UsageError
from shipyard.pipeline.context import RunContext
from shipyard.scan.trivy import find_trivy, trivy_version
from shipyard.stages.tag import check_tag, git_preflight
from shipyard.ui import table


@dataclass(frozen=True)
class Outcome:
    name: str
    ok: bool
    detail: str
    exit_code: int = 1
    hint: str | None = None


def _attempt(name: str, probe: Callable[[], str]) -> Outcome:
    try:
        return Outcome(name, True, probe())
    except ShipyardError as exc:
        return Outcome(name, False, exc.message, exc.exit_code, exc.hint)


def preflight(ctx: RunContext, *, tag: bool = True, scan: bool = True) -> list[Outcome]:
    """Run all checks, print them, and raise when any failed. Changes nothing."""
    version, env = ctx.release, ctx.env
    checks = [Outcome("config", True, f"{ctx.config.path.name}: {len(ctx.services)} "
                                      f"service(s), env {env.name} (target {env.target})")]
    probes: list[tuple[str, Callable[[], str]]] = [("git", lambda: _git(ctx))] if tag else []
    probes.append(("docker", lambda: _docker(ctx)))
    probes += [(check.name, check.probe) for check in ctx.target.preflight_checks()]
    if scan:
        probes.append(("trivy", lambda: trivy_version(ctx.runner, find_trivy())))
    probes.append(("secrets", lambda: _secrets(ctx.secrets.missing())))
    # Side by side: each only reads, and some are slow (a git fetch, a gcloud start-up).
    with ThreadPoolExecutor(max_workers=len(probes)) as pool:
        checks += pool.map(lambda probe: _attempt(*probe), probes)
    table(f"preflight {version} → {env.name}", ("check", "result", "detail"),
          [(c.name, "ok" if c.ok else "FAILED", c.detail) for c in checks])
    failed = [c for c in checks if not c.ok]
    if failed:
        error = ShipyardError(
            "preflight failed, nothing was changed: "
            + "; ".join(f"{c.name}: {c.detail}" for c in failed),
            hint=failed[0].hint)
        if all(c.exit_code == EXIT_USAGE for c in failed):
            error.exit_code = EXIT_USAGE
        raise error
    return checks


def _git(ctx: RunContext) -> str:
    project, version, runner = ctx.config.project, ctx.release, ctx.runner
    repo, branch, remote = GitRepo.open(ctx.config.root), project.release_branch, project.remote
    head = git_preflight(repo, runner, branch, remote, tag=str(version))
    state = check_tag(repo, runner, remote, str(version), head)
    inputs.require_tracked_contexts(ctx.services, ctx.config.root, runner)
    where = (f"{branch} at {head[:12]}, in step with {remote}" if repo.current_branch() else
             f"{head[:12]} (detached at {version}), on {remote}/{branch}")
    return f"{where}; tag {version}: {state}"


def _docker(ctx: RunContext) -> str:
    client = ctx.docker
    return f"client {client.version} ({client.builder}) at {client.path}; engine answers"


def _secrets(missing_by_service: Mapping[str, list[str]]) -> str:
    missing = {svc: names for svc, names in missing_by_service.items() if names}
    if missing:
        listed = "; ".join(f"{svc}: {', '.join(names)}" for svc, names in missing.items())
        raise UsageError(f"missing secrets ({listed})",
                         hint="add them to the environment's secrets source (names only "
                              "are checked; see docs/local-environment.md)")
    return "every secret a service needs is present (checked by name)"
