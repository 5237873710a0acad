"""Fase 0: delete a merged feature branch on the remote (and locally). Rerunnable."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from shipyard.build.gitrepo import GitRepo, parse_ls_remote_branch, run_remote
from shipyard.commands import git as gitcmd
from shipyard.config import Config
from shipyard.errors import ShipyardError, UsageError
from shipyard.exec.runner import Runner


@dataclass(frozen=True)
class CleanupResult:
    branch: str
    deleted_remote: bool
    deleted_local: bool
    note: str


def validate_branch_name(runner: Runner, name: str) -> None:
    if not name or name.startswith("-"):
        raise UsageError(f"invalid branch name {name!r}",
                         hint="branch names cannot be empty or start with '-'")
    result = runner.run(gitcmd.check_branch_name(name), mutates=False, check=False)
    if not result.ok or result.stdout.strip() != name or name.startswith("refs/"):
        raise UsageError(f"invalid branch name {name!r}",
                         hint="give the branch's short name, e.g. feature/new-worker")


def cleanup_branch(
    config: Config, runner: Runner, branch: str, *, remote: str | None = None, force: bool = False
) -> CleanupResult:
    remote = remote or config.project.remote
    validate_branch_name(runner, branch)
    release = config.project.release_branch
    protected = (release, *config.project.protected_branches)
    if any(fnmatchcase(branch, pattern) for pattern in protected):
        raise UsageError(f"refusing to delete {branch}: it is protected",
                         hint=f"protected branches: {', '.join(protected)} (shipyard.toml)")
    repo = GitRepo.open(config.root)
    repo.require_remote(remote)
    run_remote(runner, gitcmd.fetch(remote), remote, cwd=repo.root)
    out = run_remote(runner, gitcmd.ls_remote_branch(remote, branch), remote, cwd=repo.root)
    remote_sha = parse_ls_remote_branch(out.stdout, branch)
    local_sha = repo.local_branch(branch)
    if remote_sha is None and local_sha is None:
        return CleanupResult(branch, False, False, f"{branch} is already gone: nothing to do")
    if local_sha is not None and repo.current_branch() == branch:
        raise ShipyardError(f"{branch} is checked out here",
                            hint=f"git switch {release}, then rerun")
    if not force:
        _require_merged(repo, remote, release, branch, (("remote", remote_sha),
                                                        ("local", local_sha)))
    if remote_sha is not None:
        run_remote(runner, gitcmd.delete_remote_branch(remote, branch), remote, mutates=True,
                   cwd=repo.root)
    if local_sha is not None:
        runner.run(gitcmd.delete_local_branch(branch), cwd=repo.root)
    done = [f"deleted {remote}/{branch}"] if remote_sha else []
    if local_sha:
        done.append(f"deleted local {branch}")
    return CleanupResult(branch, remote_sha is not None, local_sha is not None, "; ".join(done))


def _require_merged(repo: GitRepo, remote: str, release: str, branch: str,
                    tips: tuple[tuple[str, str | None], ...]) -> None:
    target = next((ref for ref in (f"{remote}/{release}", release) if repo.resolve(ref)), None)
    if target is None:
        raise ShipyardError(f"neither {remote}/{release} nor {release} exists here, so whether "
                            f"{branch} is merged cannot be checked",
                            hint=f"git fetch {remote} {release}:refs/remotes/{remote}/{release}"
                                 ", then rerun")
    for where, sha in tips:
        if sha is None:
            continue
        merged = repo.contains(sha, target)
        if merged is None:
            raise ShipyardError(
                f"cannot tell whether {branch} ({where}, {sha[:12]}) is merged into {target}: "
                "this clone is shallow, the history that would show it was not fetched",
                hint=f"git fetch --unshallow {remote}, then rerun (or --force to delete it "
                     "unchecked)")
        if not merged:
            raise ShipyardError(
                f"{branch} ({where}, {sha[:12]}) is not merged into {target}",
                hint="merge it first, or pass --force to delete it anyway",
            )
