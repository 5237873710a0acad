"""The local environment's reverse proxy: nginx on 127.0.0.1, one `server` per service on its
stable port, everything under `.shipyard/local/proxy/` (config, pid, logs, temp dirs).

A traffic switch writes a new config, checks it with `nginx -t`, reloads gracefully and returns
only once every old worker has exited: from then on no request can reach the old revisions, so
they may be stopped. Requests in flight finish on the old workers meanwhile; none fails.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shipyard.commands import nginx
from shipyard.errors import ShipyardError
from shipyard.exec.runner import Runner
from shipyard.state.records import read_json, write_json
from shipyard.ui import console

DRAIN_SECONDS = 30  # longest an in-flight request may hold an old worker after a switch
START_HINT = "is another program on that port? see {log}, or change proxy_ports"


@dataclass(frozen=True)
class Upstream:
    container: str
    port: int  # host port the container publishes on 127.0.0.1


def render(ports: Mapping[str, int], upstreams: Mapping[str, Upstream], home: Path,
           worker: tuple[str, str] | None) -> str:
    """The whole nginx.conf. `worker` = (user, group) for the workers when nginx runs as root."""
    head = [
        "# written by shipyard; rewritten at every deploy: do not edit",
        "worker_processes 1;",
        f"pid {home / 'nginx.pid'};",
        f"error_log {home / 'logs' / 'error.log'} warn;",
        f"worker_shutdown_timeout {DRAIN_SECONDS}s;",
    ]
    if worker is not None:
        head.append(f"user {worker[0]} {worker[1]};")
    temp = home / "temp"
    http = [
        f"access_log {home / 'logs' / 'access.log'} shipyard;",
        *(f"{kind}_temp_path {temp / kind};"
          for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")),
        "server_tokens off;",
        "client_max_body_size 64m;",
        # Responses are buffered in memory only and request bodies are streamed, so workers
        # never write temp files (they run as an unprivileged user that may not reach here).
        "proxy_max_temp_file_size 0;",
        "proxy_request_buffering off;",
    ]
    servers = [_server(name, port, upstreams.get(name)) for name, port in ports.items()]
    return "\n".join([*head, "events { worker_connections 1024; }", "http {",
                      _LOG_FORMAT, *(f"    {line}" for line in http), *servers, "}", ""])


_LOG_FORMAT = ("    log_format shipyard '$time_iso8601 $server_port \"$request\" $status "
               "$body_bytes_sent upstream=$upstream_addr $upstream_status ${request_time}s';")


def _server(service: str, port: int, upstream: Upstream | None) -> str:
    listen = f"        listen 127.0.0.1:{port};"
    if upstream is None:
        return "\n".join([
            f"    server {{  # {service}: no revision deployed yet",
            listen,
            "        default_type text/plain;",
            f'        location / {{ return 503 "{service}: no revision deployed yet\\n"; }}',
            "    }",
        ])
    return "\n".join([
        f"    upstream svc_{service} {{  # {upstream.container}",
        f"        server 127.0.0.1:{upstream.port} max_fails=0;",
        "    }",
        f"    server {{  # {service}",
        listen,
        "        location / {",
        f"            proxy_pass http://svc_{service};",
        "            proxy_http_version 1.1;",
        "            proxy_set_header Host $http_host;",
        "            proxy_set_header X-Real-IP $remote_addr;",
        "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "            proxy_set_header X-Forwarded-Proto $scheme;",
        "            proxy_next_upstream error timeout;",
        "            proxy_connect_timeout 5s;",
        "            proxy_send_timeout 60s;",
        "            proxy_read_timeout 300s;",
        "        }",
        "    }",
    ])


def worker_user() -> tuple[str, str] | None:
    """Workers of a root master run as `nobody` (its own group); otherwise as the caller."""
    if os.geteuid() != 0:
        return None
    try:
        nobody = pwd.getpwnam("nobody")
        return nobody.pw_name, grp.getgrgid(nobody.pw_gid).gr_name
    except KeyError:
        return None


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

    def upstreams(self) -> dict[str, Upstream]:
        """What the proxy points at, per service, as recorded at the last switch."""
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

    def switch(self, upstreams: Mapping[str, Upstream]) -> None:
        """Point every service at `upstreams` at once; returns when old workers are gone."""
        candidate = self._write(upstreams)
        self.runner.run(nginx.check_config(self.home, candidate))
        if self.runner.dry_run:
            self.runner.run(nginx.reload(self.home, self.conf))
            return
        os.replace(candidate, self.conf)
        master = self.master_pid()
        old = children(master) if master else set()
        self.runner.run(nginx.reload(self.home, self.conf))
        self._save(upstreams)
        if master is not None:
            self._drain(master, old)

    def _drain(self, master: int, old: set[int]) -> None:
        deadline = time.monotonic() + DRAIN_SECONDS + 5
        while old & children(master):
            if time.monotonic() > deadline:
                console.note(f"local proxy: old nginx workers still busy after {DRAIN_SECONDS}s")
                return
            time.sleep(0.02)

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
