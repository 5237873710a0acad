"""Reads git state with the git CLI. Nothing here changes a repository: changes go through
the runner (see commands/git.py) so that --dry-run shows them.

Plain `git` reads (a few ms each), not GitPython: importing GitPython cost about 60 ms of
every release, tag and cleanup-branch, more than all the reads it served (it runs git for
most of them too).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shipyard.commands import git as gitcmd
from shipyard.errors import CommandError, ShipyardError, UsageError
from shipyard.exec.runner import Result, Runner

GIT_TIMEOUT_ENV = "SHIPYARD_GIT_TIMEOUT"
DEFAULT_GIT_TIMEOUT = 60.0
READ_TIMEOUT = 60.0  # a local read: no network


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


def _git(cwd: Path, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """One local read; messages in English (LC_ALL=C) so that they can be told apart."""
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=READ_TIMEOUT,
                              env={**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"})
    except FileNotFoundError:
        raise ShipyardError("git not found", hint="install git (apt-get install git)") from None


class GitRepo:
    def __init__(self, root: Path) -> None:
        self._root = root

    @classmethod
    def open(cls, path: Path) -> GitRepo:
        if not path.is_dir():
            raise UsageError(f"not inside a git work tree: {path}", hint=NO_GIT_HINT)
        found = _git(path, gitcmd.show_toplevel())
        if found.returncode != 0:
            if "work tree" in found.stderr:  # a bare repository, or inside .git
                raise UsageError(f"{path} is a bare repository", hint="run it in a work tree")
            raise UsageError(f"not inside a git work tree: {path}", hint=NO_GIT_HINT)
        return cls(Path(found.stdout.strip()))

    @property
    def root(self) -> Path:
        """The work tree: where git commands about this repo run (not the process's cwd)."""
        return self._root

    def _read(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return _git(self._root, argv)

    def _out(self, argv: Sequence[str]) -> str:
        done = self._read(argv)
        if done.returncode != 0:
            raise CommandError(f"git failed: {' '.join(argv[1:])}", argv=tuple(argv),
                               returncode=done.returncode,
                               stderr_tail=done.stderr.strip()[-400:])
        return done.stdout

    @property
    def head(self) -> str:
        found = self.resolve("HEAD")
        if found is None:
            raise ShipyardError("the repository has no commits yet",
                                hint="commit something first")
        return found

    def current_branch(self) -> str | None:
        done = self._read(gitcmd.symbolic_head())
        return done.stdout.strip() or None if done.returncode == 0 else None

    def require_clean(self) -> None:
        # Untracked files count: they would end up in build contexts. .shipyard/ ignores itself.
        entries = [e for e in self._out(gitcmd.status_porcelain()).split("\0") if e]
        if entries:
            # Each entry is "XY PATH"; a rename is followed by an entry of its old path.
            changed = {e[3:] if len(e) > 3 and e[2] == " " else e for e in entries}
            shown = ", ".join(sorted(changed)[:5])
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
        remotes = self._out(gitcmd.remotes()).split()
        if remote not in remotes:
            known = ", ".join(remotes) or "none"
            raise UsageError(f"unknown git remote {remote!r}",
                             hint=f"configured remotes: {known}; or pass --no-push")

    def resolve(self, ref: str) -> str | None:
        done = self._read(gitcmd.resolve_commit(ref))
        return done.stdout.strip() or None if done.returncode == 0 else None

    def divergence(self, ref: str, other: str = "HEAD") -> Divergence:
        """How far `other` is ahead of and behind `ref`."""
        behind, ahead = self._out(gitcmd.count_left_right(ref, other)).split()
        return Divergence(int(ahead), int(behind))

    @property
    def shallow(self) -> bool:
        return self._out(gitcmd.is_shallow()).strip() == "true"

    def contains(self, commit: str, ref: str) -> bool | None:
        """Whether `commit` is in the history of `ref`; None when this clone cannot tell.

        A shallow clone lacks the history below its cut: a commit found there is in it, but
        one not found may be in the part that was not fetched. A commit this (complete) clone
        does not have at all is not in the history of any ref it has.
        """
        found = self.resolve(commit)
        if found is not None and self.resolve(ref) is not None:
            done = self._read(gitcmd.is_ancestor(found, ref))
            if done.returncode == 0:
                return True
            if done.returncode != 1:
                raise CommandError(f"git could not compare {commit} with {ref}",
                                   argv=gitcmd.is_ancestor(found, ref),
                                   returncode=done.returncode,
                                   stderr_tail=done.stderr.strip()[-400:])
        return None if self.shallow else False

    def local_tag(self, tag: str) -> TagRef | None:
        for line in self._out(gitcmd.tag_refs(tag)).splitlines():
            name, kind, peeled, direct = (line.split(" ") + ["", "", ""])[:4]
            if name == f"refs/tags/{tag}":
                annotated = kind == "tag"
                return TagRef(commit=peeled if annotated and peeled else direct,
                              annotated=annotated)
        return None

    def local_branch(self, branch: str) -> str | None:
        return self.resolve(f"refs/heads/{branch}")


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
