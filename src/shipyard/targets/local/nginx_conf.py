"""The local proxy's nginx.conf: one `server` per service on its stable port, everything under
`.shipyard/local/proxy/`. Pure text, no I/O (the config is checked by `nginx -t` before use)."""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DRAIN_SECONDS = 30  # longest an in-flight request may hold an old worker after a switch
REVISION_HEADER = "X-Shipyard-Revision"  # on every answer: which revision container served it
PROBE_HEADER = "X-Shipyard-Probe"  # sent by shipyard's probes, which nginx does not log


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
        # shipyard's own "who serves?" probes are not traffic: they stay out of the log.
        f"map $http_{PROBE_HEADER.lower().replace('-', '_')} $shipyard_logged "
        "{ default 1; \"1\" 0; }",
        f"access_log {home / 'logs' / 'access.log'} shipyard if=$shipyard_logged;",
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
        f"            add_header {REVISION_HEADER} {upstream.container} always;",
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
