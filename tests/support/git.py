"""git with a fixed commit identity, and an app repo pushed to a bare remote."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Release Bot",
    "GIT_AUTHOR_EMAIL": "release@example.test",
    "GIT_COMMITTER_NAME": "Release Bot",
    "GIT_COMMITTER_EMAIL": "release@example.test",
}


def git(cwd: Path, *args: str) -> str:
    """`git ARGS` in `cwd`; its stdout, stripped. CalledProcessError (with stderr) on failure."""
    env = {**os.environ, **GIT_IDENTITY}
    done = subprocess.run(("git", *args), cwd=cwd, env=env, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def publish(work: Path, remote: Path, message: str) -> None:
    """`work`, with its files already in it, made a git repo on main: everything committed and
    pushed to `remote`, a new bare repo, as origin."""
    git(remote.parent, "init", "-q", "--bare", "-b", "main", str(remote))
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    git(work, "remote", "add", "origin", str(remote))
    git(work, "push", "-q", "origin", "main")
