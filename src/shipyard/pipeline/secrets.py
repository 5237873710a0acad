"""`secrets-set`, `secrets-list`, `secrets-check`: an environment's secrets, by name.

The name is checked first (a secret some service lists), then the value is read (stdin or a
hidden prompt, never argv), then the environment's store writes it. Nothing printed, returned or
recorded holds a value: the audit log gets the name and the version only.
"""

from __future__ import annotations

from typing import Any

from shipyard.errors import ShipyardError, UsageError
from shipyard.pipeline.context import RunContext
from shipyard.pipeline.preflight import _attempt
from shipyard.secrets.stores import Stored, Written, secret_store
from shipyard.secrets.value_input import read_value
from shipyard.state import audit
from shipyard.state.records import ReleaseRecord
from shipyard.ui import console, table
from shipyard.version import Version

SET_EXAMPLE = 'printf %s "$VALUE" | invoke secrets-set NAME --env {env}'


def users(ctx: RunContext, name: str) -> list[str]:
    return [s.name for s in ctx.config.services if name in s.secrets]


def known_name(ctx: RunContext, name: str) -> list[str]:
    """The services that list NAME; UsageError otherwise. An unknown name is not repeated
    back: it may be a value typed in the wrong place."""
    listed = list(dict.fromkeys(n for s in ctx.config.services for n in s.secrets))
    if "=" in name:
        raise UsageError("secrets-set takes a NAME, not NAME=value: a value on the command line "
                         "is visible to every user of this machine",
                         hint="pipe the value in: " + SET_EXAMPLE.format(env=ctx.env.name))
    found = users(ctx, name)
    if not found:
        raise UsageError(
            "that is not a secret any service lists (services.NAME.secrets in "
            f"{ctx.config.path.name}); the name is not repeated here in case it was a value",
            hint=("the known names: " + ", ".join(listed)) if listed else
                 'no service lists a secret yet: add secrets = ["NAME"] to a [services.X] table')
    return found


def set_secret(ctx: RunContext, name: str, *, disable_previous: bool = False) -> Written:
    services = known_name(ctx, name)
    store = secret_store(ctx)
    if disable_previous and not store.keeps_versions:
        raise UsageError(f"--disable-previous is for Secret Manager: env {ctx.env.name} keeps "
                         "one value per name, and setting it replaces the old one",
                         hint="drop --disable-previous")
    value = read_value(name)
    ctx.runner.redactor.add(value)  # whatever fails from here on shows *** in its place
    written = store.put(name, value, disable_previous=disable_previous)
    del value
    for note in (*written.notes, *_serving_warnings(ctx, written)):
        console.note(f"note: {note}")
    if ctx.dry_run:
        return written
    audit.audit(ctx.config.root, action="secrets-set", version="", env=ctx.env.name,
                result="ok", secret=name, secret_version=written.version,
                disabled_version=written.disabled)
    where = (written.secret if written.version == "current"
             else f"{written.secret} version {written.version}")
    done = f" (disabled version {written.disabled})" if written.disabled else ""
    console.out.print(f"{name} set: {where}{done}; used by {', '.join(services)}", markup=False)
    return written


def _serving_warnings(ctx: RunContext, written: Written) -> list[str]:
    """The release serving now may pin the version just disabled: its new instances (Cloud
    Run starts them at will) cannot start until a deploy pins the new one."""
    serving = audit.serving(ctx.config.root, ctx.env.name)
    if written.disabled is None or serving is None:
        return []
    record = ReleaseRecord.open(ctx.config.root, Version.parse(serving), ctx.env.name, True)
    pins = record.data.get("secrets") or {}
    hit = sorted(svc for svc, bindings in pins.items() if isinstance(bindings, list) and any(
        b.get("secret") == written.secret and b.get("version") == written.disabled
        for b in bindings if isinstance(b, dict)))
    if not hit:
        return []
    return [f"{serving}, serving {ctx.env.name} now, pins {written.secret} version "
            f"{written.disabled} for {', '.join(hit)}: instances that start from now on fail "
            f"until a deploy pins version {written.version} (invoke deploy --version {serving} "
            f"--env {ctx.env.name})"]


def inventory(ctx: RunContext) -> list[Stored]:
    from dataclasses import replace

    return [replace(row, services=tuple(users(ctx, row.name)))
            for row in secret_store(ctx).inventory()]


def list_data(ctx: RunContext) -> dict[str, Any]:
    return {"env": ctx.env.name, "target": ctx.env.target,
            "secrets": [row.to_json() for row in inventory(ctx)]}


def show_list(data: dict[str, Any]) -> None:
    table(f"secrets of {data['env']} ({data['target']}); values are never shown",
          ("name", "secret", "version", "enabled versions", "used by", "problem"),
          [(r["name"], r["secret"], (r["version"] or "-") + (" (pinned)" if r["pinned"] else ""),
            ", ".join(r["enabled"]) or ("-" if data["target"] != "local" else "n/a"),
            ", ".join(r["services"]), r["problem"] or "") for r in data["secrets"]])


def check_data(ctx: RunContext) -> dict[str, Any]:
    outcomes = [_attempt(c.name, c.probe) for c in secret_store(ctx).checks()]
    return {"env": ctx.env.name, "target": ctx.env.target,
            "ok": all(o.ok for o in outcomes),
            "checks": [{"name": o.name, "ok": o.ok, "detail": o.detail, "hint": o.hint}
                       for o in outcomes]}


def show_checks(data: dict[str, Any]) -> None:
    table(f"secrets check → {data['env']} ({data['target']})", ("check", "result", "detail"),
          [(c["name"], "ok" if c["ok"] else "FAILED", c["detail"]) for c in data["checks"]])


def raise_if_failed(data: dict[str, Any]) -> None:
    failed = [c for c in data["checks"] if not c["ok"]]
    if failed:
        raise ShipyardError("secrets check failed: " + "; ".join(
            f"{c['name']}: {c['detail']}" for c in failed), hint=failed[0]["hint"])
