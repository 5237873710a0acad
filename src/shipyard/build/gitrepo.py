"""Reads git state with GitPython. Nothing here changes a repository: changes go through the
runner (see commands/git.py) so that --dry-run shows them."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import git

from shipyard.commands import git as gitcmd
from shipyard.errors import CommandError, ShipyardError, UsageError
from shipyard.exec.runner import Result, Runner

GIT_TIMEOUT_ENV = "SHIPYARD_GIT_TIMEOUT"
DEFAULT_GIT_TIMEOUT = 60.0


@dataclass(frozen=True)
class TagRef:
    commit: str
    annotated: bool


@dataclass(frozen=True)
class Divergence:
    ahead: int
    behind: int


# A `gcloud builds submit` upload leaves .git out: the usual way to end up here in a build.
NO_GIT_HINT = ("run shipyard from a clone of the app repo; a manual `gcloud builds submit` "
               "uploads no .git, so release from a tag-triggered build (see "
               "docs/cloud-build-trigger.md)")


class GitRepo:
    def __init__(self, repo: git.Repo) -> None:
        self.repo = repo

    @classmethod
    def open(cls, path: Path) -> GitRepo:
        try:
            repo = git.Repo(path, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise UsageError(f"not inside a git work tree: {path}",
                             hint=NO_GIT_HINT) from None
        if repo.bare:
            raise UsageError(f"{path} is a bare repository", hint="run it in a work tree")
        return cls(repo)

    @property
    def root(self) -> Path:
        """The work tree: where git commands about this repo run (not the process's cwd)."""
        return Path(str(self.repo.working_tree_dir))

    @property
    def head(self) -> str:
        try:
            return self.repo.head.commit.hexsha
        except ValueError:
            raise ShipyardError("the repository has no commits yet",
                                hint="commit something first") from None

    def current_branch(self) -> str | None:
        return None if self.repo.head.is_detached else self.repo.active_branch.name

    def require_clean(self) -> None:
        # Untracked files count: they would end up in build contexts. .shipyard/ ignores itself.
        if self.repo.is_dirty(untracked_files=True):
            changed = [str(d.a_path) for d in self.repo.index.diff(None)]
            changed += [str(d.a_path) for d in self.repo.index.diff("HEAD")]
            changed += [str(f) for f in self.repo.untracked_files]
            shown = ", ".join(sorted(set(changed))[:5])
            raise ShipyardError(f"the work tree is not clean ({shown})",
                                hint="commit or stash your changes, then rerun")

    def require_branch(self, branch: str) -> None:
        current = self.current_branch()
        if current != branch:
            raise ShipyardError(
                f"HEAD is on {current or 'a detached commit'}, not on the release branch {branch}",
                hint=f"git switch {branch} (releases are tagged on {branch})",
            )

    def require_remote(self, remote: str) -> None:
        if remote not in [r.name for r in self.repo.remotes]:
            known = ", ".join(r.name for r in self.repo.remotes) or "none"
            raise UsageError(f"unknown git remote {remote!r}",
                             hint=f"configured remotes: {known}; or pass --no-push")

    def resolve(self, ref: str) -> str | None:
        try:
            return self.repo.commit(ref).hexsha
        except (git.BadName, ValueError):
            return None

    def divergence(self, ref: str, other: str = "HEAD") -> Divergence:
        """How far `other` is ahead of and behind `ref`."""
        ahead = sum(1 for _ in self.repo.iter_commits(f"{ref}..{other}"))
        behind = sum(1 for _ in self.repo.iter_commits(f"{other}..{ref}"))
        return Divergence(ahead, behind)

    @property
    def shallow(self) -> bool:
        return bool(self.repo.git.rev_parse("--is-shallow-repository") == "true")

    def contains(self, commit: str, ref: str) -> bool | None:
        """Whether `commit` is in the history of `ref`; None when this clone cannot tell.

        A shallow clone lacks the history below its cut: a commit found there is in it, but
        one not found may be in the part that was not fetched. A commit this (complete) clone
        does not have at all is not in the history of any ref it has.
        """
        found = self.resolve(commit)
        if found is not None and self.repo.is_ancestor(self.repo.commit(found),
                                                       self.repo.commit(ref)):
            return True
        return None if self.shallow else False

    def local_tag(self, tag: str) -> TagRef | None:
        ref = next((t for t in self.repo.tags if t.name == tag), None)
        if ref is None:
            return None
        return TagRef(commit=ref.commit.hexsha, annotated=ref.tag is not None)

    def local_branch(self, branch: str) -> str | None:
        head = next((h for h in self.repo.heads if h.name == branch), None)
        return head.commit.hexsha if head is not None else None


def parse_ls_remote_tag(output: str, tag: str) -> TagRef | None:
    """`git ls-remote` lines for refs/tags/T and its peeled refs/tags/T^{} form."""
    refs = {}
    for line in output.splitlines():
        sha, _, ref = line.partition("\t")
        refs[ref] = sha
    direct = refs.get(f"refs/tags/{tag}")
    if direct is None:
        return None
    peeled = refs.get(f"refs/tags/{tag}^{{}}")
    return TagRef(commit=peeled or direct, annotated=peeled is not None)


def parse_ls_remote_branch(output: str, branch: str) -> str | None:
    for line in output.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return None


def git_timeout() -> float:
    """Seconds one network git command may take: $SHIPYARD_GIT_TIMEOUT, else 60."""
    text = os.environ.get(GIT_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_GIT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < 86400:
        raise UsageError(f"{GIT_TIMEOUT_ENV}={text!r} is not a number of seconds",
                         hint=f"set it to e.g. 60, or unset it (default {DEFAULT_GIT_TIMEOUT:g})")
    return seconds


def run_remote(runner: Runner, argv: Sequence[str], remote: str, *, mutates: bool = False,
               retries: int = 2, hint: str | None = None, cwd: Path | None = None) -> Result:
    """Run a git command that talks to `remote`, bounded by git_timeout().

    A failure is retried (with the runner's backoff); a timeout is not: a remote that did
    not answer for that long is not going to, and three waits would only triple the silence.
    """
    timeout = git_timeout()
    for attempt in range(retries + 1):
        started = time.monotonic()
        try:
            return runner.run(argv, mutates=mutates, timeout=timeout, cwd=cwd,
                              hint=hint or f"check that {remote} is reachable, then rerun")
        except CommandError as exc:
            if exc.returncode is None and time.monotonic() - started >= timeout:
                raise _no_answer(runner, exc, remote, timeout, push=argv[1] == "push",
                                 cwd=cwd) from None
            if attempt == retries:
                raise
        time.sleep(runner.backoff * 2 ** attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _no_answer(runner: Runner, exc: CommandError, remote: str, timeout: float, *, push: bool,
               cwd: Path | None) -> CommandError:
    found = runner.run(gitcmd.remote_url(remote, push=push), mutates=False, check=False,
                       cwd=cwd)
    url = re.sub(r"//[^/@]*@", "//***@", found.stdout.strip()) or "?"  # no user:token@
    return CommandError(
        f"{remote} ({url}) did not answer within {timeout:g}s: {runner.quote(exc.argv)}",
        argv=exc.argv, returncode=None, stderr_tail=exc.stderr_tail,
        hint=f"check that {url} answers (try: git ls-remote {url}); for a slow remote set "
             f"{GIT_TIMEOUT_ENV} to more seconds (now {timeout:g}). A rerun resumes.")
