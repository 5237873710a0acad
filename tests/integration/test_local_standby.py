"""The local target's warm standby: the revision a deploy replaced is paused (`docker pause`),
and a rollback resumes it. A rollback killed (SIGKILL, the whole process tree) at the moment
the standby is resumed leaves state that `status` reads truthfully and the next run repairs;
`local-down` removes paused containers too.

Real git (bare remote), Docker engine, registry, trivy and nginx; requests to 127.0.0.1 only.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.release_fixtures import (
    SERVICES,
    Lines,
    ReleaseApp,
    commands,
    kill_tree,
)

pytestmark = pytest.mark.integration

V1, V2 = "v1.0.0", "v2.0.0"


def of(app: ReleaseApp, version: str) -> list[str]:
    return sorted(c for c in app.containers() if f"-{version}-" in c)


def status_versions(app: ReleaseApp) -> tuple[str, dict[str, str | None]]:
    data = json.loads(app.ok("status", "--json").out)
    return data["serving"], {s["name"]: s["version"] for s in data["services"]}


def test_a_rollback_killed_while_resuming_the_standby_is_repaired_by_the_next(
        app: ReleaseApp) -> None:
    app.ok("release", "--version", V1)
    app.change("v2: new content")
    app.ok("release", "--version", V2)
    assert app.containers(paused_only=True) == of(app, V1)  # v1: the paused standby
    assert app.containers(running_only=True) == of(app, V2)
    assert status_versions(app) == (V2, {s: V2 for s in SERVICES})

    first = app.popen("rollback")
    err = Lines(first.stderr)
    try:
        resumed = err.wait_for("resumed the paused standby", timeout=120)
        assert resumed is not None, err.text
    finally:
        kill_tree(first)
    # Whatever moment it died at, status says what answers through the proxy.
    answering = app.versions()
    serving, versions = status_versions(app)
    assert versions == answering and set(answering.values()) <= {V1, V2}, (versions, answering)
    alike = set(answering.values())
    assert serving == alike.pop() if len(alike) == 1 else serving.startswith("mixed: "), serving

    again = app.ok("rollback", "--to", V1, "--break-lock")
    assert app.versions() == {s: V1 for s in SERVICES}
    assert status_versions(app) == (V1, {s: V1 for s in SERVICES})
    verbs = {c.split()[1] for c in commands(again.text, "docker")}
    assert verbs <= {"unpause", "pause"}, verbs  # the same containers: none started or run
    assert app.containers(running_only=True) == of(app, V1)
    assert app.containers(paused_only=True) == of(app, V2)  # v2 is the standby now

    forward = app.ok("rollback", "--to", V2)
    assert app.versions() == {s: V2 for s in SERVICES}
    assert {c.split()[1] for c in commands(forward.text, "docker")} == {"unpause", "pause"}
    assert app.containers(paused_only=True) == of(app, V1)

    down = app.ok("local-down")
    assert "revision containers: 4 stopped and removed" in down.err, down.err
    assert app.containers() == []
