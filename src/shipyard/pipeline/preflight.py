"""Every check a release makes before it changes anything, reported together in one table."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from shipyard import ui
from shipyard.build import inputs
from shipyard.build.gitrepo import GitRepo
from shipyard.config import Config, Environment, Service
from shipyard.errors import EXIT_USAGE, ShipyardError, UsageError
from shipyard.exec.runner import Runner
from shipyard.exec.tools import docker_client
from shipyard.stages.scan import find_trivy, trivy_version
from shipyard.stages.tag import check_tag, git_preflight
from shipyard.version import Version


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    exit_code: int = 1
    hint: str | None = None


def _attempt(name: str, probe: Callable[[], str]) -> Check:
    try:
        return Check(name, True, probe())
    except ShipyardError as exc:
        return Check(name, False, exc.message, exc.exit_code, exc.hint)


def _tool_version(runner: Runner, argv: Sequence[str], what: str) -> str:
    if shutil.which(argv[0]) is None:
        raise ShipyardError(f"{what} not found", hint="run scripts/bootstrap.sh")
    result = runner.run(argv, mutates=False, check=False, timeout=20)
    text = (result.stdout + result.stderr).strip().splitlines()
    return text[0] if text else "present"


def preflight(config: Config, env: Environment, runner: Runner, version: Version,
              services: Sequence[Service], secret_names: Callable[[], Mapping[str, list[str]]],
              *, tag: bool = True, scan: bool = True) -> list[Check]:
    """Run all checks, print them, and raise when any failed. Changes nothing."""
    checks = [Check("config", True, f"{config.path.name}: {len(services)} service(s), "
                                    f"env {env.name} (target {env.target})")]
    if tag:
        checks.append(_attempt("git", lambda: _git(config, runner, version)))
    checks.append(_attempt("docker", lambda: _docker(runner)))
    if env.target == "local":
        checks.append(_attempt("registry", lambda: _tool_version(
            runner, ("docker-registry", "--version"), "docker-registry")))
        checks.append(_attempt("proxy", lambda: _tool_version(runner, ("nginx", "-v"), "nginx")))
    if scan:
        checks.append(_attempt("trivy", lambda: trivy_version(runner, find_trivy())))
    checks.append(_attempt("secrets", lambda: _secrets(secret_names())))
    ui.table(f"preflight {version} → {env.name}", ("check", "result", "detail"),
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


def _git(config: Config, runner: Runner, version: Version) -> str:
    repo, branch, remote = GitRepo.open(config.root), config.project.release_branch, \
        config.project.remote
    head = git_preflight(repo, runner, branch, remote, tag=str(version))
    state = check_tag(repo, runner, remote, str(version), head)
    inputs.require_tracked_contexts(config.services, config.root, runner)
    where = (f"{branch} at {head[:12]}, in step with {remote}" if repo.current_branch() else
             f"{head[:12]} (detached at {version}), on {remote}/{branch}")
    return f"{where}; tag {version}: {state}"


def _docker(runner: Runner) -> str:
    client = docker_client(runner)
    return f"client {client.version} ({client.builder}) at {client.path}; engine answers"


def _secrets(missing_by_service: Mapping[str, list[str]]) -> str:
    missing = {svc: names for svc, names in missing_by_service.items() if names}
    if missing:
        listed = "; ".join(f"{svc}: {', '.join(names)}" for svc, names in missing.items())
        raise UsageError(f"missing secrets ({listed})",
                            hint="add them to the environment's secrets source (names only "
                                 "are checked; see docs/local-environment.md)")
    return "every secret a service needs is present (checked by name)"
