"""What a submit to Cloud Build (and a tag trigger) checks on top of local parity's reading
of the file: one parser (parse.py) and one set of substitution rules (substitute.py) for both.

On top: the file lies inside the app repo; shipyard passes only substitutions the file both
declares and uses (under MUST_MATCH an unused one fails the build); a key derived from the
environment rather than asked for is dropped when the file does not use it.
"""

from __future__ import annotations

from pathlib import Path

from shipyard.cloudbuild.parse import Build
from shipyard.cloudbuild.parse import load as parse_file
from shipyard.cloudbuild.substitute import keys_used
from shipyard.errors import UsageError


def load(root: Path, relative: str) -> Build:
    """The build file RELATIVE names inside ROOT, parsed as Cloud Build would. Fields local
    parity cannot run are let through: Cloud Build itself runs this build."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise UsageError(f"--config {relative} is outside the app repo",
                         hint="name a build file inside the repo, e.g. ci-cd/cloudbuild.yaml")
    if not path.is_file():
        raise UsageError(f"build file not found: {relative}",
                         hint="shipyard init writes ci-cd/cloudbuild.yaml; or pass --config")
    return parse_file(path, modelled_only=False)


def declares_and_uses(build: Build, key: str) -> bool:
    return key in build.substitutions and key in set(keys_used(build))


def checked_substitutions(build: Build, shown: str, wanted: dict[str, str],
                          optional: frozenset[str]) -> dict[str, str]:
    """The substitutions to pass: each must be declared and used by the file (SHOWN is its
    path as the user wrote it); a key in `optional` is dropped when unused."""
    passed: dict[str, str] = {}
    for key, value in wanted.items():
        if declares_and_uses(build, key):
            passed[key] = value
        elif key not in optional:
            problem = "does not declare" if key not in build.substitutions else "never uses"
            raise UsageError(f"{shown} {problem} the substitution {key}",
                             hint=f"add `{key}` under substitutions and use ${{{key}}} in a "
                                  "step, or leave out the flag that sets it")
    return passed
