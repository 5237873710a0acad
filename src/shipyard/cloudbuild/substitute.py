"""Substitutions the way Cloud Build resolves them, checked before any step runs.

- A template (a step's name, args, env, dir, entrypoint; images; tags; availableSecrets'
  versionNames, whose documented form is projects/$PROJECT_ID/secrets/...) names a substitution as
  `$KEY` or `${KEY}`, KEY matching [A-Z_][A-Z0-9_]*; `$$` is a literal `$`. Anything else after
  a `$` (`${X:-y}`, `$1`, `$lower`) is left alone: it is the step's own shell syntax.
- User substitutions match ^_[A-Z0-9_]+$; a few built-ins may be overridden (TAG_NAME, ...).
- With options.dynamicSubstitutions, a substitution's VALUE is expanded first, bash style
  (`${TAG_NAME}`, `${_X:-default}`, `${_X^^}`, ...), undefined names being empty.
- MUST_MATCH (the default): a user key used but not defined, or defined but used nowhere, is
  an error. A key that is neither a user key nor a built-in is always an error.
Sources: Cloud Build docs, "Substituting variable values"; the messages follow the API's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace

from shipyard.cloudbuild.bash import HINT, dynamic
from shipyard.cloudbuild.parse import Build, Step
from shipyard.errors import UsageError

USER_KEY = re.compile(r"^_[A-Z0-9_]+$")
_TEMPLATE_KEY = re.compile(r"[A-Z_][A-Z0-9_]*")
_BRACED_KEY = re.compile(r"\{([A-Z_][A-Z0-9_]*)\}")
BUILTINS = frozenset({
    "PROJECT_ID", "BUILD_ID", "PROJECT_NUMBER", "LOCATION", "TRIGGER_NAME", "COMMIT_SHA",
    "REVISION_ID", "SHORT_SHA", "REPO_NAME", "REPO_FULL_NAME", "BRANCH_NAME", "TAG_NAME",
    "REF_NAME", "TRIGGER_BUILD_CONFIG_PATH", "SERVICE_ACCOUNT_EMAIL", "SERVICE_ACCOUNT"})
OVERRIDABLE = frozenset({"COMMIT_SHA", "REVISION_ID", "SHORT_SHA", "REPO_NAME", "BRANCH_NAME",
                         "TAG_NAME"})
MAX_KEYS, MAX_KEY_LENGTH, MAX_VALUE_LENGTH = 200, 100, 4000


@dataclass(frozen=True)
class Resolved:
    build: Build  # every template field expanded
    values: Mapping[str, str]  # the user substitutions after dynamic expansion
    warnings: tuple[str, ...]  # ALLOW_LOOSE: what MUST_MATCH would have refused


def merge(file: Mapping[str, str], cli: Mapping[str, str]) -> dict[str, str]:
    """The file's substitutions with the command line's on top (the command line wins)."""
    return {**file, **cli}


def check_keys(values: Mapping[str, str]) -> None:
    if len(values) > MAX_KEYS:
        raise UsageError(f"{len(values)} substitutions (at most {MAX_KEYS})", hint=HINT)
    for key, value in values.items():
        if len(key) > MAX_KEY_LENGTH:
            raise UsageError(f"substitution key {key[:20]}... is longer than "
                             f"{MAX_KEY_LENGTH} characters", hint=HINT)
        if not USER_KEY.match(key) and key not in OVERRIDABLE:
            raise UsageError(
                f"substitution key {key!r} does not respect format \"^_[A-Z0-9_]+$\" and is "
                f"not an overridable built-in substitution",
                hint="user substitutions start with _ (e.g. _VERSION); a shell variable in a "
                     "step needs $$ ($$HOME)")
        if len(value) > MAX_VALUE_LENGTH:
            raise UsageError(f"substitution {key} is longer than {MAX_VALUE_LENGTH} "
                             f"characters", hint=HINT)


def resolve(build: Build, user: Mapping[str, str], builtins: Mapping[str, str]) -> Resolved:
    """Check and apply every substitution; raise UsageError listing each problem."""
    check_keys(user)
    values = dynamic(user, builtins) if build.dynamic else dict(user)
    problems: list[str] = []
    warnings: list[str] = []
    used: set[str] = set()
    for key in sorted(set(keys_used(build))):
        used.add(key)
        if key in values or key in builtins:
            continue
        if USER_KEY.match(key):
            text = f'key in the template "{key}" is not matched in the substitution data'
            (warnings if build.loose else problems).append(text)
        elif key not in BUILTINS:
            problems.append(f'key in the template "{key}" is not a valid built-in '
                            f"substitution")
    for key in sorted(set(values) - used - OVERRIDABLE):
        text = f'key "{key}" in the substitution data is not matched in the template'
        (warnings if build.loose else problems).append(text)
    if problems:
        raise UsageError(f"{build.path}: bad substitutions: " + "; ".join(problems),
                         hint=HINT + "; ALLOW_LOOSE in options.substitutionOption "
                                     "turns the unmatched-key checks off")
    table = {**builtins, **values}
    return Resolved(_apply(build, lambda text: expand(text, table)), values, tuple(warnings))


def keys_used(build: Build) -> Iterator[str]:
    for text in _templates(build):
        for key in _params(text):
            if key is not None:
                yield key


def expand(text: str, values: Mapping[str, str]) -> str:
    """One template string with its substitutions applied (an unknown key becomes empty)."""
    out, i = [], 0
    for start, end, key in _spans(text):
        out.append(text[i:start])
        out.append("$" if key is None else values.get(key, ""))
        i = end
    out.append(text[i:])
    return "".join(out)


def _params(text: str) -> Iterator[str | None]:
    for _, _, key in _spans(text):
        yield key


def _spans(text: str) -> Iterator[tuple[int, int, str | None]]:
    """(start, end, KEY) of each substitution in TEXT; KEY None for a `$$`."""
    i = 0
    while i < len(text):
        if text[i] != "$":
            i += 1
            continue
        if text.startswith("$$", i):
            yield i, i + 2, None
            i += 2
            continue
        found = _BRACED_KEY.match(text, i + 1) or _TEMPLATE_KEY.match(text, i + 1)
        if found:
            key = found.group(1) if found.re is _BRACED_KEY else found.group(0)
            yield i, found.end(), key
            i = found.end()
        else:
            i += 1


def _templates(build: Build) -> Iterator[str]:
    for step in build.steps:
        yield step.name
        yield from step.args
        yield from step.env
        yield step.dir
        if step.entrypoint:
            yield step.entrypoint
    yield from build.images
    yield from build.tags
    yield from build.secret_versions


def _apply(build: Build, sub: Callable[[str], str]) -> Build:
    def step(s: Step) -> Step:
        return replace(s, name=sub(s.name), args=tuple(sub(a) for a in s.args),
                       env=tuple(sub(e) for e in s.env), dir=sub(s.dir),
                       entrypoint=sub(s.entrypoint) if s.entrypoint else None)

    return replace(build, steps=tuple(step(s) for s in build.steps),
                   images=tuple(sub(i) for i in build.images),
                   tags=tuple(sub(t) for t in build.tags),
                   secret_versions=tuple(sub(v) for v in build.secret_versions))
