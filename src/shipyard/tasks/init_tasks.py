"""`shipyard init` (and `invoke init`): shipyard's files for an existing app repo."""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context
from invoke.tasks import task

from shipyard.errors import UsageError
from shipyard.tasks._kit import expected_failures, is_dry_run
from shipyard.ui import console

NOTES = {"kept": "exists and differs; --force overwrites it"}


@task(name="init", help={
    "force": "overwrite files that exist and differ (default: keep them)",
    "dry-run": "print what would be written; write nothing",
})
@expected_failures
def init(c: Context, force: bool = False, dry_run: bool = False) -> None:
    """Write shipyard's files into this app repo, from the Dockerfiles it finds.

    shipyard.toml (a service per Dockerfile, the local environment on ports free now,
    commented cloudrun and gke environments), tasks.py, noxfile.py (tests, build, scan),
    ci-cd/cloudbuild.yaml and k8s/ (a base and staging/prod overlays). node_modules, vendor
    and dot-folders are not searched. An existing file is never overwritten without --force.
    """
    app = (c.config.get("shipyard") or {}).get("app")
    if app == "":  # shipyard's own checkout: an app must be named, as for every task
        raise UsageError("no app chosen: this checkout is not an app repo",
                         hint="run shipyard init inside the app repo")
    root = (Path(c.cwd) if c.cwd else Path.cwd()) / (app or "")
    from shipyard import scaffold

    outcomes = scaffold.init(root.resolve(), force=force, dry_run=is_dry_run(c, dry_run))
    width = max(len(o.action) for o in outcomes)
    for o in outcomes:
        note = f"  ({NOTES[o.action]})" if o.action in NOTES else ""
        console.note(f"{o.action:<{width}}  {o.path}{note}")
    written = sum(o.action in ("wrote", "overwrote", "would write", "would overwrite")
                  for o in outcomes)
    kept = sum(o.action == "kept" for o in outcomes)
    verb = "to write (dry run: nothing written)" if is_dry_run(c, dry_run) else "written"
    console.note(f"{written} {verb}, {kept} kept, "
                 f"{sum(o.action == 'unchanged' for o in outcomes)} unchanged"
                 + ("; next: review shipyard.toml, then `invoke release --version v0.1.0`"
                    if written and not is_dry_run(c, dry_run) else ""))
