"""Fase 1: build one image per service, in parallel, reusing any image whose inputs match."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from shipyard import ui
from shipyard.build import images, inputs
from shipyard.build.provenance import read_provenance
from shipyard.commands import docker as dockercmd
from shipyard.config import Service
from shipyard.errors import ShipyardError
from shipyard.exec import engine
from shipyard.exec.tools import DockerClient
from shipyard.pipeline.context import RunContext
from shipyard.stages.fanout import default_jobs, fan_out
from shipyard.state.records import releases_dir
from shipyard.version import Version, is_version_tag

# Newest release tags whose labels are compared for reuse (after the ones the local release
# records point at): an unchanged service nearly always matches a recent release.
REGISTRY_TAGS_CHECKED = 3


@dataclass(frozen=True)
class BuiltImage:
    service: str
    image: str
    image_id: str
    inputs: str
    size: int
    seconds: float
    action: str  # built | reused | planned


@dataclass(frozen=True)
class BuildPlan:
    service: Service
    image: str
    args: dict[str, str]
    inputs: str
    labels: dict[str, str]


@dataclass(frozen=True)
class LocalImage:
    id: str
    size: int
    tags: tuple[str, ...]
    labels: dict[str, str]


class Builder:
    def __init__(self, ctx: RunContext) -> None:
        config, runner = ctx.config, ctx.runner
        self.config, self.env, self.runner, self.version = config, ctx.env, runner, ctx.release
        self.docker: DockerClient = ctx.docker
        self._tags: dict[str, list[str]] = {}

        def registry_up() -> bool:  # the registry client is made here too (target imports)
            return ctx.registry.ping()

        # Side by side (each only reads): the contexts' tracked-files check, the registry, the
        # commit facts (two git commands), and one look at the engine for all services.
        with ThreadPoolExecutor(max_workers=4) as pool:
            tracked = pool.submit(inputs.require_tracked_contexts, ctx.services, config.root,
                                  runner)  # rebuildable from the tag
            up = pool.submit(registry_up)
            provenance = pool.submit(read_provenance, config.root, config.project.remote,
                                     runner)
            local = pool.submit(self._local_images)
            tracked.result()
            self._registry_up, self.provenance, self.local = (up.result(), provenance.result(),
                                                              local.result())
        self.registry = ctx.registry

    def _local_images(self) -> list[LocalImage]:
        found = engine.with_label(self.docker, self.runner, images.PROJECT_LABEL,
                                  self.config.project.name)
        return [LocalImage(str(d["Id"]), int(d.get("Size") or 0), tuple(d.get("RepoTags") or ()),
                           dict((d.get("Config") or {}).get("Labels") or {}))
                for d in found]

    def plan(self, service: Service) -> BuildPlan:
        args = inputs.build_args(service, str(self.version))
        digest = inputs.input_digest(service, args)
        labels = images.labels(
            project=self.config.project.name, service=service.name, version=self.version,
            revision=self.provenance.revision, source=self.provenance.source,
            commit_time=self.provenance.commit_time,
            inputs=digest,
        )
        return BuildPlan(service, images.image_ref(self.env, service, self.version), args,
                         digest, labels)

    def run(self, plan: BuildPlan, progress: ui.ServiceProgress) -> BuiltImage:
        started = time.monotonic()
        name = plan.service.name
        progress.say(name, "looking for an image with the same inputs")
        match = self._local_match(plan)
        current = next((i for i in self.local if plan.image in i.tags), None)
        if match is not None:
            if current is None or current.id != match.id:
                self.runner.run(dockercmd.tag(self.docker.path, match.id, plan.image))
            image_id, size, action = match.id, match.size, "reused"
        else:
            if (pulled := self._registry_match(plan, progress)) is not None:
                if pulled != plan.image:
                    self.runner.run(dockercmd.tag(self.docker.path, pulled, plan.image))
                image_id, size, action = *self._inspect(plan.image), "reused"
            else:
                progress.say(name, f"building ({self.docker.builder})")
                # The size is read for all built images at once, after the builds.
                image_id, size = self._build(plan, progress), 0
                action = "planned" if self.runner.dry_run else "built"
        seconds = time.monotonic() - started
        progress.done(name, f"{action} in {seconds:.1f}s")
        return BuiltImage(name, plan.image, image_id, plan.inputs, size, seconds, action)

    def _local_match(self, plan: BuildPlan) -> LocalImage | None:
        for image in self.local:
            labels = image.labels
            if labels.get(images.INPUTS_LABEL) == plan.inputs and \
                    labels.get(images.SERVICE_LABEL) == plan.service.name:
                return image
        return None

    def _recorded_tags(self, plan: BuildPlan) -> list[str]:
        """Versions whose release record says this service was built from the same inputs."""
        folder = releases_dir(self.config.root, self.env.name)
        found = []
        for path in folder.glob("v*.json") if folder.is_dir() else []:
            try:
                entry = json.loads(path.read_text()).get("images", {}).get(plan.service.name, {})
            except (OSError, ValueError, AttributeError):
                continue  # a damaged record only costs a registry look-up
            if isinstance(entry, dict) and entry.get("inputs") == plan.inputs:
                found.append(path.name.removesuffix(".json"))
        return [t for t in found if is_version_tag(t)]

    def _registry_match(self, plan: BuildPlan, progress: ui.ServiceProgress) -> str | None:
        if not self._registry_up:
            return None
        candidates = list(dict.fromkeys(self._recorded_tags(plan) +
                                        self._release_tags(plan.service)))
        if not candidates:
            return None
        # Each tag's labels are two round trips: all asked at once, then read in order (the
        # first match wins; a failure of a later look-up does not count once one matched).
        with ThreadPoolExecutor(max_workers=len(candidates)) as pool:
            asked = [pool.submit(self.registry.labels, plan.service.name, tag)
                     for tag in candidates]
            match = next((tag for tag, labels in zip(candidates, asked, strict=True)
                          if labels.result().get(images.INPUTS_LABEL) == plan.inputs), None)
        if match is None:
            return None
        ref = images.image_ref(self.env, plan.service, match)
        progress.say(plan.service.name, f"pulling {ref} (same inputs)")
        self.runner.run(dockercmd.pull(self.docker.path, ref), retries=2,
                        env=None if self.runner.dry_run else self.registry.docker_env())
        return ref

    def _release_tags(self, service: Service) -> list[str]:
        if not self._registry_up:
            return []
        if service.name not in self._tags:
            listed = self.registry.tags(service.name)
            tags = sorted((Version.parse(t) for t in listed if is_version_tag(t)), reverse=True)
            self._tags[service.name] = [str(t) for t in tags[:REGISTRY_TAGS_CHECKED]]
        return self._tags[service.name]

    def _cache_from(self, service: Service) -> list[str]:
        older = [t for t in self._release_tags(service) if Version.parse(t) < self.version]
        if not older or not self.docker.buildkit:
            return []
        return [images.image_ref(self.env, service, older[0])]

    def _build(self, plan: BuildPlan, progress: ui.ServiceProgress) -> str:
        """Build; the image id (empty in a dry run)."""
        cache = self._cache_from(plan.service)
        # --cache-from reads the registry: then docker needs its credentials too.
        login = self.registry.docker_env() if cache and not self.runner.dry_run else {}
        with tempfile.TemporaryDirectory(prefix="shipyard-build-") as tmp:
            argv = dockercmd.build(
                self.docker.path, image=plan.image, context=plan.service.context,
                dockerfile=plan.service.dockerfile, labels=plan.labels, build_args=plan.args,
                cache_from=cache, iidfile=Path(tmp) / "iid", buildkit=self.docker.buildkit,
            )
            self.runner.run(
                argv, timeout=1800, env={**self.docker.build_env, **login},
                on_line=lambda line: progress.update(plan.service.name, line),
                hint=f"fix the build of {plan.service.name} (its output is above), then rerun",
            )
            iid = Path(tmp) / "iid"
            return iid.read_text().strip() if iid.exists() else ""

    def sizes(self, refs: Sequence[str]) -> dict[str, int]:
        if not refs or self.runner.dry_run:
            return {}
        return {tag: int(d.get("Size") or 0) for d in engine.inspect(self.docker, self.runner, refs)
                for tag in d.get("RepoTags") or ()}

    def _inspect(self, image: str) -> tuple[str, int]:
        if self.runner.dry_run:
            return "", 0
        found = engine.inspect(self.docker, self.runner, [image])
        if not found:
            raise ShipyardError(f"{image} is not in the local engine after the pull",
                                hint="check the Docker engine, then rerun")
        return str(found[0]["Id"]), int(found[0].get("Size") or 0)


def build_images(ctx: RunContext) -> list[BuiltImage]:
    """Every service's image, built or reused, its id recorded: the stages after build address
    the image by that id, never by the version tag another checkout could move."""
    runner, version, services, record, jobs = (ctx.runner, ctx.release, ctx.services,
                                                ctx.record, ctx.jobs)
    builder = Builder(ctx)
    plans = [builder.plan(service) for service in services]
    # Dry-run output stays in order: one service at a time.
    workers = 1 if runner.dry_run else (jobs or default_jobs(len(plans)))
    with record.stage("build") as stage, \
            ui.progress("build", [p.service.name for p in plans]) as tracker:
        stage.update(builder=builder.docker.builder, jobs=workers)

        def remember(built: BuiltImage) -> None:
            record.set_image(built.service, image=built.image, inputs=built.inputs,
                             image_id=built.image_id, build=built.action)

        results = fan_out(lambda plan: builder.run(plan, tracker), plans,
                          [p.service.name for p in plans], workers, remember)
        sizes = builder.sizes([r.image for r in results if r.action == "built"])
        results = [replace(r, size=sizes.get(r.image, r.size)) for r in results]
    ui.table(f"build {version} ({builder.docker.builder}, {workers} job(s))",
             ("service", "image", "size", "duration", "result"),
             [(r.service, r.image, ui.human_size(r.size) if r.size else "-",
               f"{r.seconds:.1f}s", r.action) for r in results])
    return results
