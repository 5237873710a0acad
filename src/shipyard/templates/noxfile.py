"""Nox sessions ci-cd/cloudbuild.yaml calls; the same commands run on a laptop.

    nox -s tests                          the app's own tests
    nox -s build -- --version v1.1.0      invoke build: every service's image
    nox -s scan -- --version v1.1.0       invoke build, then invoke scan (the Trivy gate)

Written by `shipyard init`. Sessions use the tools already installed (the builder image, or
your own environment): they create no virtualenv. Arguments after `--` go to the tasks as
they are: `--version V` and any task flag (`--service NAME`, `--dry-run`, ...).
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests"]
ROOT = Path(__file__).parent


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The app's tests: pytest over tests/ (change this to the app's own test command)."""
    if not (ROOT / "tests").is_dir():
        session.skip("no tests/ folder yet: put the app's test command in this session")
    session.run("python", "-m", "pytest", "-q", *session.posargs, external=True)


@nox.session(venv_backend="none")
def build(session: nox.Session) -> None:
    """invoke build --version V [flags]."""
    session.run("invoke", "build", *session.posargs, external=True)


@nox.session(venv_backend="none")
def scan(session: nox.Session) -> None:
    """invoke build, then invoke scan --version V [flags]: exits 1 on blocking findings."""
    session.run("invoke", "build", *session.posargs, external=True)
    session.run("invoke", "scan", *session.posargs, external=True)
