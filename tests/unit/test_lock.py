"""The per-environment deploy lock: one holder at a time, named when refused."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.errors import ShipyardError
from shipyard.state.lock import LockHeld, env_lock, lock_path, read_holder

HOST = socket.gethostname()
SINCE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
BREAK_HINT = "if no deploy is running, rerun with --break-lock (the rerun resumes)"


def test_lock_is_taken_and_released(tmp_path: Path) -> None:
    path = lock_path(tmp_path, "local")
    with env_lock(tmp_path, "local", "release", "v1.0.0"):
        holder = read_holder(path)
        assert holder is not None and holder.pid == os.getpid()
        assert holder.action == "release" and holder.version == "v1.0.0"
    assert not path.exists()


def test_lock_is_released_when_the_work_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), env_lock(tmp_path, "local", "deploy", "v1.0.0"):
        raise RuntimeError("boom")
    assert not lock_path(tmp_path, "local").exists()


def test_live_holder_is_named_and_cannot_be_broken(tmp_path: Path) -> None:
    with env_lock(tmp_path, "local", "release", "v1.0.0"):
        for break_lock in (False, True):
            with pytest.raises(ShipyardError) as refused, \
                    env_lock(tmp_path, "local", "rollback", "v0.9.0", break_lock=break_lock):
                pass
            assert re.fullmatch(rf"local is locked: a deploy is running, pid {os.getpid()} on "
                                rf"{re.escape(HOST)} \(release v1\.0\.0, since {SINCE}\)",
                                refused.value.message), refused.value.message
            assert refused.value.hint == ("wait for it to finish; one deploy at a time per "
                                          "environment")
    # other environments are independent
    with env_lock(tmp_path, "local", "release", "v1.0.0"), \
            env_lock(tmp_path, "staging", "release", "v1.0.0"):
        pass


def dead_pid() -> int:
    proc = subprocess.Popen((sys.executable, "-c", "pass"))
    proc.wait()
    return proc.pid


def write_holder(tmp_path: Path, pid: int, started: str = "", host: str = HOST) -> Path:
    path = lock_path(tmp_path, "local")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "host": host, "action": "release",
                                "version": "v1.1.0", "since": "2026-01-01T00:00:00Z",
                                "started": started}))
    return path


def test_dead_holder_needs_break_lock_named_in_the_hint(tmp_path: Path) -> None:
    pid = dead_pid()
    path = write_holder(tmp_path, pid)
    with pytest.raises(ShipyardError) as refused, env_lock(tmp_path, "local", "release", "v2"):
        pass
    assert refused.value.message == (f"local is locked by pid {pid} on {HOST} (release v1.1.0, "
                                     "since 2026-01-01T00:00:00Z), which has died")
    assert refused.value.hint == BREAK_HINT
    assert path.exists()

    with env_lock(tmp_path, "local", "release", "v2", break_lock=True):
        holder = read_holder(path)
        assert holder is not None and holder.pid == os.getpid()


def test_recycled_pid_is_not_taken_for_the_holder(tmp_path: Path) -> None:
    # Our own pid, but a different process start time: the holder is gone.
    write_holder(tmp_path, os.getpid(), started="1")
    with pytest.raises(ShipyardError) as refused, env_lock(tmp_path, "local", "release", "v2"):
        pass
    assert refused.value.message == (f"local is locked by pid {os.getpid()} on {HOST} (release "
                                     "v1.1.0, since 2026-01-01T00:00:00Z), which has died")


def test_dry_run_takes_no_lock(tmp_path: Path) -> None:
    with env_lock(tmp_path, "local", "release", "v1", dry_run=True):
        assert not lock_path(tmp_path, "local").exists()


def test_a_holder_on_another_host_is_refused_and_broken_only_on_request(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_holder(tmp_path, 4242, host="build-7.example")
    text = path.read_text()
    with pytest.raises(LockHeld) as refused, env_lock(tmp_path, "local", "release", "v2"):
        pass
    assert refused.value.message == (
        "local is locked by pid 4242 on build-7.example (release v1.1.0, since "
        "2026-01-01T00:00:00Z), which runs on another host (cannot check it)")
    assert refused.value.hint == BREAK_HINT
    assert path.read_text() == text  # refused: left exactly as it was

    with env_lock(tmp_path, "local", "release", "v2", break_lock=True):
        holder = read_holder(path)
        assert holder is not None and (holder.pid, holder.host) == (os.getpid(), HOST)
    assert capsys.readouterr().err == (
        "breaking the stale local lock of pid 4242 on build-7.example (release v1.1.0, since "
        "2026-01-01T00:00:00Z)\n")

