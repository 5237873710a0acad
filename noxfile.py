"""Nox sessions: the same commands locally as in CI and Cloud Build.

    nox -s demo        the main job on the embedded default (a local release rehearsal)
    nox -s tests       unit + integration + contract tests, with the real tools
    nox -s lint        ruff
    nox -s typecheck   mypy --strict on src
    nox -s cloudbuild -- --version V [--app DIR] [--env local] [--dry-run]
                       the steps of an app's ci-cd/cloudbuild.yaml, run here (local parity)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True
PYTHON = "python3"


def bootstrap(session: nox.Session) -> None:
    """System parts (docker engine, registry, nginx, busybox): installed when missing."""
    session.run("bash", str(ROOT / "scripts" / "bootstrap.sh"), external=True)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Every test tier, with the real git, docker, registry, nginx, trivy, gcloud, kubectl."""
    bootstrap(session)
    session.install("-e", ".[dev,trivy]")
    session.run("pytest", "-q", "-ra", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", "src", "tests", "noxfile.py", "scripts", "benchmarks")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "src")


def _app_task(session: nox.Session, *tasks: str) -> None:
    """Run invoke tasks in an app repo, as the Cloud Build steps do.

    Usage: nox -s build -- [--app DIR] [--version vX.Y.Z] [extra task flags]
    """
    args = list(session.posargs)
    app = ROOT / "examples" / "meta-ad-studio"
    version = "v0.0.0-local"
    for flag in ("--app", "--version"):
        if flag in args:
            i = args.index(flag)
            value = args[i + 1]
            del args[i:i + 2]
            if flag == "--app":
                app = Path(value).resolve()
            else:
                version = value
    bootstrap(session)
    session.install("-e", f"{ROOT}[trivy]")
    session.chdir(app)
    for name in tasks:
        session.run("invoke", name, "--version", version, *args)


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """The same image build Cloud Build runs, locally (default app: the sample)."""
    _app_task(session, "build")


@nox.session(python=PYTHON)
def scan(session: nox.Session) -> None:
    """Build, then the same Trivy gate Cloud Build runs (exit 1 on findings at the threshold)."""
    _app_task(session, "build", "scan")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Rehearse a release of the sample app on the embedded `local` environment."""
    bootstrap(session)
    session.install("-e", ".[trivy]")
    demo_dir = os.environ.get("SHIPYARD_DEMO_DIR", str(ROOT / ".demo"))
    session.run("python", str(ROOT / "scripts" / "demo.py"), "--dir", demo_dir, *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Time build + push against the raw docker commands; writes docs/benchmarks.md."""
    bootstrap(session)
    # dev: the cloud rows run the tests' Cloud Run and GKE stand-ins, which import pytest
    session.install("-e", ".[dev,trivy]")
    session.chdir(ROOT)  # `python -m benchmarks` imports the package from here
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=False)
def cloudbuild(session: nox.Session) -> None:
    """Run an app's ci-cd/cloudbuild.yaml here: its steps, waitFor order and substitutions,
    against the local environment (default app: the sample). docs/cloud-build.md.

    No virtualenv: the steps call nox, invoke and shipyard of this installation, as a build
    calls those of its builder image. Usage: nox -s cloudbuild -- --version v1.1.0 [--app DIR]
    """
    args = list(session.posargs)
    if "--app" not in args:
        args += ["--app", str(ROOT / "examples" / "meta-ad-studio")]
    if "--dry-run" not in args:
        bootstrap(session)
    argv = (sys.executable, "-m", "shipyard.cloudbuild.local", *args)
    session.log(" ".join(argv))
    code = subprocess.call(argv)
    if code:  # nox would say 1 for any failure: exit with the failed step's own code
        raise SystemExit(code)
