"""The pipeline: preflight → tag → build → scan → push → deploy → verify (→ rollback) → record.

Every stage checks reality first and skips what is done, so rerunning a release after a
failure or a kill resumes it: no duplicate tag, no rebuild, no second push. Target-agnostic:
whatever differs between local, Cloud Run and GKE is behind `ctx.target`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from shipyard.errors import ShipyardError, UsageError
from shipyard.pipeline.context import RunContext
from shipyard.stages.deploy import roll_out, rollback_candidates
from shipyard.state import audit
from shipyard.state.lock import LockHeld, env_lock
from shipyard.ui import console
from shipyard.version import Version


def release(ctx: RunContext, *, break_lock: bool = False,
            skip_checklist: str | None = None, reset_flags: bool = False) -> None:
    # Imported here: deploy and rollback need none of these stages,
    # nor the checklist gate (with the GCP checks it imports, ~10 ms).
    from shipyard.build.gitrepo import GitRepo
    from shipyard.ops.checklist import require_passing
    from shipyard.pipeline.preflight import preflight
    from shipyard.stages.build import build_images
    from shipyard.stages.push import push_images
    from shipyard.stages.scan import scan_images, settings_for
    from shipyard.stages.tag import tag_release

    version = ctx.release
    GitRepo.open(ctx.config.root)  # no git work tree (a manual submit's upload): refused at once
    ctx.target  # noqa: B018 - an unsupported target is refused before preflight runs
    require_passing(ctx, skip_checklist)  # Fase 7's gate, where the environment asks for it
    preflight(ctx)

    idle: list[bool] = []

    def stages() -> None:
        record = ctx.record
        record.data["commit"] = GitRepo.open(ctx.config.root).head
        # What serves before this run (for "nothing to do" only), asked while tag, build, scan
        # and push run: it reads the platform and waits on nothing of theirs.
        with ThreadPoolExecutor(max_workers=1) as pool:
            before = pool.submit(ctx.target.current)
            with record.stage("tag"):
                tagged = tag_release(ctx.config, ctx.runner, version, fetched=True)
            built = build_images(ctx)
            scan_images(ctx, settings_for(ctx.env, None, False))
            pushed = push_images(ctx)
            serving = {r.version for r in before.result().values()}
        roll_out(ctx, version, record, "release", default_flags(ctx) if reset_flags else None)
        # Every stage found its work done: say so (the audit line is still written).
        idle.append(not tagged.created and not tagged.pushed and serving == {str(version)}
                    and all(b.action == "reused" for b in built)
                    and all(p.action == "skipped" for p in pushed))

    _locked(ctx, "release", version, break_lock, stages, **_reset(reset_flags))
    if ctx.dry_run:
        console.note(f"[dry-run] that is the complete plan for {version} → {ctx.env.name}")
    elif idle and idle[0]:
        console.note(f"nothing to do: {version} already serves {ctx.env.name}, verified again")
    else:
        console.note(f"released {version} to {ctx.env.name}")


def deploy(ctx: RunContext, *, break_lock: bool = False, reset_flags: bool = False) -> None:
    version = ctx.release
    ctx.target  # noqa: B018 - the target refuses bad input (its limits) before anything runs
    record = ctx.record
    if not record.path.exists() and not ctx.dry_run:
        raise ShipyardError(f"no release record for {version} in {ctx.env.name}",
                            hint=f"invoke push --version {version} --env {ctx.env.name} first")
    _require_secrets(ctx)
    flags = default_flags(ctx) if reset_flags else None
    _locked(ctx, "deploy", version, break_lock,
            lambda: roll_out(ctx, version, record, "deploy", flags), **_reset(reset_flags))


def rollback(ctx: RunContext, to: Version | None, *, break_lock: bool = False,
             reset_flags: bool = False) -> None:
    root, env = ctx.config.root, ctx.env.name
    current = audit.serving(root, env)
    if to is None:
        previous = audit.previous_good(root, env)
        if previous is None:
            raise ShipyardError(f"no earlier good release to roll back to in {env}"
                                f" (serving: {current or 'nothing'})",
                                hint="pass --to VERSION to pick one explicitly")
        to = Version.parse(previous)
    if not rollback_candidates(ctx, exclude=current, only=str(to)):
        candidates = rollback_candidates(ctx, exclude=current)
        raise ShipyardError(
            f"cannot roll back to {to}: no verified release of it with images in the registry",
            hint=f"candidates: {', '.join(candidates) or 'none'}")
    record = ctx.record_of(to)
    _require_secrets(ctx)
    target, flags = to, default_flags(ctx) if reset_flags else None
    _locked(ctx, "rollback", target, break_lock,
            lambda: roll_out(ctx, target, record, "rollback", flags), **_reset(reset_flags))


def default_flags(ctx: RunContext) -> dict[str, str]:
    """`--reset-flags`: every feature flag back to its default from shipyard.toml."""
    return {name: flag.default for name, flag in ctx.config.flags.items()}


def _reset(reset_flags: bool) -> dict[str, object]:
    return {"flags": "reset to defaults"} if reset_flags else {}


def _require_secrets(ctx: RunContext) -> None:
    """Missing secrets are bad input: refused before the lock is taken or anything is logged."""
    missing = ctx.secrets.missing()
    if any(missing.values()):
        raise UsageError("missing secrets: " + "; ".join(
            f"{svc}: {', '.join(n)}" for svc, n in missing.items() if n),
            hint="add them to the environment's secrets source (see docs/local-environment.md)")


def _locked(ctx: RunContext, action: str, version: Version, break_lock: bool,
            work: Callable[[], object], **detail: object) -> None:
    """`work` under the environment's lock; one audit line (with `detail`) however it ends."""
    result = "failed"
    try:
        with env_lock(ctx.config.root, ctx.env.name, action, str(version),
                      break_lock=break_lock, dry_run=ctx.dry_run), \
                ctx.target.exclusive(action, str(version), break_lock=break_lock):
            ctx.target.up()
            work()
            result = "ok"
    except LockHeld:
        result = "refused"
        raise
    finally:
        if not ctx.dry_run:
            audit.audit(ctx.config.root, action=action, version=str(version), env=ctx.env.name,
                        result=result, **detail)
