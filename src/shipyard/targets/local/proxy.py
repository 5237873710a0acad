"""The local environment's reverse proxy: nginx on 127.0.0.1, one `server` per service on its
stable port, everything under `.shipyard/local/proxy/` (config, pid, logs, temp dirs).

A traffic switch writes a new config, checks it with `nginx -t`, reloads gracefully and returns
only once every old worker has exited: from then on no request can reach the old revisions, so
they may be stopped. Requests in flight finish on the old workers meanwhile; none fails.

What serves is read from nginx itself, not from a file: every answer through the proxy carries
`X-Shipyard-Revision: CONTAINER`, so a crash between a reload and any bookkeeping cannot make
`status` or the next deploy believe an old answer.
"""

from __future__ import annotations

import http.client
import os
import select
import socket
import time
from collections.abc import Mapping
from pathlib import Path

from shipyard.commands import nginx
from shipyard.errors import ShipyardError
from shipyard.exec.runner import Runner
from shipyard.state.records import read_json, write_json
from shipyard.targets.local.nginx_conf import (
    DRAIN_SECONDS,
    PROBE_HEADER,
    REVISION_HEADER,
    Upstream,
    render,
    worker_user,
)
from shipyard.ui import console

START_HINT = "is another program on that port? see {log}, or change proxy_ports"


def port_taken(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _proc_stat(pid: int) -> tuple[str, str, int] | None:
    """(command name, state, parent pid) of a process, None when there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = text[text.find("(") + 1:text.rfind(")")]
    state, ppid = text[text.rfind(")") + 2:].split()[:2]
    return comm, state, int(ppid)


def children(pid: int) -> set[int]:
    """Live child processes of `pid` (nginx workers of a master)."""
    kids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = _proc_stat(int(entry.name))
            if info is not None and info[2] == pid and info[1] != "Z":
                kids.add(int(entry.name))
    return kids


def revision_answering(port: int, path: str, timeout: float = 2.0) -> str | None:
    """The X-Shipyard-Revision of an answer through the proxy on 127.0.0.1:PORT, if a revision
    answered at all (nginx's own 502/503/504 mean nothing behind it serves)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={PROBE_HEADER: "1"})
        response = connection.getresponse()
        response.read(65536)
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()
    if response.status in (502, 503, 504):
        return None
    return response.getheader(REVISION_HEADER)


class _Exits:
    """Waits for processes (the old workers of `master`) to exit: on pidfds, woken by the
    kernel at each exit, where Linux has them; else by looking at /proc every 20 ms."""

    def __init__(self, master: int, pids: set[int]) -> None:
        self.master, self.pids, self.fds = master, set(pids), {}
        for pid in pids:
            try:
                fd = os.pidfd_open(pid)
            except (AttributeError, OSError):  # gone already, or no pidfds here
                continue
            info = _proc_stat(pid)  # still the worker it was, not a recycled pid?
            if info is None or info[2] != master or info[1] == "Z":
                os.close(fd)
                self.pids.discard(pid)
            else:
                self.fds[fd] = pid

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        pending = set(self.fds)
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select(list(pending), [], [], left)
            pending -= set(ready)
        rest = self.pids - set(self.fds.values())  # those without a pidfd
        while rest & children(self.master):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = {}


class LocalProxy:
    def __init__(self, root_state: Path, ports: Mapping[str, int], runner: Runner) -> None:
        self.home = root_state / "local" / "proxy"
        self.ports = dict(ports)
        self.runner = runner
        self.conf = self.home / "nginx.conf"
        self.state_file = self.home / "upstreams.json"

    def master_pid(self) -> int | None:
        """The running master's pid (not a zombie, not a recycled pid), else None."""
        try:
            pid = int((self.home / "nginx.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        info = _proc_stat(pid)
        return pid if info and info[0] == "nginx" and info[1] != "Z" else None

    def serving(self, paths: Mapping[str, str]) -> dict[str, str]:
        """service → the container that answers through the proxy now, asked of nginx itself
        (one request to each service's `paths[service]`). A service whose upstream does not
        answer (502/503/504, or nothing) is left out."""
        if self.master_pid() is None:
            return {}
        found = {}
        for name, port in self.ports.items():
            answer = revision_answering(port, paths.get(name, "/"))
            if answer:
                found[name] = answer
        return found

    def upstreams(self) -> dict[str, Upstream]:
        """What the config on disk points at, per service: restored when nginx starts."""
        if not self.state_file.exists():
            return {}
        services = read_json(self.state_file).get("services") or {}
        return {name: Upstream(entry["container"], int(entry["port"]))
                for name, entry in services.items() if name in self.ports}

    def up(self, upstreams: Mapping[str, Upstream]) -> bool:
        """Start nginx unless it runs. True when it was started now."""
        if self.master_pid() is not None:
            return False
        taken = [f"{port} ({name})" for name, port in self.ports.items() if port_taken(port)]
        if taken:
            raise ShipyardError(f"proxy port already taken by another program: "
                                f"{', '.join(taken)}", hint="stop that program, or pick other "
                                "proxy_ports in shipyard.toml")
        candidate = self._write(upstreams)
        self.runner.run(nginx.check_config(self.home, candidate))
        if not self.runner.dry_run:
            os.replace(candidate, self.conf)
        self.runner.run(nginx.start(self.home, self.conf), timeout=30,
                        hint=START_HINT.format(log=self.home / "logs" / "error.log"))
        self._save(upstreams)
        ports = ", ".join(f"{s} 127.0.0.1:{p}" for s, p in self.ports.items())
        console.note(f"local proxy: {'would start' if self.runner.dry_run else 'started'} "
                     f"nginx ({ports})")
        return True

    def switch(self, upstreams: Mapping[str, Upstream]) -> bool:
        """Point every service at `upstreams` at once; returns when old workers are gone:
        True, or False when one was still busy after the drain bound."""
        candidate = self._write(upstreams)
        self.runner.run(nginx.check_config(self.home, candidate))
        if self.runner.dry_run:
            self.runner.run(nginx.reload(self.home, self.conf))
            return True
        os.replace(candidate, self.conf)
        self._save(upstreams)  # describes the config on disk; what serves is asked of nginx
        master = self.master_pid()
        old = _Exits(master, children(master)) if master else None
        try:
            self.runner.run(nginx.reload(self.home, self.conf))
            return old is None or self._drain(old)
        finally:
            if old is not None:
                old.close()

    def _drain(self, old: _Exits) -> bool:
        # nginx's master itself waits 100 ms after starting the new workers before it tells
        # the old ones to quit: most of this wait is that.
        if not old.wait(DRAIN_SECONDS + 5):
            console.note(f"local proxy: old nginx workers still busy after {DRAIN_SECONDS}s")
            return False
        return True

    def down(self) -> bool:
        """Graceful stop; True when nginx was running."""
        pid = self.master_pid()
        if pid is None:
            return False
        self.runner.run(nginx.shutdown(self.home, self.conf), check=False)
        deadline = time.monotonic() + DRAIN_SECONDS + 5
        while not self.runner.dry_run and self.master_pid() is not None:
            if time.monotonic() > deadline:
                self.runner.run(("kill", "-TERM", str(pid)), check=False)
                break
            time.sleep(0.05)
        return True

    def _write(self, upstreams: Mapping[str, Upstream]) -> Path:
        candidate = self.home / "nginx.conf.next"
        if not self.runner.dry_run:
            for sub in ("logs", "temp"):
                (self.home / sub).mkdir(parents=True, exist_ok=True)
            candidate.write_text(render(self.ports, upstreams, self.home, worker_user()))
        return candidate

    def _save(self, upstreams: Mapping[str, Upstream]) -> None:
        if self.runner.dry_run:
            return
        write_json(self.state_file, {"services": {
            name: {"container": u.container, "port": u.port} for name, u in upstreams.items()}})
