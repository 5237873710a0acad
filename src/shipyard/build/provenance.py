"""Where an image comes from (commit, commit time, repository URL): its OCI labels.

Read with two git commands instead of GitPython: every build needs these three facts, and
importing GitPython alone takes longer (about 70 ms here) than both commands together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shipyard.commands import git as gitcmd
from shipyard.errors import ShipyardError
from shipyard.exec.runner import Runner


@dataclass(frozen=True)
class Provenance:
    revision: str  # the commit SHA
    commit_time: int  # committer time, Unix seconds
    source: str  # the remote's URL; empty when there is no such remote


def read_provenance(root: Path, remote: str, runner: Runner) -> Provenance:
    head = runner.run(gitcmd.head_commit(), cwd=root, mutates=False, check=False)
    sha, _, stamp = head.stdout.strip().partition(" ")
    if not head.ok or not stamp.isdigit():
        from shipyard.build.gitrepo import GitRepo  # only now: it names the exact problem

        GitRepo.open(root).head  # noqa: B018 - raises for no repository or no commits
        raise ShipyardError(f"cannot read the HEAD commit in {root}",
                            hint=f"git log -1 HEAD says: {head.stderr.strip()[:200]}")
    url = runner.run(gitcmd.remote_url(remote), cwd=root, mutates=False, check=False)
    return Provenance(sha, int(stamp), url.stdout.strip() if url.ok else "")
