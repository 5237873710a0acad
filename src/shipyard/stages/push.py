"""Fase 1: push each service's image and record the digest the registry reports.

A version tag already in the registry with another digest is refused, never overwritten;
the same digest is skipped, so a rerun after a failure pushes only what is missing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from shipyard import ui
from shipyard.build import images
from shipyard.commands import docker as dockercmd
from shipyard.config import Environment, Service
from shipyard.errors import ShipyardError
from shipyard.exec.runner import Runner
from shipyard.exec.tools import DockerClient, docker_client
from shipyard.registries.client import Registry
from shipyard.stages.fanout import default_jobs, fan_out
from shipyard.state.records import ReleaseRecord
from shipyard.version import Version

PUSH_RETRIES = 3


@dataclass(frozen=True)
class PushedImage:
    service: str
    image: str
    digest: str
    seconds: float
    action: str  # pushed | skipped | planned


class Pusher:
    def __init__(self, env: Environment, runner: Runner, version: Version,
                 services: Sequence[Service]) -> None:
        self.env, self.runner, self.version = env, runner, version
        self.docker: DockerClient = docker_client(runner)
        self.registry = Registry(env.registry)
        # One inspect for every image; a missing one only fails its own service's push.
        refs = [images.image_ref(env, s, version) for s in services]
        out = runner.run(dockercmd.inspect_images(self.docker.path, refs), mutates=False,
                         check=False).stdout
        found = json.loads(out or "[]")
        self._local = {tag: dict(d) for d in found for tag in d.get("RepoTags") or ()}

    def local_image(self, ref: str) -> dict[str, object]:
        if ref not in self._local:
            raise ShipyardError(f"{ref} is not built here",
                                hint=f"invoke build --version {self.version} --env {self.env.name}")
        return self._local[ref]

    def push(self, service: Service, progress: ui.ServiceProgress) -> PushedImage:
        started = time.monotonic()
        ref = images.image_ref(self.env, service, self.version)
        if self.runner.dry_run and ref not in self._local:  # its build is only planned too
            self.runner.run(dockercmd.push(self.docker.path, ref))
            progress.done(service.name, "planned")
            return PushedImage(service.name, ref, "", 0.0, "planned")
        local = self.local_image(ref)
        present = self.registry.digest(service.name, str(self.version))
        if present is not None:
            pinned = f"{images.repository(self.env, service)}@{present}"
            if pinned not in list(local.get("RepoDigests") or []):  # type: ignore[call-overload]
                raise ShipyardError(
                    f"{ref} is already in the registry as {present}, "
                    "and the local image is different",
                    hint="a released version is never overwritten: release a new version",
                )
            progress.done(service.name, "already in the registry")
            return PushedImage(service.name, ref, present, time.monotonic() - started, "skipped")
        progress.say(service.name, "pushing")
        self.runner.run(
            dockercmd.push(self.docker.path, ref), retries=PUSH_RETRIES, timeout=1800,
            on_line=lambda line: progress.update(service.name, line),
            hint="check the registry, then rerun: images already pushed are skipped",
        )
        if self.runner.dry_run:
            progress.done(service.name, "planned")
            return PushedImage(service.name, ref, "", 0.0, "planned")
        digest = self.registry.digest(service.name, str(self.version))
        if digest is None:
            raise ShipyardError(f"the registry does not list {ref} after the push",
                                hint="check the registry's storage and logs")
        seconds = time.monotonic() - started
        progress.done(service.name, f"pushed in {seconds:.1f}s")
        return PushedImage(service.name, ref, digest, seconds, "pushed")


def push_images(env: Environment, runner: Runner, version: Version,
                services: Sequence[Service], record: ReleaseRecord,
                jobs: int | None = None) -> list[PushedImage]:
    pusher = Pusher(env, runner, version, services)
    workers = 1 if runner.dry_run else (jobs or default_jobs(len(services)))
    with record.stage("push"), ui.progress("push", [s.name for s in services]) as tracker:

        def remember(pushed: PushedImage) -> None:
            if pushed.digest:
                record.set_image(pushed.service, image=pushed.image, digest=pushed.digest,
                                 pinned=f"{images.repository(env, pushed.service)}@{pushed.digest}")

        done = fan_out(lambda s: pusher.push(s, tracker), services, [s.name for s in services],
                       workers, remember)
    ui.table(f"push {version} to {env.registry}", ("service", "digest", "duration", "result"),
             [(p.service, p.digest[:19] or "-", f"{p.seconds:.1f}s", p.action) for p in done])
    return done
