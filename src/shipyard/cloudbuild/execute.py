"""Runs a resolved build's steps on this machine through the one Runner, as Cloud Build does:
independent steps at the same time, each once its `waitFor` steps succeeded; the first
failure stops the build (running steps are cancelled, the rest never start).

The step's `name` (its builder image) is not pulled or run: its `entrypoint` + `args` run
here, in the app's checkout (Cloud Build's /workspace) or the step's `dir` below it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.cloudbuild.parse import Build, Step
from shipyard.cloudbuild.schedule import Graph, dependencies, ready
from shipyard.errors import CommandError, UsageError
from shipyard.exec.runner import Runner
from shipyard.ui import console

SUCCESS, FAILURE, CANCELLED, TIMEOUT, QUEUED, PLANNED = (
    "SUCCESS", "FAILURE", "CANCELLED", "TIMEOUT", "QUEUED", "PLANNED")
ALLOWED = "FAILURE (allowed)"
CANCEL_GRACE = 10.0  # seconds between SIGTERM and SIGKILL for a cancelled step
NOT_FOUND = 127  # the shell's code for a command that does not exist
_BUILDERS = "gcr.io/cloud-builders/"  # their entrypoint is the tool the image is named after


@dataclass
class Outcome:
    step: Step
    status: str = QUEUED
    exit_code: int | None = None
    seconds: float = 0.0


@dataclass
class Report:
    outcomes: list[Outcome]
    failed: Outcome | None = None  # the step that stopped the build
    seconds: float = 0.0

    @property
    def status(self) -> str:
        if self.failed is None:
            return SUCCESS if all(o.status != PLANNED for o in self.outcomes) else PLANNED
        return TIMEOUT if self.failed.status == TIMEOUT else FAILURE

    @property
    def exit_code(self) -> int:
        if self.failed is None:
            return 0
        code = self.failed.exit_code
        return code if code is not None and 0 < code < 256 else 1


def argv_of(step: Step) -> tuple[str, ...]:
    """What runs here for a step: its entrypoint and args."""
    if step.entrypoint:
        return (step.entrypoint, *step.args)
    image = step.name.split("@")[0].rsplit(":", 1)[0]
    if image.startswith(_BUILDERS) and "/" not in image[len(_BUILDERS):]:
        return (image[len(_BUILDERS):], *step.args)
    raise UsageError(f"step {step.label} has no entrypoint: parity runs it on this machine "
                     f"and cannot know the entrypoint of {step.name}",
                     hint="name the command with `entrypoint:` (e.g. bash, nox, invoke)")


@dataclass
class Executor:
    runner: Runner
    root: Path  # the app's checkout: Cloud Build's /workspace
    env: Mapping[str, str] = field(default_factory=dict)  # on top of this process's
    secrets: Mapping[str, str] = field(default_factory=dict)  # secretEnv name → value
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _running: set[int] = field(default_factory=set)
    _pids: dict[int, int] = field(default_factory=dict)
    _cancelled: set[int] = field(default_factory=set)

    def run(self, build: Build) -> Report:
        for step in build.steps:  # bad input before anything runs
            argv_of(step)
        graph = dependencies(build.steps)
        report = Report([Outcome(s) for s in build.steps])
        started_at = time.monotonic()
        if self.runner.dry_run:
            self._plan(build, graph, report)
        else:
            self._schedule(build, graph, report, started_at + build.timeout)
        report.seconds = time.monotonic() - started_at
        return report

    def _plan(self, build: Build, graph: Graph, report: Report) -> None:
        for step in build.steps:
            after = ", ".join(build.steps[n].label for n in sorted(graph[step.index]))
            console.note(f"Step {step.label}: after {after or 'the start'}")
            self.runner.run(argv_of(step), cwd=self._cwd(step))
            report.outcomes[step.index].status = PLANNED

    def _schedule(self, build: Build, graph: Graph, report: Report, deadline: float) -> None:
        succeeded: set[int] = set()
        started: set[int] = set()
        threads: list[threading.Thread] = []
        with self._lock:
            while True:
                if report.failed is None:
                    for i in ready(graph, succeeded, started):
                        started.add(i)
                        thread = threading.Thread(
                            target=self._step, args=(build, report.outcomes[i], deadline,
                                                     report, succeeded), daemon=True)
                        threads.append(thread)
                        thread.start()
                running = [t for t in threads if t.is_alive()]
                if not running and (report.failed is not None
                                    or not ready(graph, succeeded, started)):
                    break
                self._lock.wait(timeout=1.0)
        for thread in threads:
            thread.join()

    def _step(self, build: Build, outcome: Outcome, deadline: float, report: Report,
              succeeded: set[int]) -> None:
        step = outcome.step
        name = f'Step {step.label}'
        console.note(f"Starting {name}: {step.name} (image not pulled: its entrypoint runs "
                     f"here)")
        began = time.monotonic()
        timeout = max(min(step.timeout or build.timeout, deadline - began), 0.001)
        env = {**self.env, **_pairs(build.env), **_pairs(step.env),
               **{n: self.secrets[n] for n in (*build.secret_env, *step.secret_env)}}
        with self._lock:
            self._running.add(step.index)
        try:
            result = self.runner.run(
                argv_of(step), check=False, timeout=timeout, cwd=self._cwd(step), env=env,
                on_line=lambda line: console.note(f"{name}: {line}"),
                on_start=lambda pid: self._started(step.index, pid))
            code: int | None = result.returncode
            status = SUCCESS if code == 0 else FAILURE
        except CommandError as exc:
            code = None if exc.message.startswith("timed out") else NOT_FOUND
            status = TIMEOUT if code is None else FAILURE
            console.error(f"{name}: {exc.message}", exc.hint)
        with self._lock:
            self._running.discard(step.index)
            self._pids.pop(step.index, None)
            outcome.seconds = time.monotonic() - began
            outcome.exit_code = code
            if step.index in self._cancelled:
                status = CANCELLED
            elif status != SUCCESS and (step.allow_failure or code in step.allow_exit_codes):
                status = ALLOWED
            outcome.status = status
            if status in (SUCCESS, ALLOWED):
                succeeded.add(step.index)
            elif status != CANCELLED and report.failed is None:
                report.failed = outcome
                self._cancel_running(name)
            console.note(f"Finished {name}: {status}" + (f" (exit {code})" if code else "")
                         + f" in {outcome.seconds:.1f}s")
            self._lock.notify_all()

    def _started(self, index: int, pid: int) -> None:
        with self._lock:
            self._pids[index] = pid
            if index in self._cancelled:  # the build failed while this one was starting
                self._terminate(index, pid)

    def _cancel_running(self, failed: str) -> None:
        """Under the lock: stop every step still running, as Cloud Build cancels them."""
        for index in sorted(self._running):
            self._cancelled.add(index)
            console.note(f"{failed} failed: cancelling step #{index}")
            if index in self._pids:
                self._terminate(index, self._pids[index])

    def _terminate(self, index: int, pid: int) -> None:
        """SIGTERM to the step's process group (the runner starts each command in a session
        of its own), SIGKILL after the grace period if that same command still runs."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)

        def finish() -> None:
            time.sleep(CANCEL_GRACE)
            with self._lock, contextlib.suppress(ProcessLookupError, PermissionError):
                if self._pids.get(index) == pid:
                    os.killpg(pid, signal.SIGKILL)

        threading.Thread(target=finish, daemon=True).start()

    def _cwd(self, step: Step) -> Path:
        return self.root / step.dir if step.dir else self.root


def _pairs(entries: tuple[str, ...]) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in entries)
