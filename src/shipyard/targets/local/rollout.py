"""Bringing new revisions up before any traffic moves: start (or resume the paused standby, or
restart a kept container), wait for the health path to answer 200, check the version path
answers the version. The HTTP probes talk to 127.0.0.1 only: no proxy settings, no redirects
followed.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NoReturn

from shipyard.config import Service
from shipyard.errors import CommandError
from shipyard.exec.runner import Runner
from shipyard.targets.base import DeployError
from shipyard.targets.local.nginx_conf import Upstream
from shipyard.targets.local.revisions import Container, Containers
from shipyard.ui import console
from shipyard.version import Version

RESTARTED = "restarted a kept container"
RESUMED = "resumed the paused standby"


@dataclass(frozen=True)
class Plan:
    service: Service
    version: Version
    image: str
    digest: str
    name: str
    labels: dict[str, str]
    env: dict[str, str]


@dataclass(frozen=True)
class Started:
    plan: Plan
    upstream: Upstream
    action: str


class Rollout:
    """Starts and checks the new revisions of one deploy, in parallel, one thread each."""

    def __init__(self, containers: Containers, runner: Runner, health_timeout: int) -> None:
        self.containers = containers
        self.runner = runner
        self.health_timeout = health_timeout

    def start_all(self, plans: Sequence[Plan], found: Mapping[str, Container]) -> list[Started]:
        """Every plan's revision up and checked, or DeployError with none of them left running.
        `found`: this environment's containers by name (a kept one is resumed or restarted,
        not re-run)."""
        with ThreadPoolExecutor(max_workers=len(plans)) as pool:
            futures = [pool.submit(self._start, p, found.get(p.name)) for p in plans]
        started: list[Started] = []
        failures: list[Exception] = []
        for future in futures:
            try:
                started.append(future.result())
            except Exception as exc:  # every new revision is cleaned up before raising
                failures.append(exc)
        if failures:
            self.abandon(plans, started)
            raise failures[0]
        return started

    def _start(self, plan: Plan, existing: Container | None) -> Started:
        name, began = plan.service.name, time.monotonic()
        try:
            if existing is None:
                self.containers.create(plan.name, plan.image, plan.service.port, plan.labels,
                                       plan.env)
                action = "started a new container"
            elif existing.paused:
                self.containers.unpause([plan.name])
                action = RESUMED
            elif not existing.running:
                self.containers.start([plan.name])
                action = RESTARTED
            else:
                action = "adopted a running container"
            if self.runner.dry_run:
                return Started(plan, Upstream(plan.name, 0), action)
            # A started container gets a new host port; a resumed or running one keeps the
            # one it was listed with.
            known = None if existing is None or action == RESTARTED else existing.host_port(
                plan.service.port)
            port = known or self.containers.port(plan.name, plan.service.port)
        except CommandError as exc:
            exited = self._exited(plan.name)
            if exited is not None:  # `docker port` fails on a container that already exited
                self._refuse(plan, f"exited at once (exit code {exited})")
            raise DeployError(f"{name}: {exc.message}", service=name, logs=exc.stderr_tail,
                              hint=exc.hint) from None
        problem = self._check(plan, port)
        if problem:
            self._refuse(plan, problem)
        console.note(f"{name}: {action} {plan.name}, healthy in "
                     f"{time.monotonic() - began:.1f}s")
        return Started(plan, Upstream(plan.name, port), action)

    def _check(self, plan: Plan, port: int) -> str | None:
        service, timeout = plan.service, self.health_timeout
        problem = wait_for_200(port, service.health_path, timeout, lambda: self._alive(plan.name))
        if problem:
            return f"failed its health check {service.health_path} within {timeout}s ({problem})"
        try:
            status, body = http_get(port, service.version_path)
        except OSError as exc:
            return f"did not answer {service.version_path}: {exc}"
        if status != 200 or body.strip() != str(plan.version):
            answer = self.runner.redactor(body.strip())[:40]
            return f"answered {service.version_path} with {status} {answer!r}, not {plan.version}"
        return None

    def _refuse(self, plan: Plan, problem: str) -> NoReturn:
        """DeployError for a new revision that will not serve, with its own log tail."""
        raise DeployError(f"{plan.service.name}: new revision {plan.name} {problem}",
                          service=plan.service.name, logs=self.containers.logs(plan.name),
                          hint="traffic was not switched; the serving revisions are "
                               "untouched. Fix the image and release a new version")

    def _exited(self, name: str) -> int | None:
        """The exit code of a revision container that has stopped, None while it runs."""
        found = self.containers.get(name)
        return None if found is None or found.running else found.exit_code

    def _alive(self, name: str) -> bool:
        found = self.containers.get(name)
        return found is not None and found.running

    def abandon(self, plans: Sequence[Plan], started: Sequence[Started]) -> None:
        """A deploy that will not switch: kept revisions go back to rest as they were (the
        standby paused again, a restarted one stopped), new ones are removed."""
        resumed = [s.plan.name for s in started if s.action == RESUMED]
        restarted = [s.plan.name for s in started if s.action == RESTARTED]
        self.containers.pause(resumed)
        self.containers.stop(restarted)
        kept = {*resumed, *restarted}
        self.containers.remove([p.name for p in plans if p.name not in kept], force=True)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a probe never follows a redirect away from 127.0.0.1


# No proxy handler: an http_proxy setting must never carry a probe off the machine.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, str]:
    """(status, body) of GET http://127.0.0.1:PORT/PATH; OSError when nothing answers."""
    try:
        with _OPENER.open(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
            return int(response.status), response.read(4096).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except http.client.HTTPException as exc:
        raise OSError(f"bad HTTP answer: {type(exc).__name__}") from None


def wait_for_200(port: int, path: str, timeout: float, alive: Callable[[], bool]) -> str | None:
    """None once PATH answers 200; else what went wrong last (checks `alive` each second)."""
    deadline = time.monotonic() + timeout
    last, checked = "no answer", time.monotonic()
    while time.monotonic() < deadline:
        try:
            status, _ = http_get(port, path)
            if status == 200:
                return None
            last = f"HTTP {status}"
        except OSError as exc:
            last = str(getattr(exc, "reason", exc))
        if time.monotonic() - checked >= 1.0:
            if not alive():
                return "the container exited"
            checked = time.monotonic()
        time.sleep(0.05)
    return f"last answer: {last}"
