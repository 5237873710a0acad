"""`invoke gcp-bootstrap`: converge a GCP project to what a cloudrun or gke environment needs.

desired.py (what shipyard.toml asks for) → converge.observe (what the project holds, read
with gcloud) → plan.py (the rows and the commands, pure) → the plan printed → converge.apply.
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import TYPE_CHECKING, Any

from shipyard.bootstrap import converge
from shipyard.bootstrap.desired import desired
from shipyard.bootstrap.plan import PRESENT, plan
from shipyard.targets.gcloud_auth import gcloud_path
from shipyard.ui import console, table

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext


def gcp_bootstrap(ctx: RunContext, *, as_json: bool = False) -> dict[str, Any]:
    """Plan, print the plan, then act (not in a dry run). Returns what --json prints."""
    want = desired(ctx.env)  # bad config is refused before any gcloud call
    gcloud = gcloud_path()
    the_plan = plan(want, converge.observe(ctx.runner, gcloud, want), gcloud)
    report: dict[str, Any] = {
        "environment": ctx.env.name, "project": want.project, "dry_run": ctx.runner.dry_run,
        "resources": [row.as_dict() for row in the_plan.rows],
        "commands": [list(step.argv[1:]) for step in the_plan.steps],
    }
    if not as_json:
        table(f"gcp-bootstrap {ctx.env.name} (project {want.project})",
              ("kind", "name", "state", "why"),
              [(r.kind, r.name, r.state, r.note) for r in the_plan.rows])
    # --json: stdout is the report alone, so the dry-run lines go to stderr with the rest.
    quiet = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    with quiet:
        done = converge.apply(ctx.runner, the_plan, want.project)
    if ctx.runner.dry_run:
        summary = f"dry run: {done} change(s) planned, none made"
    elif done:
        summary = f"{done} change(s) made; everything the environment needs is there now"
    else:
        summary = "nothing to do: everything is present"
    report["planned"] = len(the_plan.steps)
    report["changes"] = 0 if ctx.runner.dry_run else done
    report["present"] = sum(r.state == PRESENT for r in the_plan.rows)
    console.note(summary)
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
    return report
