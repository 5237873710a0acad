"""One deploy at a time per environment, and a release killed mid-way that resumes: the lock
names its holder, a dead holder's lock is broken only on request, and the rerun neither
retags, nor rebuilds, nor pushes twice.

Each `invoke` runs as its own process, as when two people (or a crash) are involved.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.release_fixtures import (
    SERVICES,
    Lines,
    ReleaseApp,
    cmdline,
    commands,
    descendants,
    kill_group,
    kill_tree,
    table,
)

pytestmark = pytest.mark.integration

V1, V2, V3 = "v1.0.0", "v2.0.0", "v3.0.0"


def all_pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def wait_until(done: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.02)
    return False


def wait_for_process(root: int, needle: str, timeout: float = 30) -> int | None:
    """The pid of a descendant of ROOT whose command line holds NEEDLE, once there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in descendants(root):
            if needle in cmdline(pid):
                return pid
        time.sleep(0.005)
    return None


def pushes_logged(app: ReleaseApp, ref: str) -> list[dict[str, object]]:
    """Completed `docker push REF` commands in .shipyard/logs/commands.log (the runner logs
    a command when it ends, with its exit code)."""
    log = app.state / "logs" / "commands.log"
    entries = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [e for e in entries if str(e["argv"]).endswith(f" push {ref}")]


def settled_missing(app: ReleaseApp) -> set[str]:
    """The services whose V1 image is not in the registry, once the Docker engine has finished
    (or dropped) any push the killed client had started."""
    seen: list[set[str]] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        seen.append({n for n in SERVICES if app.registry.digest(f"demo/{n}", V1) is None})
        if len(seen) >= 6 and all(s == seen[-1] for s in seen[-6:]):
            break
        time.sleep(0.25)
    return seen[-1]


def test_a_release_killed_while_pushing_resumes_with_break_lock(app: ReleaseApp) -> None:
    """kill -9 of the whole process tree (the runner starts every command in a session of its
    own, so killing the process group alone would leave `docker push` running) once beta's
    small push is in the registry and alpha's has provably not finished: its large layer is
    still on the way and the registry does not list its tag. The rerun must push what is
    missing (alpha), and only that."""
    head = app.knobs("alpha: a 48 MiB layer, so its push takes a while",
                     alpha={"BLOB_MB": "48"})
    first = app.popen("release", "--version", V1)
    err = Lines(first.stderr)
    alpha_tag = f"127.0.0.1:{app.registry.port}/demo/alpha:{V1}"
    try:
        pushing = err.wait_for(f"docker push {alpha_tag}", timeout=240)
        client = wait_for_process(first.pid, f"push {alpha_tag}")  # started, not just echoed
        beta_pushed = wait_until(lambda: app.registry.digest("demo/beta", V1) is not None)
        unfinished = app.registry.digest("demo/alpha", V1) is None
    finally:
        killed = kill_tree(first)  # SIGKILL, every process of the tree, as a crash would
    assert pushing is not None and client is not None, err.text
    assert unfinished, "alpha's push was over before the kill: nothing was left to resume"
    assert beta_pushed, "beta's small push did not finish first"
    assert any(f"push {alpha_tag}" in line for line in killed), killed  # the client died too
    assert not any(f"push {alpha_tag}" in cmdline(pid) for pid in all_pids())
    assert "traffic switched" not in err.text  # killed before the deploy
    kind, tag_object, tagged = app.remote_tag(V1)
    assert (kind, tagged) == ("tag", head)
    missing = settled_missing(app)
    print(f"\nkilled: {killed}\nnot in the registry after the kill: {sorted(missing)}")
    assert missing == {"alpha"}  # the engine dropped the push of the killed client
    assert pushes_logged(app, alpha_tag) == []  # the killed push never completed

    refused = app.invoke("release", "--version", V1)
    assert refused.code == 1, refused.text
    assert "Traceback" not in refused.text
    error = next(line for line in refused.err.splitlines() if line.startswith("error:"))
    assert f"pid {first.pid} on {socket.gethostname()} (release {V1}, since 20" in error
    assert "which has died" in error
    assert "--break-lock" in refused.err
    assert app.versions() != {"alpha": V1, "beta": V1}

    resumed = app.invoke("release", "--version", V1, "--break-lock")
    assert resumed.code == 0, resumed.text
    assert f"breaking the stale local lock of pid {first.pid}" in resumed.err
    assert [c for c in commands(resumed.text, "docker") if c.split()[1] == "build"] == []
    assert commands(resumed.text, "git") == []  # the tag was there: not made or pushed again
    built = table(resumed.out, f"build {V1}")
    assert {name: row[-1] for name, row in built.items()} == {n: "reused" for n in SERVICES}
    pushes = [c for c in commands(resumed.text, "docker") if c.split()[1] == "push"]
    assert pushes, "the rerun pushed nothing"
    assert [entry["exit"] for entry in pushes_logged(app, alpha_tag)] == [0]  # the rerun's
    assert sorted(c.split()[-1].split("/")[-1] for c in pushes) == sorted(
        f"{name}:{V1}" for name in missing)
    pushed = table(resumed.out, f"push {V1}")
    assert {name: row[-1] for name, row in pushed.items()} == {
        name: "pushed" if name in missing else "skipped" for name in SERVICES}

    assert app.remote_tag(V1) == (kind, tag_object, head)
    assert [r for r in app.repo.remote_refs().splitlines() if "refs/tags/" in r] == [
        f"{tag_object} refs/tags/{V1}"]
    record = app.record(V1)
    for name in SERVICES:
        assert record["images"][name]["digest"] == app.registry.digest(  # type: ignore[index]
            f"demo/{name}", V1)
    assert app.versions() == {"alpha": V1, "beta": V1}
    assert not (app.state / "locks" / "local.lock").exists()


def test_one_deploy_at_a_time_names_the_holder(app: ReleaseApp) -> None:
    app.ok("release", "--version", V1)
    app.change("v2")
    app.ok("release", "--version", V2)
    app.change("v3")
    waiting, gate = app.hold_pushes()  # the first release will wait in its tag push

    first = app.popen("release", "--version", V3)
    try:
        deadline = time.monotonic() + 120
        while not waiting.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert waiting.exists(), "the release never reached its tag push"
        holder = f"pid {first.pid} on {socket.gethostname()} (release {V3}, since 20"

        for args in (("release", "--version", V3), ("rollback",)):
            ran = app.invoke(*args)
            assert ran.code == 1, ran.text
            assert "Traceback" not in ran.text
            error = next(line for line in ran.err.splitlines() if line.startswith("error:"))
            assert "local is locked: a deploy is running" in error and holder in error, ran.err
            assert "--break-lock" not in ran.err  # a live holder's lock is never to be broken
            assert app.versions() == {"alpha": V2, "beta": V2}
        broken = app.invoke("rollback", "--break-lock")
        assert broken.code == 1 and holder in broken.err, broken.text

        gate.touch()
        out, err = first.communicate(timeout=240)
    finally:
        gate.touch()
        if first.poll() is None:
            kill_group(first)
    assert first.returncode == 0, out + err
    assert f"released {V3} to local" in err
    assert app.versions() == {"alpha": V3, "beta": V3}
    assert not (app.state / "locks" / "local.lock").exists()
