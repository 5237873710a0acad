"""The per-environment deploy lock: one holder at a time, named when refused."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
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


@pytest.mark.parametrize("content", ["{not json", "", "[]", '{"pid": 4242}'])
def test_an_unreadable_lock_file_is_refused_until_broken(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str) -> None:
    path = lock_path(tmp_path, "local")
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(LockHeld) as refused, env_lock(tmp_path, "local", "release", "v2"):
        pass
    assert refused.value.message == f"local is locked by an unreadable lock file ({path})"
    assert refused.value.hint == BREAK_HINT
    assert path.read_text() == content

    with env_lock(tmp_path, "local", "release", "v2", break_lock=True):
        holder = read_holder(path)
        assert holder is not None and holder.pid == os.getpid()
    assert capsys.readouterr().err == f"breaking the unreadable local lock ({path})\n"
    assert not path.exists()


# Each racer waits for the start file, then takes the lock (holding it for a second when it
# wins). The holder record is made slowly (asdict sleeps), which widens any moment in which the
# lock file exists but does not name its holder yet.
RACER = """
import sys, time
from dataclasses import asdict
from pathlib import Path
import shipyard.state.lock as lock

def slow_asdict(holder):
    time.sleep(0.3)
    return asdict(holder)

lock.asdict = slow_asdict
root, start, break_lock = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "yes"
while not start.exists():
    time.sleep(0.001)
try:
    with lock.env_lock(root, "local", "release", "v1.0.0", break_lock=break_lock):
        print("won", flush=True)
        time.sleep(1.0)
except lock.LockHeld as exc:
    print(f"refused: {exc.message}", flush=True)
"""


@pytest.mark.parametrize("break_lock", [False, True])
def test_two_processes_racing_for_the_lock_exactly_one_wins(tmp_path: Path,
                                                            break_lock: bool) -> None:
    start = tmp_path / "start"
    racers = [subprocess.Popen((sys.executable, "-c", RACER, str(tmp_path), str(start),
                                "yes" if break_lock else "no"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(2)]
    time.sleep(0.5)  # both are waiting
    start.touch()
    said = {racer.pid: racer.communicate(timeout=60) for racer in racers}
    outcomes = sorted(out.strip().split(":")[0] for out, _ in said.values())
    assert outcomes == ["refused", "won"], said
    winner = next(pid for pid, (out, _) in said.items() if out.strip() == "won")
    loser = next(out.strip() for out, _ in said.values() if out.strip() != "won")
    assert re.fullmatch(rf"refused: local is locked: a deploy is running, pid {winner} on "
                        rf"{re.escape(HOST)} \(release v1\.0\.0, since {SINCE}\)", loser), said
    assert not lock_path(tmp_path, "local").exists()  # the winner released it
