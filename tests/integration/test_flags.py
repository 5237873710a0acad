"""The video kill switch on the local environment, in a copy of the sample app:
`invoke flag video_generation=off` puts a new api-server revision of the same image (same
digest, nothing built or pushed) behind the proxy with zero failed requests, /api/status says
so, `status` and the audit log show it, a rollback keeps the flag, `--reset-flags` puts the
default back, and a dry run writes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Ran, git, invoke, require_docker_engine
from tests.integration.release_fixtures import Load, commands, docker, kill_tree
from tests.integration.state_snapshot import differences, snapshot
from tests.support.apps import sample_copy, write_secrets
from tests.support.images import remove_images

pytestmark = pytest.mark.integration

REGISTRY_LOG = ".shipyard/local/registry/registry.log"
SECRETS = {"DATABASE_URL": "postgres://demo:pw-flag-0123@db/app",
           "RUNWAYML_API_KEY": "rw-flag-key-0123", "REDIS_URL": "redis://cache-flag:6379"}


@dataclass
class Sample:
    work: Path
    remote: Path
    config: dict[str, Any]

    @property
    def api_port(self) -> int:
        return int(self.config["environments"]["local"]["proxy_ports"]["api-server"])

    @property
    def registry_port(self) -> int:
        return int(self.config["environments"]["local"]["registry_port"])

    def invoke(self, *args: str) -> Ran:
        return invoke(self.work, *args, timeout=600)

    def ok(self, *args: str) -> Ran:
        ran = self.invoke(*args)
        assert ran.code == 0, f"invoke {' '.join(args)} exited {ran.code}:\n{ran.text}"
        assert "Traceback" not in ran.text, ran.text
        return ran

    def api_status(self) -> dict[str, Any]:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{self.api_port}/api/status", timeout=5) as answer:
            return json.loads(answer.read())  # type: ignore[no-any-return]

    def status(self) -> dict[str, Any]:
        return json.loads(self.ok("status", "--json").out)  # type: ignore[no-any-return]

    def record(self, version: str) -> dict[str, Any]:
        path = self.work / ".shipyard" / "releases" / f"{version}.json"
        return json.loads(path.read_text())  # type: ignore[no-any-return]

    def serving_api(self) -> dict[str, str]:
        """The api-server container the proxy serves: its name, image and digest label."""
        name = next(s["revision"] for s in self.status()["services"]
                    if s["name"] == "api-server")
        image, digest = docker("inspect", "--format", '{{.Config.Image}} '
                               '{{index .Config.Labels "dev.shipyard.digest"}}', name).split()
        return {"name": name, "image": image, "digest": digest}

    def audit(self) -> list[dict[str, Any]]:
        lines = (self.work / ".shipyard" / "audit.log").read_text().splitlines()
        return [json.loads(line) for line in lines]


@pytest.fixture
def sample(tmp_path: Path) -> Iterator[Sample]:
    require_docker_engine("the flag rolls out revision containers on the Docker engine")
    app = tmp_path / "meta-ad-studio"
    config = sample_copy(app, tmp_path / "remote.git")  # on ports of its own
    write_secrets(app / ".shipyard" / "secrets" / "local.env", SECRETS)
    found = Sample(app, tmp_path / "remote.git", config)
    try:
        yield found
    finally:
        invoke(app, "local-down", timeout=120)
        remove_images(f"reference=127.0.0.1:{found.registry_port}/meta-ad-studio/*")


def change(sample: Sample, message: str) -> None:
    page = sample.work / "meta-verse-visualizer-main" / "www" / "index.html"
    page.write_text(page.read_text() + f"<!-- {message} -->\n")
    git(sample.work, "commit", "-q", "-am", message)
    git(sample.work, "push", "-q", "origin", "main")


def test_the_kill_switch_rolls_out_the_same_image_and_rollback_keeps_it(sample: Sample
                                                                         ) -> None:
    sample.ok("release", "--version", "v1.0.0")
    change(sample, "v1.1.0")
    sample.ok("release", "--version", "v1.1.0")
    assert sample.api_status()["video_generation"] == "on"
    before = sample.serving_api()
    pinned = sample.record("v1.1.0")["images"]["api-server"]

    with Load([sample.api_port], path="/version", slow=0) as load:
        off = sample.ok("flag", "--env", "local", "video_generation=off")
    assert load.crashed == [] and load.failures() == [], load.failures()[:5]
    assert set(load.everything()) == {"v1.1.0"}

    assert sample.api_status() == {**sample.api_status(), "video_generation": "off",
                                   "version": "v1.1.0"}
    after = sample.serving_api()
    assert after["name"] != before["name"]  # a new revision container...
    assert (after["image"], after["digest"]) == (before["image"], before["digest"])  # same one
    assert after["image"] == pinned["pinned"] and after["digest"] == pinned["digest"]
    docker_verbs = [c.split()[1] for c in commands(off.text, "docker")]
    assert "build" not in docker_verbs and "push" not in docker_verbs, docker_verbs
    assert "run" in docker_verbs
    assert sample.record("v1.1.0")["images"]["api-server"] == pinned  # nothing re-pushed

    status = sample.status()
    assert status["serving"] == "v1.1.0"
    assert status["flags"]["video_generation"]["state"] == "off"
    assert status["flags_pending"] is None
    assert status["releases"][0]["action"] == "flag"
    line = sample.audit()[-1]
    assert (line["action"], line["result"], line["flags"], line["before"]) == (
        "flag", "ok", {"video_generation": "off"}, {"video_generation": "on"})

    # A rollback keeps the flag as it is now: v1.0.0 comes back with video generation off.
    sample.ok("rollback", "--env", "local")
    assert sample.api_status()["version"] == "v1.0.0"
    assert sample.api_status()["video_generation"] == "off"
    assert sample.status()["flags"]["video_generation"]["state"] == "off"

    # --reset-flags: the shipyard.toml default again.
    sample.ok("release", "--version", "v1.1.0", "--reset-flags")
    assert sample.api_status() == {**sample.api_status(), "video_generation": "on",
                                   "version": "v1.1.0"}
    assert sample.status()["flags"]["video_generation"]["state"] == "on"
    assert sample.audit()[-1]["flags"] == "reset to defaults"


def test_a_flag_dry_run_writes_nothing_and_bad_flags_are_bad_input(sample: Sample) -> None:
    sample.ok("release", "--version", "v1.0.0")
    before = snapshot(sample.work, sample.remote, sample.registry_port)
    planned = sample.ok("flag", "--env", "local", "video_generation=off", "--dry-run")
    assert "[dry-run] that is the complete plan for video_generation=off → local" in planned.err
    assert [c.split()[1] for c in commands(planned.text, "docker")] == ["run", "pause"]
    for args, message in (
            (("video_generation=maybe",), "error: flag video_generation: 'maybe' is neither "
                                          "on nor off"),
            (("video=off",), "error: unknown flag 'video'"),
            (("video_generation",), "error: 'video_generation' is not NAME=on or NAME=off")):
        refused = sample.invoke("flag", "--env", "local", *args)
        assert refused.code == 2, refused.text
        assert refused.err.splitlines()[0] == message
        assert refused.err.splitlines()[1].startswith("hint: ")
    after = snapshot(sample.work, sample.remote, sample.registry_port)
    # The sample's registry runs from .shipyard/ and logs every request, the snapshot's own
    # catalog reads included: its access log is the one file any reader changes.
    assert [d for d in differences(before, after)
            if not d.startswith(f"/files/{REGISTRY_LOG}:")] == []
    assert sample.api_status()["video_generation"] == "on"


def test_a_flag_change_killed_with_kill_9_shows_as_pending_and_the_next_run_settles_it(
        sample: Sample) -> None:
    """kill -9 of the whole `invoke flag` tree once it has said a change is under way and its
    new revision container exists, before traffic moves: `status` must not claim the old or
    the new state as verified, and the same `invoke flag --break-lock` must settle it, with
    what serves matching."""
    sample.ok("release", "--version", "v1.0.0")
    served = sample.serving_api()["name"]
    # This copy's api-server revisions only: another app on the engine may run the same names.
    mine = ("--filter", "label=dev.shipyard.service=api-server",
            "--filter", f"label=dev.shipyard.root={sample.work.resolve()}")
    state = sample.work / ".shipyard" / "flags" / "local.json"

    def new_revision_started() -> bool:
        pending = state.exists() and json.loads(state.read_text() or "{}").get("pending")
        names = docker("ps", "--all", *mine, "--format", "{{.Names}}").split()
        return bool(pending) and any(name != served for name in names)

    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    proc = subprocess.Popen((sys.executable, "-m", "invoke", "flag", "--env", "local",
                             "video_generation=off"), cwd=sample.work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while not new_revision_started():
        assert proc.poll() is None, f"the flag change ended before the kill: {proc.stderr}"
        assert time.monotonic() < deadline, "no new revision was started under a pending change"
    kill_tree(proc)

    status = sample.status()
    assert status["flags_pending"] == {"video_generation": "off"}
    assert status["flags"]["video_generation"]["state"] == "on"  # the last verified state
    assert status["serving"] == "v1.0.0"
    shown = sample.ok("status")
    assert "a flag change did not finish (video_generation=off)" in shown.err, shown.text
    assert sample.api_status()["video_generation"] == "on"  # the proxy never switched

    # The killed run's lock names its dead holder; only --break-lock takes it over.
    refused = sample.invoke("flag", "--env", "local", "video_generation=off")
    assert refused.code != 0 and "which has died" in refused.err, refused.text
    assert "--break-lock" in refused.err
    settled = sample.ok("flag", "--env", "local", "video_generation=off", "--break-lock")
    assert "a flag change did not finish earlier (video_generation=off)" in settled.err
    assert sample.api_status() == {**sample.api_status(), "video_generation": "off",
                                   "version": "v1.0.0"}
    status = sample.status()
    assert status["flags_pending"] is None
    assert status["flags"]["video_generation"]["state"] == "off"
    # What the kill left half-started is gone: one running api-server revision, the one served.
    running = docker("ps", *mine, "--filter", "status=running", "--format", "{{.Names}}"
                     ).split()
    assert running == [sample.serving_api()["name"]], running
