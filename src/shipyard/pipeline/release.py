"""The pipeline: preflight → tag → build → scan → push → deploy → verify (→ rollback) → record.

Every stage checks reality first and skips what is done, so rerunning a release after a
failure or a kill resumes it: no duplicate tag, no rebuild, no second push.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shipyard.build.gitrepo import GitRepo
from shipyard.config import Config, Environment
from shipyard.errors import ShipyardError, UsageError
from shipyard.exec.runner import Runner
from shipyard.pipeline.preflight import preflight
from shipyard.secrets import SecretSource, secret_source
from shipyard.stages.build import build_images
from shipyard.stages.deploy import Deployment, rollback_candidates
from shipyard.stages.push import push_images
from shipyard.stages.scan import scan_images, settings_for
from shipyard.stages.tag import tag_release
from shipyard.state import audit
from shipyard.state.lock import LockHeld, env_lock
from shipyard.state.records import ReleaseRecord
from shipyard.targets.base import Deployer
from shipyard.targets.local import LocalTarget
from shipyard.ui import console
from shipyard.version import Version


def make_target(config: Config, env: Environment, runner: Runner) -> Deployer:
    if env.target == "local":
        return LocalTarget(config, env, runner)
    raise UsageError(f"deploying to target {env.target!r} ({env.name}) is not available yet",
                     hint="use the local environment; Cloud Run and GKE deploys are planned")


@dataclass
class Session:
    """What every deploying command needs, checked before anything changes."""

    config: Config
    env: Environment
    runner: Runner
    secrets: SecretSource

    @classmethod
    def open(cls, config: Config, env: Environment, runner: Runner) -> Session:
        make_target(config, env, runner)  # refuses an unsupported target before anything runs
        return cls(config, env, runner, secret_source(config, env, runner))

    def deployment(self) -> Deployment:
        values = self.secrets.values()
        return Deployment(self.config, self.env, make_target(self.config, self.env, self.runner),
                          values, self.runner.dry_run)


def release(session: Session, version: Version, *, break_lock: bool = False) -> None:
    config, env, runner = session.config, session.env, session.runner
    services = config.services
    preflight(config, env, runner, version, services, session.secrets.missing)

    def stages(deployment: Deployment) -> None:
        record = ReleaseRecord.open(config.root, version, env.name, runner.dry_run)
        record.data["commit"] = GitRepo.open(config.root).head
        with record.stage("tag"):
            tag_release(config, runner, version)
        build_images(config, env, runner, version, services, record)
        scan_images(config, env, runner, version, services, record,
                    settings_for(env, None, False))
        push_images(env, runner, version, services, record)
        deployment.roll_out(version, record, "release")

    _locked(session, "release", version, break_lock, stages)
    console.note(f"released {version} to {env.name}" if not runner.dry_run
                 else f"[dry-run] that is the complete plan for {version} → {env.name}")


def deploy(session: Session, version: Version, *, break_lock: bool = False) -> None:
    config, env, runner = session.config, session.env, session.runner
    record = ReleaseRecord.open(config.root, version, env.name, runner.dry_run)
    if not record.path.exists() and not runner.dry_run:
        raise ShipyardError(f"no release record for {version} in {env.name}",
                            hint=f"invoke push --version {version} --env {env.name} first")
    _require_secrets(session)
    _locked(session, "deploy", version, break_lock,
            lambda d: d.roll_out(version, record, "deploy"))


def _require_secrets(session: Session) -> None:
    """Missing secrets are bad input: refused before the lock is taken or anything is logged."""
    missing = session.secrets.missing()
    if any(missing.values()):
        raise UsageError("missing secrets: " + "; ".join(
            f"{svc}: {', '.join(n)}" for svc, n in missing.items() if n),
            hint="add them to the environment's secrets source (see docs/local-environment.md)")


def rollback(session: Session, to: Version | None, *, break_lock: bool = False) -> None:
    config, env = session.config, session.env
    current = audit.serving(config.root, env.name)
    if to is None:
        previous = audit.previous_good(config.root, env.name)
        if previous is None:
            raise ShipyardError(f"no earlier good release to roll back to in {env.name}"
                                f" (serving: {current or 'nothing'})",
                                hint="pass --to VERSION to pick one explicitly")
        to = Version.parse(previous)
    candidates = rollback_candidates(config, env, exclude=current)
    if str(to) not in candidates:
        raise ShipyardError(
            f"cannot roll back to {to}: no verified release of it with images in the registry",
            hint=f"candidates: {', '.join(candidates) or 'none'}")
    record = ReleaseRecord.open(config.root, to, env.name, session.runner.dry_run)
    _require_secrets(session)
    target = to
    _locked(session, "rollback", target, break_lock,
            lambda d: d.roll_out(target, record, "rollback"))


def _locked(session: Session, action: str, version: Version, break_lock: bool,
            work: Callable[[Deployment], object]) -> None:
    config, env, runner = session.config, session.env, session.runner
    result = "failed"
    try:
        with env_lock(config.root, env.name, action, str(version), break_lock=break_lock,
                      dry_run=runner.dry_run):
            deployment = session.deployment()
            deployment.target.up()
            work(deployment)
            result = "ok"
    except LockHeld:
        result = "refused"
        raise
    finally:
        if not runner.dry_run:
            audit.audit(config.root, action=action, version=str(version), env=env.name,
                        result=result)
