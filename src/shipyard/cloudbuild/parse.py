"""Reads a Cloud Build config file into frozen objects and checks what Cloud Build checks
before a build starts (field names, step ids, `waitFor`, env entries, timeouts, secrets).

Rules follow the Build resource of the Cloud Build v1 API and its docs ("Configuring the order
of build steps", "Substituting variable values"). Fields parity cannot model locally are
refused by name, never skipped in silence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shipyard.cloudbuild.fields import Where
from shipyard.errors import ConfigError

START = "-"  # waitFor: [-] means "at the start of the build"
DEFAULT_TIMEOUT = 600.0  # a build without `timeout` gets 10 minutes

BUILD_FIELDS = {"steps", "timeout", "queueTtl", "logsBucket", "options", "substitutions",
                "tags", "secrets", "availableSecrets", "images", "artifacts", "serviceAccount"}
STEP_FIELDS = {"name", "args", "env", "dir", "id", "waitFor", "entrypoint", "secretEnv",
               "timeout", "allowFailure", "allowExitCodes", "volumes", "script",
               "automapSubstitutions"}
OPTION_FIELDS = {"sourceProvenanceHash", "requestedVerifyOption", "machineType", "diskSizeGb",
                 "substitutionOption", "dynamicSubstitutions", "automapSubstitutions",
                 "logStreamingOption", "workerPool", "pool", "logging", "env", "secretEnv",
                 "volumes", "defaultLogsBucketBehavior"}


@dataclass(frozen=True)
class Step:
    index: int
    name: str
    args: tuple[str, ...]
    entrypoint: str | None
    env: tuple[str, ...]
    dir: str
    id: str | None
    wait_for: tuple[str, ...] | None  # None: the field is absent (after all earlier steps)
    secret_env: tuple[str, ...]
    timeout: float | None
    allow_failure: bool
    allow_exit_codes: tuple[int, ...]

    @property
    def label(self) -> str:
        """How Cloud Build's log names a step: `#1 "install"`, or `#1` without an id."""
        return f'#{self.index} "{self.id}"' if self.id else f"#{self.index}"


@dataclass(frozen=True)
class Build:
    path: Path
    steps: tuple[Step, ...]
    substitutions: Mapping[str, str]
    timeout: float
    dynamic: bool
    loose: bool  # options.substitutionOption: ALLOW_LOOSE
    env: tuple[str, ...]  # options.env, for every step
    secret_env: tuple[str, ...]  # options.secretEnv, for every step
    images: tuple[str, ...]
    tags: tuple[str, ...]
    available_secrets: frozenset[str]  # env names availableSecrets defines
    secret_versions: tuple[str, ...] = ()  # availableSecrets' versionNames (templates too)


def load(path: Path, *, modelled_only: bool = True) -> Build:
    """The file, checked. `modelled_only=False` (a submit to Cloud Build itself) lets the real
    fields parity cannot run (fields.NOT_MODELLED) through instead of refusing them."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file",
                          hint="an app keeps its build in ci-cd/cloudbuild.yaml (shipyard "
                               "init writes one); or name another with --config") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({_first_line(exc)})",
                          hint="gcloud builds submit refuses it too; fix the file") from None
    return parse(data, path, modelled_only=modelled_only)


def parse(data: Any, path: Path, *, modelled_only: bool = True) -> Build:
    where = Where(path, modelled_only)
    top = where.mapping(data, "")
    where.known(top, BUILD_FIELDS, "")
    options = where.mapping(top.get("options", {}), "options")
    where.known(options, OPTION_FIELDS, "options")
    for name in ("artifacts", "secrets"):
        if name in top:
            where.refuse(name)
    if "volumes" in options:
        where.refuse("volumes", "options.volumes")
    if "automapSubstitutions" in options:
        where.refuse("automapSubstitutions", "options.automapSubstitutions")
    timeout = where.duration(top.get("timeout"), "timeout") or DEFAULT_TIMEOUT
    raw_steps = top.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise where.error("steps", "no build steps are specified")
    steps = tuple(_step(where, raw, i, timeout) for i, raw in enumerate(raw_steps))
    _check_order(where, steps)
    option = options.get("substitutionOption", "MUST_MATCH")
    if option not in ("MUST_MATCH", "ALLOW_LOOSE"):
        raise where.error("options.substitutionOption",
                          f"{option!r} is neither MUST_MATCH nor ALLOW_LOOSE")
    available, versions = _available_secrets(where, top.get("availableSecrets"))
    build = Build(
        path=path, steps=steps,
        substitutions=where.strings(top.get("substitutions", {}), "substitutions"),
        timeout=timeout, dynamic=where.flag(options.get("dynamicSubstitutions"),
                                            "options.dynamicSubstitutions"),
        loose=option == "ALLOW_LOOSE",
        env=where.env(options.get("env", []), "options.env"),
        secret_env=where.names(options.get("secretEnv", []), "options.secretEnv"),
        images=where.names(top.get("images", []), "images"),
        tags=where.names(top.get("tags", []), "tags"),
        available_secrets=available, secret_versions=versions,
    )
    _check_secrets(where, build)
    return build


def _step(where: Where, raw: Any, index: int, build_timeout: float) -> Step:
    at = f"steps[{index}]"
    step = where.mapping(raw, at)
    where.known(step, STEP_FIELDS, at)
    for field in ("volumes", "script", "automapSubstitutions"):
        if field in step:
            where.refuse(field, f"{at}.{field}")
    name = step.get("name")
    if not isinstance(name, str) or not name.strip():
        raise where.error(f"{at}.name", "every step must name its builder image")
    ident = step.get("id")
    if ident is not None and (not isinstance(ident, str) or not ident):
        raise where.error(f"{at}.id", "must be a non-empty string")
    timeout = where.duration(step.get("timeout"), f"{at}.timeout")
    if timeout is not None and timeout > build_timeout:
        raise where.error(f"{at}.timeout", f"{timeout:g}s is longer than the build's "
                                           f"timeout ({build_timeout:g}s)")
    entrypoint = step.get("entrypoint")
    if entrypoint is not None and (not isinstance(entrypoint, str) or not entrypoint):
        raise where.error(f"{at}.entrypoint", "must be a non-empty string")
    codes = step.get("allowExitCodes", [])
    if not isinstance(codes, list) or not all(type(c) is int for c in codes):
        raise where.error(f"{at}.allowExitCodes", "must be a list of whole numbers")
    wait_for = step.get("waitFor")
    return Step(
        index=index, name=name, args=where.names(step.get("args", []), f"{at}.args",
                                                 allow_empty=True),
        entrypoint=entrypoint, env=where.env(step.get("env", []), f"{at}.env"),
        dir=_dir(where, step.get("dir", ""), f"{at}.dir"), id=ident,
        wait_for=None if wait_for is None else where.names(wait_for, f"{at}.waitFor"),
        secret_env=where.names(step.get("secretEnv", []), f"{at}.secretEnv"),
        timeout=timeout, allow_failure=where.flag(step.get("allowFailure"),
                                                  f"{at}.allowFailure"),
        allow_exit_codes=tuple(codes),
    )


def _dir(where: Where, value: Any, at: str) -> str:
    if not isinstance(value, str):
        raise where.error(at, "must be a string")
    if value.startswith("/") or ".." in Path(value).parts:
        raise where.error(at, f"{value!r} leaves the workspace; parity runs steps in the "
                              f"app's checkout, as Cloud Build runs them in /workspace")
    return value


def _check_order(where: Where, steps: tuple[Step, ...]) -> None:
    """Ids unique and not `-`; waitFor names only `-` or the id of an EARLIER step."""
    known: set[str] = set()
    for step in steps:
        for dependency in step.wait_for or ():
            if dependency != START and dependency not in known:
                raise where.error(f"steps[{step.index}].waitFor",
                                  f"step {step.label} depends on {dependency!r}, which is "
                                  f"not the id of an earlier step")
        if step.id is not None:
            if step.id == START:
                raise where.error(f"steps[{step.index}].id", "'-' is reserved for waitFor")
            if step.id in known:
                raise where.error(f"steps[{step.index}].id", f"{step.id!r} is not unique")
            known.add(step.id)


def _available_secrets(where: Where, raw: Any) -> tuple[frozenset[str], tuple[str, ...]]:
    if raw is None:
        return frozenset(), ()
    block = where.mapping(raw, "availableSecrets")
    where.known(block, {"secretManager", "inline"}, "availableSecrets")
    if "inline" in block:
        where.refuse("secrets", "availableSecrets.inline")
    names, versions = set(), []
    entries = block.get("secretManager", [])
    if not isinstance(entries, list):
        raise where.error("availableSecrets.secretManager", "must be a list")
    for i, entry in enumerate(entries):
        item = where.mapping(entry, f"availableSecrets.secretManager[{i}]")
        env = item.get("env")
        if not isinstance(env, str) or not env or not isinstance(item.get("versionName"), str):
            raise where.error(f"availableSecrets.secretManager[{i}]",
                              "needs versionName and env")
        names.add(env)
        versions.append(item["versionName"])
    return frozenset(names), tuple(versions)


def _check_secrets(where: Where, build: Build) -> None:
    used = set(build.secret_env)
    for step in build.steps:
        used.update(step.secret_env)
    for name in sorted(used - build.available_secrets):
        raise where.error("secretEnv", f"secretEnv {name!r} is used without being defined "
                                       f"in availableSecrets")
    for name in sorted(build.available_secrets - used):
        raise where.error("availableSecrets", f"secretEnv {name!r} is defined without being "
                                              f"used")


def _first_line(exc: yaml.YAMLError) -> str:
    """The problem and where: `expected ',' or ']', but got '{' (line 22)`."""
    problem = getattr(exc, "problem", None) or type(exc).__name__
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} (line {mark.line + 1})" if mark is not None else str(problem)
