"""`invoke status`: what each service runs now, and the last releases."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard import ui
from shipyard.state import audit

if TYPE_CHECKING:
    from shipyard.pipeline.release import Session

RECENT = 10


def collect_status(session: Session) -> dict[str, Any]:
    from shipyard.pipeline.release import make_target

    config, env = session.config, session.env
    current = make_target(config, env, session.runner).current()
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
        "serving": audit.serving(config.root, env.name),
        "services": services,
        "releases": audit.history(config.root, env.name)[-RECENT:][::-1],
    }


def show_status(data: dict[str, Any]) -> None:
    ui.table(f"{data['env']} ({data['target']}): serving {data['serving'] or 'nothing'}",
             ("service", "version", "digest", "url", "revision"),
             [(s["name"], s["version"] or "-", (s["digest"] or "-")[:19], s["url"] or "-",
               s["revision"] or "-") for s in data["services"]])
    ui.table("last deploys (newest first)", ("version", "action", "when", "verified"),
             [(r["version"], r.get("action", "?"), r.get("when", "?"),
               "yes" if r.get("verified") else "no") for r in data["releases"]])
