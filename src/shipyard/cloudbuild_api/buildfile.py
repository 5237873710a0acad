"""A Cloud Build file, read before anything is sent: it exists, parses, and which
substitutions it declares and uses.

Cloud Build's rules, as its docs and the API state them: a user substitution is `_[A-Z0-9_]+`;
`$NAME` and `${NAME}` (with dynamic substitutions also `${NAME...}` bash forms) are
substitutions; `$$` is a literal dollar. Under the default `substitutionOption: MUST_MATCH`
a substitution that no step uses fails the build, so shipyard passes only used ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shipyard.errors import UsageError

VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))")
TEMPLATE_KEYS = ("steps", "images", "tags", "artifacts", "availableSecrets")


@dataclass(frozen=True)
class BuildFile:
    path: Path
    shown: str  # the path as the user wrote it, for messages
    data: dict[str, Any]

    @property
    def declared(self) -> dict[str, str]:
        subs = self.data.get("substitutions") or {}
        return {str(k): str(v) for k, v in subs.items()}

    @property
    def used(self) -> set[str]:
        """Every substitution the steps (and the declared defaults) refer to."""
        template = {key: self.data.get(key) for key in TEMPLATE_KEYS}
        return variables(template) | variables(self.declared)

    @property
    def steps(self) -> list[dict[str, Any]]:
        return list(self.data.get("steps") or [])


def variables(value: Any) -> set[str]:
    if isinstance(value, str):
        return {a or b for a, b in VARIABLE.findall(value.replace("$$", ""))}
    if isinstance(value, dict):
        return set().union(set(), *(variables(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(set(), *(variables(v) for v in value))
    return set()


def load(root: Path, relative: str) -> BuildFile:
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise UsageError(f"--config {relative} is outside the app repo",
                         hint="name a build file inside the repo, e.g. ci-cd/cloudbuild.yaml")
    if not path.is_file():
        raise UsageError(f"build file not found: {relative}",
                         hint="shipyard init writes ci-cd/cloudbuild.yaml; or pass --config")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{relative} is not valid YAML: {first}",
                         hint="fix the file; `python -c 'import yaml,sys; "
                              "yaml.safe_load(open(sys.argv[1]))' FILE` shows where") from None
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list) \
            or not data["steps"]:
        raise UsageError(f"{relative} is not a Cloud Build file: no `steps` list",
                         hint="see docs/cloud-build.md for the file shipyard ships")
    if not isinstance(data.get("substitutions") or {}, dict):
        raise UsageError(f"{relative}: `substitutions` must be a mapping",
                         hint="e.g. substitutions: {_VERSION: ${TAG_NAME}}")
    return BuildFile(path, relative, data)


def checked_substitutions(build: BuildFile, wanted: dict[str, str],
                          optional: frozenset[str]) -> dict[str, str]:
    """The substitutions to pass: each must be declared and used by the file; a key in
    `optional` (derived from the environment, not asked for) is dropped when unused."""
    declared, used = build.declared, build.used
    passed: dict[str, str] = {}
    for key, value in wanted.items():
        if key in declared and key in used:
            passed[key] = value
        elif key not in optional:
            problem = "does not declare" if key not in declared else "never uses"
            raise UsageError(f"{build.shown} {problem} the substitution {key}",
                             hint=f"add `{key}` under substitutions and use ${{{key}}} in a "
                                  "step, or leave out the flag that sets it")
    return passed
