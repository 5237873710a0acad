"""gcp-bootstrap through the runner: read the project, plan, print the plan, then act.

Every read is a gcloud call that changes nothing (it runs in a dry run too, so the plan is the
truth); every change is one planned gcloud call. Nothing is remembered between runs: a rerun,
or a run after a kill -9, reads the project again and does only what is still missing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from shipyard.bootstrap.desired import API_OF, Desired
from shipyard.bootstrap.plan import CREATE_STEP, GRANT, Grants, Observed, Plan, Step
from shipyard.commands import gcloud_bootstrap as gb
from shipyard.commands.gcloud_bootstrap import ACCOUNT, PROJECT, REPOSITORY, PolicyHolder
from shipyard.errors import CommandError, ShipyardError
from shipyard.exec.runner import Argv, Result, Runner

READ_TIMEOUT = 120.0
CHANGE_TIMEOUT = 600.0  # an API enable or a repository create waits for its operation
GRANT_ATTEMPTS = 4
# A concurrent change of the same policy (409 ABORTED), or IAM not yet knowing an account
# created seconds ago: both pass when the write is tried again.
RETRYABLE = ("concurrent policy changes", "ABORTED", "does not exist")
READERS = 4
T = TypeVar("T")
U = TypeVar("U")


def _hint(project: str) -> str:
    return (f"gcloud's account needs to read and change project {project} (e.g. roles/owner, "
            "or the admin roles of IAM, Artifact Registry, Secret Manager and Service Usage)")


def _failed(runner: Runner, result: Result, hint: str) -> CommandError:
    lines = [line for line in runner.redactor(result.stderr).splitlines() if line.strip()]
    return CommandError(f"command failed (exit {result.returncode}): {runner.quote(result.argv)}",
                        argv=runner.masked(result.argv), returncode=result.returncode,
                        stderr_tail="\n".join(lines[-12:]), hint=hint)


def _read(runner: Runner, argv: Argv, project: str, *, missing_ok: bool = True) -> str | None:
    """stdout of a read, or None when gcloud says the resource is not there."""
    result = runner.run(argv, mutates=False, check=False, timeout=READ_TIMEOUT)
    if result.ok:
        return result.stdout
    if missing_ok and "NOT_FOUND" in result.stderr:
        return None
    raise _failed(runner, result, _hint(project))


def _parallel(work: Callable[[T], U], items: Sequence[T]) -> list[U]:
    """gcloud takes a second or two to start: reads run a few at a time."""
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        return list(pool.map(work, items))


def _grants(text: str) -> Grants:
    """The unconditional (role, member) pairs of a policy: a conditional binding grants
    only sometimes, so it does not count as present."""
    policy = json.loads(text or "{}")
    return frozenset((b["role"], m) for b in policy.get("bindings", [])
                     if not b.get("condition") for m in b.get("members", []))


def observe(runner: Runner, gcloud: str, want: Desired) -> Observed:
    # no project, no answer: that is not "every API off"
    listed = _read(runner, gb.enabled_services(gcloud, want.project), want.project,
                   missing_ok=False) or "[]"
    enabled = frozenset(s.get("config", {}).get("name") or s.get("name", "").rsplit("/")[-1]
                        for s in json.loads(listed))
    accounts = [PolicyHolder(ACCOUNT, a.email, want.project) for a in want.accounts]
    holders = [h for h in (want.repository, *accounts, *want.secrets)
               if API_OF[h.kind] in enabled]

    def describe(holder: PolicyHolder) -> str | None:
        argv = {REPOSITORY: lambda: gb.describe_repository(gcloud, holder.name,
                                                           holder.location, holder.project),
                ACCOUNT: lambda: gb.describe_service_account(gcloud, holder.name,
                                                             holder.project),
                }.get(holder.kind, lambda: gb.describe_secret(gcloud, holder.name,
                                                              holder.project))()
        return _read(runner, argv, want.project)

    described = dict(zip(holders, _parallel(describe, holders), strict=True))
    exists = {holder: text is not None for holder, text in described.items()}
    repo = described.get(want.repository)
    if repo is not None and json.loads(repo).get("format") != "DOCKER":
        raise ShipyardError(f"Artifact Registry repository {want.repository.name} in "
                            f"{want.repository.location} exists but holds "
                            f"{json.loads(repo).get('format')} packages, not docker images",
                            hint="name another repository in shipyard.toml (repository = ...)")
    project = PolicyHolder(PROJECT, want.project, want.project)
    if API_OF[PROJECT] in enabled:
        exists[project] = True
    policies = sorted({b.holder for b in want.bindings if exists.get(b.holder)})
    texts = _parallel(lambda h: _read(runner, gb.get_iam_policy(gcloud, h), want.project),
                      policies)
    granted = {holder: _grants(text or "") for holder, text in zip(policies, texts, strict=True)}
    exists.pop(project, None)
    return Observed(enabled=enabled, exists=exists, granted=granted)


def apply(runner: Runner, plan: Plan, project: str, *, backoff: float = 1.0) -> int:
    """Run the plan's steps; returns how many ran. In waves, in the plan's order: the APIs,
    then every create at once, then the grants (one lane per policy, so two writes of one
    policy never race). A dry run prints them one by one, in order. A failure stops the run
    after its wave (exit 1): what ran stays done, and a rerun reads it and carries on."""
    for wave in _waves(plan.steps):
        if runner.dry_run:
            for lane in wave:
                for step in lane:
                    _run_step(runner, step, project, backoff)
            continue
        with ThreadPoolExecutor(max_workers=READERS) as pool:
            futures = [pool.submit(_run_lane, runner, lane, project, backoff) for lane in wave]
        failures = [f.exception() for f in futures if f.exception() is not None]
        if failures:
            raise failures[0]  # type: ignore[misc]
    return len(plan.steps)


def _waves(steps: Sequence[Step]) -> list[list[list[Step]]]:
    """Consecutive steps of one kind make a wave; a wave's lanes may run side by side."""
    waves: list[list[list[Step]]] = []
    kind = None
    lanes: dict[Argv, list[Step]] = {}
    for step in steps:
        if step.kind != kind:
            kind, lanes = step.kind, {}
            waves.append([])
        # a grant's lane is its policy: the argv before --member names the resource
        key = step.argv[:step.argv.index("--member")] if step.kind == GRANT and \
            "--member" in step.argv else step.argv
        if key not in lanes:
            lanes[key] = []
            waves[-1].append(lanes[key])
        lanes[key].append(step)
    return waves


def _run_lane(runner: Runner, lane: list[Step], project: str, backoff: float) -> None:
    for step in lane:
        _run_step(runner, step, project, backoff)


def _run_step(runner: Runner, step: Step, project: str, backoff: float) -> None:
    attempts = GRANT_ATTEMPTS if step.kind == GRANT else 1
    for attempt in range(attempts):
        result = runner.run(step.argv, check=False, timeout=CHANGE_TIMEOUT)
        if result.ok:
            return
        if step.kind == CREATE_STEP and "ALREADY_EXISTS" in result.stderr:
            return  # made meanwhile, or its API was off when the plan read it: there now
        if attempt + 1 < attempts and any(s in result.stderr for s in RETRYABLE):
            time.sleep(backoff * 2 ** attempt)
            continue
        raise _failed(runner, result, f"{step.what} failed; {_hint(project)}. What ran "
                                      "before stays done: rerun gcp-bootstrap to carry on")
