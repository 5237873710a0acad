"""nginx: the rendered config and the argv builders."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from shipyard.commands import nginx
from shipyard.targets.local.nginx_conf import Upstream, render
from tests.conftest import require_tool

HOME = Path("/srv/app/.shipyard/local/proxy")
PORTS = {"api-server": 8081, "web": 8082}
UPSTREAMS = {"api-server": Upstream("shipyard-demo-local-api-server-v1.0.0-abc", 32768)}


def conf(worker: tuple[str, str] | None = None, home: Path = HOME) -> str:
    return render(PORTS, UPSTREAMS, home, worker)


def test_every_server_listens_on_loopback_only() -> None:
    listens = re.findall(r"^\s*listen (.+);$", conf(), re.MULTILINE)
    assert listens == ["127.0.0.1:8081", "127.0.0.1:8082"]


def test_a_deployed_service_proxies_to_its_revision() -> None:
    text = conf()
    block = text[text.index("upstream svc_api-server"):text.index("server {  # web")]
    assert "server 127.0.0.1:32768 max_fails=0;" in block
    assert "proxy_pass http://svc_api-server;" in block
    assert "proxy_next_upstream error timeout;" in block
    assert "# shipyard-demo-local-api-server-v1.0.0-abc" in block
    assert "reuseport" not in text  # one shared socket: a reload never drops a queued connection


def test_a_service_without_revision_answers_503() -> None:
    text = conf()
    web = text[text.index("server {  # web"):]
    assert 'return 503 "web: no revision deployed yet\\n";' in web
    assert "upstream svc_web" not in text


def test_everything_nginx_touches_is_under_its_prefix() -> None:
    text = conf()
    paths = re.findall(r"(?<=\s)/[^\s;]+", text)
    assert paths and all(p.startswith(str(HOME) + "/") for p in paths), paths
    assert "include" not in text  # no /etc/nginx/mime.types or the like
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        assert f"{kind}_temp_path {HOME}/temp/{kind};" in text
    assert f"pid {HOME}/nginx.pid;" in text
    assert f"access_log {HOME}/logs/access.log shipyard if=$shipyard_logged;" in text


def test_every_answer_names_its_revision_and_probes_stay_out_of_the_access_log() -> None:
    text = conf()
    assert 'map $http_x_shipyard_probe $shipyard_logged { default 1; "1" 0; }' in text
    assert ("add_header X-Shipyard-Revision shipyard-demo-local-api-server-v1.0.0-abc always;"
            in text)


def test_workers_never_write_temp_files_and_drain_in_bounded_time() -> None:
    text = conf()
    assert "proxy_max_temp_file_size 0;" in text
    assert "proxy_request_buffering off;" in text
    assert "worker_shutdown_timeout 30s;" in text


def test_worker_user_only_when_given() -> None:
    assert "user " not in conf()
    assert "user nobody nogroup;" in conf(("nobody", "nogroup"))


def test_argv_builders() -> None:
    prefix, config = Path("/p"), Path("/p/nginx.conf")
    base = ("nginx", "-p", "/p/", "-c", "/p/nginx.conf")
    assert nginx.check_config(prefix, config) == (*base, "-t", "-q")
    assert nginx.start(prefix, config) == base
    assert nginx.reload(prefix, config) == (*base, "-s", "reload")
    assert nginx.shutdown(prefix, config) == (*base, "-s", "quit")
    assert nginx.start(prefix, config, nginx="/usr/sbin/nginx")[0] == "/usr/sbin/nginx"
    assert nginx.version() == ("nginx", "-v")


@pytest.mark.integration
def test_the_real_nginx_accepts_the_rendered_config(tmp_path: Path) -> None:
    require_tool("nginx", "nginx -t checks the rendered config")
    (tmp_path / "logs").mkdir()
    (tmp_path / "temp").mkdir()
    path = tmp_path / "nginx.conf"
    path.write_text(conf(home=tmp_path))
    done = subprocess.run(nginx.check_config(tmp_path, path), capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
