"""`invoke flag`: switch feature flags in an environment without a rebuild (Fase 5).

The release serving now is rolled out again, same images by digest, same secret versions, with
the env the flags set: a new revision per changed service, checked like a deploy's before any
traffic moves to it. The new states become the environment's flag state (.shipyard/flags/),
so later releases and rollbacks keep them (`--reset-flags` goes back to the defaults).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from shipyard.config import Config
from shipyard.config.flags import STATES
from shipyard.errors import ShipyardError, UsageError
from shipyard.pipeline.context import RunContext
from shipyard.pipeline.release import _locked
from shipyard.stages.deploy import deploy_plan, show_revisions
from shipyard.state import audit
from shipyard.state import flags as flag_state
from shipyard.state.records import now
from shipyard.targets.base import DeployError
from shipyard.ui import console
from shipyard.version import Version


def parse_assignments(config: Config, text: str) -> dict[str, str]:
    """`video_generation=off` (several: separated by commas or spaces) → {name: state}."""
    hint = (f"known flags: {', '.join(sorted(config.flags))}" if config.flags else
            "no flags are configured: declare one in [flags.NAME] (docs/config.md)")
    pairs = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if not pairs:
        raise UsageError("name a flag and its state, e.g. video_generation=off", hint=hint)
    wanted: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"{pair!r} is not NAME=on or NAME=off", hint=hint)
        if name not in config.flags:
            raise UsageError(f"unknown flag {name!r}", hint=hint)
        state = value.strip().lower()
        if state not in STATES:
            raise UsageError(f"flag {name}: {value!r} is neither on nor off",
                             hint=f"e.g. {name}=off or {name}=on")
        if wanted.get(name, state) != state:
            raise UsageError(f"flag {name} is given both on and off", hint="name it once")
        wanted[name] = state
    return wanted


def shown(states: Mapping[str, str]) -> str:
    return ", ".join(f"{name}={state}" for name, state in sorted(states.items()))


def switch_flags(ctx: RunContext, wanted: Mapping[str, str], *, break_lock: bool = False
                 ) -> None:
    config, root, env = ctx.config, ctx.config.root, ctx.env.name
    ctx.target  # noqa: B018 - an unsupported target is refused before anything runs
    stored = flag_state.read_state(root, env)
    before = flag_state.effective(config.flags, stored.flags)
    after = {**before, **wanted}
    # A change a crash interrupted may serve already: its services count as changed too.
    pending = flag_state.effective(config.flags, stored.pending or {}) if stored.pending else {}
    if stored.pending:
        console.note(f"a flag change did not finish earlier ({shown(stored.pending)}); "
                     "this run settles it")
    changed = sorted({config.flags[n].service for n in config.flags
                      if after[n] != before[n] or (pending and pending[n] != after[n])})
    if not changed:
        console.note(f"nothing to do: {shown(wanted)} already in {env}")
        return
    version = _serving_version(ctx)
    record = ctx.record_of(version)
    plan = deploy_plan(ctx, version, record, recorded_secrets=True, flags=after)

    def work() -> None:
        if not ctx.dry_run:
            flag_state.begin(root, env, before, after)
        try:
            with record.stage("flag"):
                revisions = ctx.target.reconfigure(plan, changed)
        except DeployError as failure:
            if failure.logs:
                console.error(f"{failure.service} failed; its last log lines:",
                              detail=failure.logs)
            if not ctx.dry_run:
                flag_state.abandon(root, env)
            raise ShipyardError(f"flag {shown(wanted)} in {env} failed: {failure.message}; "
                                f"nothing was switched: {version} keeps serving with "
                                f"{shown(before)}", hint=failure.hint) from None
        with record.stage("verify"):
            if not ctx.dry_run:
                ctx.target.verify(plan)
        if not ctx.dry_run:
            record.data.update(revisions=[r.to_json() for r in revisions], flags=after,
                               last_action="flag", last_deployed=now())
            record.save()
            flag_state.commit(root, env, after)
            audit.record_deploy(root, env, str(version), "flag", True, replaced=str(version),
                                flags=after)
        show_revisions(f"flag {shown(wanted)} → {env} ({version}, same images)", revisions)

    _locked(ctx, "flag", version, break_lock, work, flags=dict(wanted), before=before)
    if ctx.dry_run:
        console.note(f"[dry-run] that is the complete plan for {shown(wanted)} → {env}")
    else:
        console.note(f"{shown(wanted)} serves in {env} ({version}, no rebuild)")


def _serving_version(ctx: RunContext) -> Version:
    """The one release every service serves now, read from the target itself."""
    current = ctx.target.current()
    versions = sorted({r.version for r in current.values()})
    missing = [s.name for s in ctx.config.services if s.name not in current]
    if not current or missing or len(versions) != 1:
        what = ("nothing serves" if not current else "not one release serves (services: "
                + ", ".join(f"{n} {current[n].version if n in current else 'nothing'}"
                            for n in (s.name for s in ctx.config.services)) + ")")
        raise ShipyardError(f"{ctx.env.name}: {what}; a flag switches the release that serves",
                            hint=f"invoke release --version V --env {ctx.env.name} first")
    return Version.parse(versions[0])
