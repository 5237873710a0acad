"""`invoke status`: what each service really runs now, and the last releases.

"serving" is read from the target (what answers), never from the deploy history: after a
crash or a `local-down` the history still names the last verified release, and says so as
`last_verified`, but nothing is called serving unless it answers.
"""

from __future__ import annotations

from typing import Any

from shipyard.pipeline.context import RunContext
from shipyard.state import audit
from shipyard.state import flags as flag_state
from shipyard.ui import console, table

RECENT = 10


def serving_summary(versions: list[str | None]) -> str | None:
    """One version when every service runs it; 'mixed: ...' when they differ; None if idle."""
    running = sorted({v for v in versions if v})
    if not running:
        return None
    if len(running) == 1 and None not in versions:
        return running[0]
    return "mixed: " + ", ".join(v or "nothing" for v in versions)


def collect_status(ctx: RunContext) -> dict[str, Any]:
    config, env = ctx.config, ctx.env
    current = ctx.target.current()
    services = []
    for service in config.services:
        revision = current.get(service.name)
        services.append({
            "name": service.name,
            "version": revision.version if revision else None,
            "digest": revision.digest if revision else None,
            "url": revision.url if revision else None,
            "revision": revision.name if revision else None,
        })
    return {
        "env": env.name,
        "target": env.target,
        "serving": serving_summary([s["version"] for s in services]),
        "last_verified": audit.serving(config.root, env.name),
        "services": services,
        "releases": audit.history(config.root, env.name)[-RECENT:][::-1],
        **flag_status(ctx),
    }


def flag_status(ctx: RunContext) -> dict[str, Any]:
    """Each flag's state as it last verified in this environment, its default, where it goes;
    and a change a crash interrupted (it may serve already: rerun `invoke flag` to settle)."""
    config = ctx.config
    stored = flag_state.read_state(config.root, ctx.env.name)
    states = flag_state.effective(config.flags, stored.flags)
    return {
        "flags": {name: {"state": states[name], "default": flag.default,
                         "service": flag.service, "env": flag.env,
                         "value": flag.value(states[name])}
                  for name, flag in config.flags.items()},
        "flags_pending": stored.pending,
    }


def show_status(data: dict[str, Any]) -> None:
    table(f"{data['env']} ({data['target']}): serving {data['serving'] or 'nothing'}"
          f" (last verified release: {data['last_verified'] or 'none'})",
          ("service", "version", "digest", "url", "revision"),
          [(s["name"], s["version"] or "-", (s["digest"] or "-")[:19], s["url"] or "-",
            s["revision"] or "-") for s in data["services"]])
    table("last deploys (newest first)", ("version", "action", "when", "verified"),
          [(r["version"], r.get("action", "?"), r.get("when", "?"),
            "yes" if r.get("verified") else "no") for r in data["releases"]])
    if data["flags"]:
        table("feature flags", ("flag", "state", "default", "service", "env"),
              [(name, f["state"], f["default"], f["service"], f"{f['env']}={f['value']}")
               for name, f in sorted(data["flags"].items())])
    if data["flags_pending"]:
        console.note("a flag change did not finish (" + ", ".join(
            f"{k}={v}" for k, v in sorted(data["flags_pending"].items())) + "): it may serve "
            "already; rerun the same `invoke flag` to settle it")
