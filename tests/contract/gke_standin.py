"""A stand-in for the GKE API (container.googleapis.com v1), enough for `get-credentials`.

`gcloud container clusters get-credentials C --region R --project P` (and `clusters describe`)
send `GET /v1/projects/P/locations/R/clusters/C?alt=json` to the CONTAINER endpoint override
and need `endpoint`, `masterAuth.clusterCaCertificate` and `zone` in the answer (without `zone`
the context is named `gke_P_None_C`). gcloud then writes a kubeconfig entry `gke_P_R_C` to
`$KUBECONFIG` with `server: https://ENDPOINT`, the CA, and a user that runs the
`gke-gcloud-auth-plugin` exec plugin. That plugin reads `CLOUDSDK_AUTH_ACCESS_TOKEN` itself
(about 10 ms, no gcloud start-up), so kubectl sends `Authorization: Bearer fake`.

So a cluster here is a `KubeStandIn(tls=True, token="fake")`: its endpoint is
`127.0.0.1:PORT` and its self-signed certificate (made by openssl, valid for IP 127.0.0.1) is
the cluster CA. The kubeconfig gcloud writes then works unchanged: shipyard's deploy goes
through exactly the credentials path it will use on GKE (get-credentials, the exec plugin,
TLS, a bearer token), and a client that does not use that kubeconfig gets a TLS or 401 error.
(A plain-http `KubeStandIn` with `write_kubeconfig()` is simpler for tests of kubectl itself;
kubectl never sends credentials over http, which is why the GKE path is TLS.)

Start it with `GkeStandIn(project=...)` as a context manager, `add_cluster(name, region,
kube)`, and run gcloud with `gke_gcloud_env(...)`. Requests are logged as in KubeStandIn
(`requests`, `RecordedRequest`).

What it models: GET of a cluster in any location (a region or a zone): 404 NOT_FOUND for an
unknown cluster, 403 PERMISSION_DENIED for another project, 401 without a bearer token;
`status: RUNNING`, `currentMasterVersion` matching the Kubernetes stand-in's minor,
`privateClusterConfig.privateEndpoint` and `controlPlaneEndpointsConfig` pointing at the same
server (for `--internal-ip` / `--dns-endpoint`). What it does not: listing, creating or
changing clusters, operations, node pools, IAM (any token is accepted), the real DNS-based
endpoint, and the regional host names Cloud Run needs (the CONTAINER override is used as is).
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.contract.kube_standin import JSON, KubeStandIn, RecordedRequest

CLUSTER_PATH = re.compile(r"^/v1/projects/([^/]+)/locations/([^/]+)/clusters/([^/:]+)$")


def google_error(code: int, status: str, message: str) -> JSON:
    return {"error": {"code": code, "message": message, "status": status}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self.server.standin._serve(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, standin: GkeStandIn) -> None:
        self.standin = standin
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return


class GkeStandIn:
    """container.googleapis.com v1 clusters.get on 127.0.0.1; see the module docstring."""

    def __init__(self, project: str) -> None:
        self.project = project
        self.clusters: dict[tuple[str, str], KubeStandIn] = {}
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def add_cluster(self, name: str, location: str, kube: KubeStandIn) -> None:
        """Cluster NAME in LOCATION (region or zone) is the started KUBE stand-in (TLS)."""
        if not kube.tls:
            raise ValueError("get-credentials writes an https kubeconfig: use KubeStandIn(tls="
                             "True, token=...)")
        self.clusters[(location, name)] = kube

    def start(self) -> GkeStandIn:
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True,
                                        name="gke-standin")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> GkeStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The CONTAINER endpoint override, `http://127.0.0.1:PORT/`."""
        assert self._server is not None, "start() the stand-in first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def cluster_body(self, name: str, location: str, kube: KubeStandIn) -> JSON:
        ca = base64.b64encode(kube.ca_pem).decode()
        version = f"1.{kube.minor}.4-gke.1415000"
        self_link = f"projects/{self.project}/locations/{location}/clusters/{name}"
        regional = location.count("-") == 1
        return {
            "name": name, "location": location, "zone": location,
            "locations": [f"{location}-a", f"{location}-b", f"{location}-c"] if regional
            else [location],
            "endpoint": kube.endpoint, "status": "RUNNING",
            "currentMasterVersion": version, "currentNodeVersion": version,
            "initialClusterVersion": version,
            "masterAuth": {"clusterCaCertificate": ca},
            "privateClusterConfig": {"privateEndpoint": kube.endpoint},
            "controlPlaneEndpointsConfig": {
                "ipEndpointsConfig": {"enabled": True, "publicEndpoint": kube.endpoint,
                                      "privateEndpoint": kube.endpoint}},
            "autopilot": {"enabled": True},
            "selfLink": f"https://container.googleapis.com/v1/{self_link}",
        }

    def _serve(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode("utf-8", "replace") if length else ""
        record = RecordedRequest(handler.command, split.path, query,
                                 (handler.headers.get("Content-Type") or "").split(";")[0],
                                 json.loads(raw) if raw.strip().startswith("{") else None, raw,
                                 handler.headers.get("Authorization"),
                                 handler.headers.get("User-Agent") or "")
        with self._lock:
            self.requests.append(record)
        code, body = self._answer(handler.command, split.path, record)
        record.status = code
        data = json.dumps(body).encode()
        handler.send_response(code)
        handler.send_header("Content-Type", "application/json; charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(self, method: str, path: str, record: RecordedRequest) -> tuple[int, JSON]:
        if not (record.authorization or "").startswith("Bearer "):
            return 401, google_error(401, "UNAUTHENTICATED", "Request is missing required "
                                                             "authentication credential.")
        match = CLUSTER_PATH.match(path)
        if method != "GET" or not match:
            return 404, google_error(404, "NOT_FOUND", f"the GKE stand-in does not model "
                                                       f"{method} {path}")
        project, location, name = match.groups()
        if project != self.project:
            return 403, google_error(403, "PERMISSION_DENIED", f"Permission denied on resource "
                                                               f"project {project}.")
        kube = self.clusters.get((location, name))
        if kube is None:
            return 404, google_error(404, "NOT_FOUND", f"Not found: projects/{project}/"
                                                       f"locations/{location}/clusters/{name}.")
        return 200, self.cluster_body(name, location, kube)


def gke_gcloud_env(gke: GkeStandIn, config_dir: Path, *, home: Path,
                   kubeconfig: Path | None = None, token: str = "fake",
                   base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for gcloud and kubectl (and shipyard) against the stand-ins.

    Hermetic gcloud (a throwaway CLOUDSDK_CONFIG, a fixed access token that the
    gke-gcloud-auth-plugin also reads, no prompts, no usage reporting or update checks, the
    project) with CONTAINER pointed at GKE; HOME isolated (kubectl's discovery cache is
    `$HOME/.kube/cache`, and `~/.kube/config` is the user's kubeconfig: a test can check it
    stays untouched); KUBECONFIG set only when given.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ if base is None else base)
    env.pop("KUBECONFIG", None)
    env.update({
        "HOME": str(home),
        "CLOUDSDK_CONFIG": str(config_dir), "CLOUDSDK_AUTH_ACCESS_TOKEN": token,
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
        "CLOUDSDK_SURVEY_DISABLE_PROMPTS": "true",
        "CLOUDSDK_CORE_SHOULD_PROMPT_TO_ENABLE_API": "false",
        "CLOUDSDK_CORE_PROJECT": gke.project,
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER": gke.url,
    })
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return env
