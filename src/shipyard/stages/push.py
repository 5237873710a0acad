"""Fase 1: push each service's image and record the digest the registry reports.

What is pushed is the image this release's build recorded (its id), never whatever the version
tag points at now: the tag is pointed at that id first, and the registry's answer is checked to
hold that very image afterwards. A version tag already in the registry with another image is
refused, never overwritten; the same image is skipped, so a rerun pushes only what is missing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from shipyard import ui
from shipyard.build import images
from shipyard.commands import docker as dockercmd
from shipyard.config import Service
from shipyard.errors import ShipyardError
from shipyard.exec import engine
from shipyard.pipeline.context import RunContext
from shipyard.stages.fanout import default_jobs, fan_out
from shipyard.ui import console

PUSH_RETRIES = 3


@dataclass(frozen=True)
class PushedImage:
    service: str
    image: str
    digest: str
    seconds: float
    action: str  # pushed | skipped | planned


class Pusher:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.env, self.runner, self.version = ctx.env, ctx.runner, ctx.release
        self.docker = ctx.docker
        self.registry = ctx.registry
        # A dry run plans against an empty registry when none answers: it starts nothing.
        self.registry_up = not ctx.dry_run or self.registry.ping()
        if not self.registry_up:
            console.note(f"[dry-run] {ctx.env.registry} does not answer: planning every push")
        # One inspect for every image; a missing one only fails its own service's push.
        refs = [self.built_id(s) or images.image_ref(ctx.env, s, self.version)
                for s in ctx.services]
        found = engine.inspect(self.docker, self.runner, refs)
        self._local = {str(d["Id"]): dict(d) for d in found}
        self._local.update({tag: dict(d) for d in found for tag in d.get("RepoTags") or ()})

    def built_id(self, service: Service) -> str:
        return str(self.ctx.record.images.get(service.name, {}).get("image_id") or "")

    def local_id(self, service: Service, ref: str) -> str | None:
        """This release's image id: the one its build recorded, else what the tag holds."""
        found = self._local.get(self.built_id(service) or ref)
        return str(found["Id"]) if found else None

    def push(self, service: Service, progress: ui.ServiceProgress) -> PushedImage:
        started = time.monotonic()
        ref = images.image_ref(self.env, service, self.version)
        image_id = self.local_id(service, ref)
        if image_id is None:
            if self.runner.dry_run:  # its build is only planned too
                self.runner.run(dockercmd.push(self.docker.path, ref))
                progress.done(service.name, "planned")
                return PushedImage(service.name, ref, "", 0.0, "planned")
            raise ShipyardError(f"{ref} is not built here", hint=f"invoke build --version "
                                f"{self.version} --env {self.env.name}")
        present = self.registry.digest(service.name, str(self.version)) \
            if self.registry_up else None
        if present is not None:
            if self.registry.config_digest(service.name, present) != image_id:
                raise ShipyardError(
                    f"{ref} is already in the registry as {present}, "
                    "and this release's image is different",
                    hint="a released version is never overwritten: release a new version",
                )
            progress.done(service.name, "already in the registry")
            return PushedImage(service.name, ref, present, time.monotonic() - started, "skipped")
        progress.say(service.name, "pushing")
        # Point the tag at this release's image: another checkout may have built it since.
        if str(self._local.get(ref, {}).get("Id")) != image_id:
            self.runner.run(dockercmd.tag(self.docker.path, image_id, ref))
        self.runner.run(
            dockercmd.push(self.docker.path, ref), retries=PUSH_RETRIES, timeout=1800,
            env=None if self.runner.dry_run else self.registry.docker_env(),
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
        if self.registry.config_digest(service.name, digest) != image_id:
            raise ShipyardError(f"the registry holds another image as {ref} than this "
                                f"release built ({image_id[:19]}): the tag was moved during "
                                "the push", hint="another build of this version ran at the "
                                "same time; release a new version")
        seconds = time.monotonic() - started
        progress.done(service.name, f"pushed in {seconds:.1f}s")
        return PushedImage(service.name, ref, digest, seconds, "pushed")


def push_images(ctx: RunContext) -> list[PushedImage]:
    ctx.target.up(serving=False)  # the registry (local: started on demand; never in a dry run)
    env, record, services = ctx.env, ctx.record, ctx.services
    pusher = Pusher(ctx)
    workers = 1 if ctx.dry_run else (ctx.jobs or default_jobs(len(services)))
    with record.stage("push"), ui.progress("push", [s.name for s in services]) as tracker:

        def remember(pushed: PushedImage) -> None:
            if pushed.digest:
                record.set_image(pushed.service, image=pushed.image, digest=pushed.digest,
                                 pinned=f"{images.repository(env, pushed.service)}@{pushed.digest}")

        done = fan_out(lambda s: pusher.push(s, tracker), services, [s.name for s in services],
                       workers, remember)
    ui.table(f"push {ctx.release} to {env.registry}", ("service", "digest", "duration", "result"),
             [(p.service, p.digest[:19] or "-", f"{p.seconds:.1f}s", p.action) for p in done])
    return done
