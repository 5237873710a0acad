"""Fase 4/5: put a pushed release in service, verify it, and roll back when it fails.

Target-agnostic: the plan (pinned images + secret bindings) goes to `ctx.target`, which
deploys it, or moves traffic back to revisions it still has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shipyard.errors import ShipyardError
from shipyard.pipeline.context import RunContext
from shipyard.state import audit
from shipyard.state import flags as flag_state
from shipyard.state.records import ReleaseRecord, now, releases_dir
from shipyard.targets.base import DeployError, DeployPlan, Revision, SecretBinding, ServicePlan
from shipyard.ui import console, table
from shipyard.version import Version, is_version_tag

# A dry run has not pushed yet: its plan shows this all-zero digest where the pushed one goes.
PLANNED_DIGEST = "sha256:" + "0" * 64


def pinned_images(ctx: RunContext, record: ReleaseRecord) -> dict[str, str]:
    """service → REPOSITORY@sha256:..., from the release record written by push."""
    images: dict[str, str] = {}
    version = record.data.get("version")
    for service in ctx.services:
        pinned = record.images.get(service.name, {}).get("pinned")
        if pinned:
            images[service.name] = str(pinned)
        elif ctx.dry_run:
            images[service.name] = f"{ctx.env.registry}/{service.name}@{PLANNED_DIGEST}"
            console.note(f"[dry-run] {service.name}: the digest is known after push; "
                         f"the plan shows {PLANNED_DIGEST[:15]}…")
        else:
            raise ShipyardError(f"{version} has no pushed image for {service.name}",
                                hint=f"invoke push --version {version} --env {ctx.env.name}")
    return images


def deploy_plan(ctx: RunContext, version: Version, record: ReleaseRecord,
                recorded_secrets: bool = False, flags: Mapping[str, str] | None = None
                ) -> DeployPlan:
    """The release's pinned images and secret bindings. With `recorded_secrets` (a rollback)
    the bindings the release ran with, as its record keeps them; else pinned now. The env the
    feature flags set: `flags`' states, else the states serving now."""
    images = pinned_images(ctx, record)
    kept = record.data.get("secrets") if recorded_secrets else None
    if isinstance(kept, dict):
        bindings = {svc: tuple(SecretBinding(**b) for b in kept.get(svc, []))
                    for svc in images}
    else:
        bindings = ctx.secrets.bindings()
    env = flag_state.env_overrides(ctx.config.flags, serving_flags(ctx) if flags is None
                                   else flags)
    return DeployPlan(version, tuple(ServicePlan(name, image, bindings.get(name, ()),
                                                 env.get(name, {}))
                                     for name, image in images.items()))


def serving_flags(ctx: RunContext) -> dict[str, str]:
    """Every configured flag's state as it serves now (a default where none was set)."""
    return flag_state.effective(ctx.config.flags,
                                flag_state.read_state(ctx.config.root, ctx.env.name).flags)


def recorded_flags(ctx: RunContext, record: ReleaseRecord) -> dict[str, str]:
    """The flags a release last ran with (a record from before flags: the defaults)."""
    kept = record.data.get("flags")
    return flag_state.effective(ctx.config.flags, kept if isinstance(kept, dict) else {})


def roll_out(ctx: RunContext, version: Version, record: ReleaseRecord, action: str,
             flags: Mapping[str, str] | None = None) -> list[Revision]:
    """Deploy + verify; on failure put the previous good release back, then raise. The flags
    keep the states serving now, unless `flags` says which (`--reset-flags`: the defaults)."""
    root, env = ctx.config.root, ctx.env.name
    before = audit.serving(root, env)
    rollback = action == "rollback"
    states = serving_flags(ctx) if flags is None else dict(flags)
    plan = deploy_plan(ctx, version, record, recorded_secrets=rollback, flags=states)
    # A release's kept revisions run the flags it last ran with: reused only when those match.
    reuse = record if rollback and recorded_flags(ctx, record) == states else None
    try:
        with record.stage("deploy"):
            revisions = _put_in_service(ctx, plan, reuse)
        with record.stage("verify"):
            if not ctx.dry_run:
                ctx.target.verify(plan)
    except DeployError as failure:
        _recover(ctx, version, record, before, failure, action)
        raise  # _recover always raises; this keeps type checkers sure of it
    if not ctx.dry_run:
        # Only a verified deploy says "released", so a record never reads failed + verified.
        record.data.update(status="released", verified=True, last_action=action,
                           last_deployed=now(), revisions=[r.to_json() for r in revisions],
                           secrets={s.service: [b.to_json() for b in s.secrets]
                                    for s in plan.services}, flags=states)
        record.save()
        if states or flag_state.flags_path(root, env).exists():
            flag_state.commit(root, env, states)
        audit.record_deploy(root, env, str(version), action, True, replaced=before,
                            flags=states)
    show_revisions(f"{action} {version} → {env}", revisions)
    return revisions


def _put_in_service(ctx: RunContext, plan: DeployPlan, record: ReleaseRecord | None
                    ) -> list[Revision]:
    """A rollback first asks the target to move traffic to revisions it still has."""
    if record is not None:
        recorded = {r.service: r for r in map(Revision.from_json,
                                               record.data.get("revisions") or [])}
        moved = ctx.target.shift_traffic(plan, recorded)
        if moved is not None:
            return moved
    return ctx.target.deploy(plan)


def _recover(ctx: RunContext, version: Version, record: ReleaseRecord, before: str | None,
             failure: DeployError, action: str) -> None:
    if failure.logs:
        console.error(f"{failure.service} failed; its last log lines:", detail=failure.logs)
    record.data.update(status="failed", verified=False)
    record.save()
    still = {r.version for r in ctx.target.current().values()}
    rolled = False
    if before and still != {before} and not ctx.dry_run:
        console.note(f"rolling back to {before}, the last good release")
        previous_version = Version.parse(before)
        previous = ctx.record_of(previous_version)
        back = deploy_plan(ctx, previous_version, previous, True)
        _put_in_service(ctx, back, previous if recorded_flags(ctx, previous) ==
                        serving_flags(ctx) else None)
        ctx.target.verify(back)
        audit.record_deploy(ctx.config.root, ctx.env.name, before, "auto-rollback", True,
                            replaced=str(version))
        rolled = True
    if rolled:
        outcome = f"rolled back: {before} serves again"
    elif before and still == {before}:
        outcome = f"nothing was switched: {before} keeps serving"
    else:
        outcome = "nothing was serving before"
    raise ShipyardError(f"{action} {version} failed: {failure.message}; {outcome}",
                        hint=failure.hint or f"fix {failure.service}, then release a new "
                                             "version")


def show_revisions(title: str, revisions: Sequence[Revision]) -> None:
    table(title, ("service", "version", "digest", "revision", "url"),
          [(r.service, r.version, r.digest[:19], r.name, r.url) for r in revisions])


def rollback_candidates(ctx: RunContext, exclude: str | None,
                        only: str | None = None) -> list[str]:
    """Recorded, verified releases whose images are all still in the registry. A dry run with
    the registry down cannot ask it: it plans with every verified release, and says so.
    `only`: that one release is looked at (a rollback to it asks the registry about its
    images alone, not about every release's)."""
    found = []
    ask = not ctx.dry_run or ctx.registry.ping()
    if not ask:
        console.note(f"[dry-run] {ctx.env.registry} does not answer: the images of the "
                     "releases are not checked")
    folder = releases_dir(ctx.config.root, ctx.env.name)
    paths = [folder / f"{only}.json"] if only else sorted(folder.glob("v*.json"))
    for path in paths if folder.exists() else []:
        name = path.name[:-len(".json")]
        if not is_version_tag(name) or name == exclude or not path.exists():
            continue
        record = ctx.record_of(Version.parse(name))
        if record.data.get("verified") and (not ask or images_present(ctx, record.images)):
            found.append(name)
    return sorted(found, key=Version.parse, reverse=True)


def images_present(ctx: RunContext, images: Mapping[str, Mapping[str, object]]) -> bool:
    for service in ctx.config.services:
        digest = images.get(service.name, {}).get("digest")
        if not digest or ctx.registry.digest(service.name, str(digest)) is None:
            return False
    return True
