"""Fase 4/5: put a pushed release in service, verify it, and roll back when it fails."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shipyard import ui
from shipyard.config import Config, Environment
from shipyard.errors import ShipyardError
from shipyard.registries.client import Registry
from shipyard.state import audit
from shipyard.state.records import ReleaseRecord, now, releases_dir
from shipyard.targets.base import Deployer, DeployError, Revision
from shipyard.ui import console
from shipyard.version import Version, is_version_tag

Secrets = Mapping[str, Mapping[str, str]]
# A dry run has not pushed yet: its plan shows this all-zero digest where the pushed one goes.
PLANNED_DIGEST = "sha256:" + "0" * 64


@dataclass(frozen=True)
class Deployment:
    config: Config
    env: Environment
    target: Deployer
    secrets: Secrets
    dry_run: bool = False

    def pinned_images(self, record: ReleaseRecord) -> dict[str, str]:
        """service → REPOSITORY@sha256:..., from the release record written by push."""
        images: dict[str, str] = {}
        for service in self.config.services:
            entry = record.images.get(service.name, {})
            pinned = entry.get("pinned")
            if not pinned:
                if self.dry_run:
                    images[service.name] = f"{self.env.registry}/{service.name}@{PLANNED_DIGEST}"
                    console.note(f"[dry-run] {service.name}: the digest is known after push; "
                                 f"the plan shows {PLANNED_DIGEST[:15]}…")
                    continue
                version = record.data.get("version")
                raise ShipyardError(
                    f"{version} has no pushed image for {service.name}",
                    hint=f"invoke push --version {version} --env {self.env.name}")
            images[service.name] = str(pinned)
        return images

    def roll_out(self, version: Version, record: ReleaseRecord, action: str) -> list[Revision]:
        """Deploy + verify; on failure put the previous good release back, then raise."""
        root, env = self.config.root, self.env.name
        before = audit.serving(root, env)
        images = self.pinned_images(record)
        try:
            with record.stage("deploy"):
                revisions = self.target.deploy(version, images, self.secrets)
            with record.stage("verify"):
                if not self.dry_run:
                    self.target.verify(version)
        except DeployError as failure:
            self._recover(version, record, before, failure, action)
            raise  # _recover always raises; this keeps type checkers sure of it
        if not self.dry_run:
            if action == "release":
                record.data["status"] = "released"
            record.data.update(verified=True, last_action=action, last_deployed=now(),
                               revisions=[r.to_json() for r in revisions])
            record.save()
            audit.record_deploy(root, env, str(version), action, True, replaced=before)
        show_revisions(f"{action} {version} → {env}", revisions)
        return revisions

    def _recover(self, version: Version, record: ReleaseRecord, before: str | None,
                 failure: DeployError, action: str) -> None:
        if failure.logs:
            console.error(f"{failure.service} failed; its last log lines:", detail=failure.logs)
        record.data.update(status="failed", verified=False)
        record.save()
        serving = self.target.current()
        still = {r.version for r in serving.values()}
        if before and still != {before} and not self.dry_run:
            console.note(f"rolling back to {before}, the last good release")
            previous = ReleaseRecord.open(self.config.root, Version.parse(before), self.env.name)
            self.target.deploy(Version.parse(before), self.pinned_images(previous), self.secrets)
            self.target.verify(Version.parse(before))
            audit.record_deploy(self.config.root, self.env.name, before, "auto-rollback", True,
                                replaced=str(version))
        kept = f"{before} keeps serving" if before else "nothing was serving before"
        raise ShipyardError(f"{action} {version} failed: {failure.message}; rolled back: {kept}",
                            hint=failure.hint or f"fix {failure.service}, then release a new "
                                                 "version")


def show_revisions(title: str, revisions: Sequence[Revision]) -> None:
    ui.table(title, ("service", "version", "digest", "revision", "url"),
             [(r.service, r.version, r.digest[:19], r.name, r.url) for r in revisions])


def rollback_candidates(config: Config, env: Environment, exclude: str | None
                        ) -> list[str]:
    """Recorded, verified releases whose images are all still in the registry."""
    registry = Registry(env.registry)
    found = []
    folder = releases_dir(config.root, env.name)
    for path in sorted(folder.glob("v*.json")) if folder.exists() else []:
        name = path.name[:-len(".json")]
        if not is_version_tag(name) or name == exclude:
            continue
        record = ReleaseRecord.open(config.root, Version.parse(name), env.name)
        if record.data.get("verified") and images_present(registry, record, config):
            found.append(name)
    return sorted(found, key=Version.parse, reverse=True)


def images_present(registry: Registry, record: ReleaseRecord, config: Config) -> bool:
    for service in config.services:
        digest = record.images.get(service.name, {}).get("digest")
        if not digest or registry.digest(service.name, digest) is None:
            return False
    return True
