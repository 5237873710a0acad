"""Fase 0: an annotated semver tag on the release branch, pushed to the remote. Rerunnable."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.build.gitrepo import GitRepo, TagRef, parse_ls_remote_tag, run_remote
from shipyard.commands import git as gitcmd
from shipyard.config import Config
from shipyard.errors import ShipyardError, UsageError
from shipyard.exec.runner import Runner
from shipyard.version import Version


@dataclass(frozen=True)
class TagResult:
    version: Version
    commit: str
    created: bool
    pushed: bool
    note: str


def tag_release(
    config: Config,
    runner: Runner,
    version: Version,
    *,
    message: str | None = None,
    remote: str | None = None,
    push: bool = True,
    fetched: bool = False,
) -> TagResult:
    """`fetched`: the caller's preflight fetched the remote moments ago (a release), so the
    fetch is not run twice; every local check and the remote tag lookup still are."""
    remote = remote or config.project.remote
    message = message if message is not None else config.project.tag_message.format(
        version=version)
    if not message.strip() or "\x00" in message:
        raise UsageError("the tag message is empty", hint="pass --message TEXT")
    repo = GitRepo.open(config.root)
    tag = str(version)
    head = git_preflight(repo, runner, config.project.release_branch, remote if push else None,
                         tag=tag, fetch=not fetched)
    local, remote_tag = _existing(repo, runner, remote if push else None, tag, head)

    created = pushed = fetched = False
    if local is None and remote_tag is not None:
        run_remote(runner, gitcmd.fetch_tag(remote, tag), remote, mutates=True, cwd=repo.root)
        fetched = True
    elif local is None:
        runner.run(gitcmd.tag_annotated(tag, message), cwd=repo.root)
        created = True
    if push and remote_tag is None:
        run_remote(runner, gitcmd.push_tag(remote, tag), remote, mutates=True, cwd=repo.root,
                   hint=f"check that you may push tags to {remote}, then rerun")
        pushed = True
    return TagResult(version, head, created, pushed,
                     _note(tag, head, created, pushed, fetched, remote))


def check_tag(repo: GitRepo, runner: Runner, remote: str, tag: str, head: str) -> str:
    """Refuse a tag that exists elsewhere; say what tagging will do. Changes nothing."""
    local, remote_tag = _existing(repo, runner, remote, tag, head)
    if local and remote_tag:
        return "already on HEAD"
    if remote_tag:
        return "on the remote, will be fetched"
    return "will be pushed" if local else "will be created"


def git_preflight(repo: GitRepo, runner: Runner, branch: str, remote: str | None, *,
                  tag: str | None = None, fetch: bool = True) -> str:
    """All checks before any change: clean tree, on the release branch, in step with remote.

    With `tag`, a detached HEAD is accepted too when it is that annotated tag's commit (how
    CI checks out a tag) and that commit is on the remote's release branch: a rebuild.
    """
    head = repo.head
    repo.require_clean()
    if tag is not None and repo.current_branch() is None:
        _require_released_here(repo, runner, branch, remote, tag, head)
        return head
    repo.require_branch(branch)
    if remote is None:
        return head
    repo.require_remote(remote)
    if fetch:
        run_remote(runner, gitcmd.fetch(remote), remote, cwd=repo.root)
    tracking = f"{remote}/{branch}"
    if repo.resolve(tracking) is None:
        raise ShipyardError(f"{remote} has no branch {branch}",
                            hint=f"git push {remote} {branch}, then rerun")
    drift = repo.divergence(tracking)
    if drift.behind:
        raise ShipyardError(
            f"{branch} is {drift.behind} commit(s) behind {tracking}",
            hint=f"git pull --ff-only {remote} {branch}, check the result, then rerun",
        )
    if drift.ahead:
        # The release commit must be on the remote's release branch before it is tagged.
        raise ShipyardError(
            f"{branch} is {drift.ahead} commit(s) ahead of {tracking}",
            hint=f"git push {remote} {branch} first, so the tagged commit is on {tracking}",
        )
    return head


def _require_released_here(repo: GitRepo, runner: Runner, branch: str, remote: str | None,
                           tag: str, head: str) -> None:
    """A detached HEAD: refused unless it is annotated tag `tag`, on the remote's `branch`."""
    if remote is not None:
        repo.require_remote(remote)
    local, remote_tag = _existing(repo, runner, remote, tag, head)  # refuses a tag elsewhere
    if local is None and remote_tag is None:
        repo.require_branch(branch)  # the plain refusal: detached, and not at this release
    if remote is None:
        raise ShipyardError(
            f"HEAD is detached at {tag}: without the remote shipyard cannot check that it "
            f"is on {branch}", hint="rerun without --no-push (an existing tag is not pushed)")
    tracking = f"{remote}/{branch}"
    run_remote(runner, gitcmd.fetch_branch(remote, branch), remote, cwd=repo.root,
               hint=f"check that {remote} is reachable and has a branch {branch}, then rerun")
    on_branch = repo.contains(head, tracking)
    if on_branch is None:
        raise ShipyardError(
            f"cannot tell whether {tag} ({head[:12]}) is on {tracking}: this clone is shallow",
            hint=f"git fetch --unshallow {remote}, then rerun")
    if not on_branch:
        raise ShipyardError(
            f"HEAD is detached at {tag} ({head[:12]}), which is not on {tracking}",
            hint=f"releases are built from {branch}: git switch {branch}, or check out a "
                 f"release tag that is on it")


def _existing(repo: GitRepo, runner: Runner, remote: str | None, tag: str, head: str
              ) -> tuple[TagRef | None, TagRef | None]:
    """The tag here and on the remote (None: not asked or absent); refused unless on HEAD."""
    local = repo.local_tag(tag)
    remote_tag = _remote_tag(repo, runner, remote, tag) if remote else None
    _refuse_elsewhere(local, "locally", tag, head)
    _refuse_elsewhere(remote_tag, f"on {remote}", tag, head)
    return local, remote_tag


def _remote_tag(repo: GitRepo, runner: Runner, remote: str, tag: str) -> TagRef | None:
    out = run_remote(runner, gitcmd.ls_remote_tag(remote, tag), remote, cwd=repo.root)
    return parse_ls_remote_tag(out.stdout, tag)


def _refuse_elsewhere(ref: TagRef | None, where: str, tag: str, head: str) -> None:
    if ref is None:
        return
    if ref.commit != head:
        raise ShipyardError(
            f"tag {tag} already exists {where} and points to {ref.commit[:12]}, "
            f"not HEAD {head[:12]}",
            hint="a released version is never moved: pick the next version",
        )
    if not ref.annotated:
        raise ShipyardError(
            f"tag {tag} exists {where} as a lightweight tag (release tags are annotated)",
            hint=f"delete it (git tag -d {tag}) and rerun to create an annotated tag",
        )


def _note(tag: str, head: str, created: bool, pushed: bool, fetched: bool, remote: str) -> str:
    if fetched:
        return f"{tag} is already an annotated tag on {head[:12]} on {remote}: fetched it"
    if not created and not pushed:
        return f"{tag} is already an annotated tag on {head[:12]}: nothing to do"
    done = [f"created {tag} on {head[:12]}"] if created else []
    if pushed:
        done.append(f"pushed {tag} to {remote}")
    return "; ".join(done)
