"""The main job on the embedded default: rehearse a release of the sample app on this machine.

Copies examples/meta-ad-studio to a scratch folder with a scratch bare remote (so nothing real
is touched), then drives it with `invoke` exactly as a user would.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "meta-ad-studio"
FEATURE = "feature/worker-provider-integration"
IDENTITY = {
    "GIT_AUTHOR_NAME": "shipyard demo",
    "GIT_AUTHOR_EMAIL": "demo@shipyard.invalid",
    "GIT_COMMITTER_NAME": "shipyard demo",
    "GIT_COMMITTER_EMAIL": "demo@shipyard.invalid",
}


def show(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def run(cwd: Path, *argv: str, check: bool = True) -> int:
    print(f"$ {shlex.join(argv)}", flush=True)
    env = {**os.environ, **IDENTITY}
    code = subprocess.run(argv, cwd=cwd, env=env).returncode
    if check and code != 0:
        sys.exit(f"demo: step failed (exit {code}): {shlex.join(argv)}")
    return code


def git(cwd: Path, *args: str) -> None:
    run(cwd, "git", *args)


def invoke(cwd: Path, *args: str) -> None:
    run(cwd, sys.executable, "-m", "invoke", *args)


def scratch_app(base: Path) -> Path:
    """A fresh copy of the sample with a bare remote, main pushed, a feature branch merged."""
    if base.exists():
        shutil.rmtree(base)
    app, remote = base / "meta-ad-studio", base / "remote.git"
    shutil.copytree(SAMPLE, app, ignore=shutil.ignore_patterns(".shipyard"))
    git(base, "init", "-q", "--bare", "-b", "main", str(remote))
    git(app, "init", "-q", "-b", "main")
    git(app, "add", "-A")
    git(app, "commit", "-q", "-m", "Meta Ad Studio v1.0 baseline")
    git(app, "remote", "add", "origin", str(remote))
    git(app, "push", "-q", "origin", "main")
    git(app, "switch", "-q", "-c", FEATURE)
    notes = app / "docs" / "video.md"
    notes.parent.mkdir(exist_ok=True)
    notes.write_text("RunwayML video generation behind VIDEO_GENERATION_ENABLED.\n")
    git(app, "add", "-A")
    git(app, "commit", "-q", "-m", "Worker provider integration (RunwayML)")
    git(app, "push", "-q", "origin", FEATURE)
    git(app, "switch", "-q", "main")
    git(app, "merge", "-q", "--no-ff", "-m", f"Merge {FEATURE}", FEATURE)
    git(app, "push", "-q", "origin", "main")
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=ROOT / ".demo", help="scratch folder")
    args = parser.parse_args()
    base = args.dir.resolve()

    show(f"scratch copy of the sample app in {base}")
    app = scratch_app(base)

    show("the tasks shipyard gives this app")
    invoke(app, "--list")

    show("Fase 0: plan the release tag (dry run: prints the commands, runs none)")
    invoke(app, "tag", "--version", "v1.1.0", "--dry-run")
    show("Fase 0: tag v1.1.0 on main and push it")
    invoke(app, "tag", "--version", "v1.1.0")
    show("rerun: the tag is already there, nothing to do")
    invoke(app, "tag", "--version", "v1.1.0")
    show("Fase 0: delete the merged feature branch")
    invoke(app, "cleanup-branch", "--branch", FEATURE)
    git(app, "ls-remote", str(base / "remote.git"))

    show("done")
    print(f"app: {app}\nremote: {base / 'remote.git'}")


if __name__ == "__main__":
    main()
