"""The local target's view of a revision container (docker inspect's JSON), and the wait for
old nginx workers to exit, with real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from shipyard.targets.local.proxy import _Exits
from shipyard.targets.local.revisions import Container

INSPECTED = {"name": "/shipyard-demo-local-alpha-v1.0.0-abababababab-cdcdcd", "image": "i",
             "status": "running", "running": True, "exit_code": 0,
             "finished": "0001-01-01T00:00:00Z", "labels": {"dev.shipyard.service": "alpha"},
             "ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "32802"}]}}


def test_a_running_container_runs_and_is_not_paused() -> None:
    found = Container.from_json({**INSPECTED, "paused": False})
    assert (found.running, found.paused, found.service) == (True, False, "alpha")
    assert found.name == "shipyard-demo-local-alpha-v1.0.0-abababababab-cdcdcd"


def test_a_paused_container_does_not_count_as_running() -> None:
    """docker says Running for a paused container too: it cannot answer, so it is not."""
    found = Container.from_json({**INSPECTED, "status": "paused", "paused": True})
    assert (found.running, found.paused) == (False, True)
    assert found.host_port(8080) == 32802  # its port stays published while it is frozen


def test_a_stopped_container_and_an_inspect_without_the_paused_field() -> None:
    found = Container.from_json({**INSPECTED, "status": "exited", "running": False,
                                 "exit_code": 143})
    assert (found.running, found.paused, found.exit_code) == (False, False, 143)


def _sleeper(seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen((sys.executable, "-c", f"import time; time.sleep({seconds})"))


def test_exits_waits_for_each_child_to_exit_and_not_longer() -> None:
    short, long = _sleeper(0.3), _sleeper(0.6)
    try:
        exits = _Exits(os.getpid(), {short.pid, long.pid})
        assert len(exits.fds) == 2  # pidfds on this kernel
        started = time.monotonic()
        assert exits.wait(10)
        took = time.monotonic() - started
        assert 0.4 <= took < 3, took
        exits.close()
    finally:
        for proc in (short, long):
            proc.kill()
            proc.wait()


def test_exits_gives_up_at_its_bound() -> None:
    proc = _sleeper(30)
    try:
        exits = _Exits(os.getpid(), {proc.pid})
        started = time.monotonic()
        assert not exits.wait(0.3)
        assert time.monotonic() - started < 2
        exits.close()
    finally:
        proc.kill()
        proc.wait()


def test_exits_ignores_a_pid_that_is_not_a_child_of_the_master() -> None:
    """A pid recycled by another program between the listing and the wait is not waited for."""
    proc = _sleeper(30)
    try:
        exits = _Exits(1, {proc.pid})  # not init's child: like a recycled pid
        assert exits.fds == {} and exits.pids == set()
        assert exits.wait(0.1)
    finally:
        proc.kill()
        proc.wait()
