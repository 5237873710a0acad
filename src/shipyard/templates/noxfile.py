"""Nox sessions ci-cd/cloudbuild.yaml calls; the same commands run on a laptop.

    nox -s tests                          the app's own tests (fast, offline)
    nox -s build -- --version v1.1.0      invoke build, the same image build as Cloud Build
    nox -s scan -- --version v1.1.0       invoke build, then invoke scan (the Trivy gate)

Sessions use the tools already installed (the builder image, ci-cd/builder.Dockerfile, or your
own environment: `pip install -r ci-cd/requirements.txt`); they create no virtualenv. Each
first checks, offline, that what ci-cd/requirements.txt asks for is installed: that check is
all `nox --install-only` (the build's install step) does, and it fails naming what is missing.
Arguments after `--` go to the tasks as they are: `--version V` and any task flag. Written by
`shipyard init`; change the tests session to the app's own test command.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests"]
ROOT = Path(__file__).parent
REQUIREMENTS = "ci-cd/requirements.txt"


def _toolchain(session: nox.Session) -> None:
    """pip resolves the requirements against what is installed; --no-index: never downloads."""
    session.run_install("python", "-m", "pip", "install", "--no-index", "--quiet",
                        "--disable-pip-version-check", "-r", REQUIREMENTS, external=True)


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """The app's tests: pytest over tests/ (the sample's: its entrypoints and Dockerfiles, no
    network, no Docker engine). A new app without tests/ yet is skipped, not failed."""
    _toolchain(session)
    if not (ROOT / "tests").is_dir():
        session.skip("no tests/ folder yet: put the app's test command in this session")
    session.run("python", "-m", "pytest", *session.posargs, external=True,
                env={"PYTHONDONTWRITEBYTECODE": "1"})


def _tasks(session: nox.Session, *names: str) -> None:
    """Each shipyard task with the session's arguments: -- --version V [task flags]
    (without --version, invoke refuses: exit 2, nothing built)."""
    _toolchain(session)
    for name in names:
        session.run("invoke", name, *session.posargs, external=True)


@nox.session(python=False)
def build(session: nox.Session) -> None:
    """invoke build --version V [flags]: every service's image, reused when nothing changed."""
    _tasks(session, "build")


@nox.session(python=False)
def scan(session: nox.Session) -> None:
    """invoke build, then invoke scan: exits 1 on findings at the configured severity."""
    _tasks(session, "build", "scan")
