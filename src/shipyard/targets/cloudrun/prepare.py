"""Before a deploy or a flag switch on Cloud Run: each service as it is now, traffic someone
set by hand reported, and the tags of revisions that never became ready removed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from shipyard.commands import gcloud as g
from shipyard.errors import ShipyardError
from shipyard.state import audit
from shipyard.targets.cloudrun.state import ServiceState
from shipyard.ui import console
from shipyard.version import Version

if TYPE_CHECKING:
    from shipyard.targets.cloudrun import CloudRunTarget


def prepare(target: CloudRunTarget, names: list[str]) -> dict[str, ServiceState | None]:
    """Each service as it is now (None: there is none yet); see the module docstring."""
    before = target._each(target._describe, names)
    report_pinned(target, before)
    stuck = [n for n, s in before.items() if s is not None and s.stuck_tags()]
    target._each(lambda n: clear_failed_tags(target, before[n]), stuck)  # type: ignore[arg-type]
    return before


def report_pinned(target: CloudRunTarget, states: Mapping[str, ServiceState | None]) -> None:
    """Traffic someone moved by hand: reported before shipyard's own move replaces it."""
    ctx = target.ctx
    serving = audit.serving(ctx.config.root, ctx.env.name)
    ours = {r.get("name") for r in ctx.record_of(Version.parse(serving)).data.get(
        "revisions") or []} if serving else set()
    for name, state in states.items():
        split = state.serving() if state else []
        foreign = [t for t in split if t.revision not in ours]
        if len(split) > 1 or (ours and foreign):
            shown = ", ".join(f"{t.revision} {t.percent}%" for t in split)
            console.note(f"warning: {name}: traffic was set by hand ({shown}); this deploy "
                         "moves all of it to the new revision once verified")


def clear_failed_tags(target: CloudRunTarget, state: ServiceState) -> None:
    """A failed deploy leaves its revision at 0% with its tag, for inspection. While a tag
    points at a revision that never became ready, Cloud Run keeps the service not Ready and
    every later deploy fails with that revision's message: the next deploy drops the tags of
    failed revisions first, and says so."""
    runner, gcp = target.runner, target.gcp
    revisions = target._revisions(state.name)
    failed = sorted(tag for tag, rev in state.asked_tags.items()
                    if not (revisions.get(rev) and revisions[rev].ready))
    if not failed:
        return
    if not runner.dry_run:
        console.note(f"{state.name}: removing the tags of failed revisions: {', '.join(failed)}")
    # gcloud exits 1 here even when the tags are gone: the service stays not Ready until a
    # good revision replaces the failed latest one. What counts is the tags being gone.
    runner.run(g.remove_tags(target.gcloud, state.name, gcp.region, gcp.project, failed),
               check=False, timeout=600)
    after = None if runner.dry_run else target._describe(state.name)
    if after is not None and set(failed) & set(after.asked_tags):
        raise ShipyardError(f"{state.name}: could not remove the tags of failed revisions "
                            f"({', '.join(failed)})", hint="gcloud run services "
                            f"update-traffic {state.name} --remove-tags "
                            f"{','.join(failed)} --region {gcp.region}")
