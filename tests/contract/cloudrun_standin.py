"""A stand-in for the Cloud Run Admin API (Knative serving v1) that the real gcloud talks to.

Start it with `CloudRunStandIn(project=..., region=...)` as a context manager (the contract
tests' `cloudrun` fixture does), and give gcloud `gcloud_env(tmp_path, standin)`
(tests/contract/gcloud_env.py): gcloud then sends every Cloud Run request to this server as an
HTTP proxy (`GET http://us-central1-run.test:PORT/apis/...`); the server strips scheme and
host and takes the region from the host prefix. Everything stays on 127.0.0.1.

What it models (as gcloud 528 uses it, see ../shared/TOOLING-FACTS.md):

- Services under `/apis/serving.knative.dev/v1/namespaces/PROJECT/services[/NAME]`: GET (404
  with Cloud Run's message when unknown), POST create (409 when it exists), PUT replace (404
  when unknown; 409 when `metadata.resourceVersion` is stale), DELETE, GET list (with
  `labelSelector`). Services are regional: one in us-central1 is not seen from europe-west1.
  Another namespace than the stand-in's project answers 403.
- Validation the platform does server-side (gcloud 528 sends, for one, a label key
  `dev.shipyard.version` without complaint; a test shows it): service names (DNS
  label, at most 49 characters); label keys (`[a-z][a-z0-9_-]{0,62}`, or a known system
  prefix such as `run.googleapis.com/`) and values (`[a-z0-9_-]{0,63}`) on the service and the
  template; revision names (`SERVICE-...`, a DNS label under 64 characters); tags (DNS label,
  tag + service name at most 46 characters, unique); env names unique and not reserved (`PORT`,
  `K_SERVICE`, `K_REVISION`, `K_CONFIGURATION`); an env var has `value` or
  `valueFrom.secretKeyRef {name, key}` with key `latest` or a number, not both; traffic
  entries name exactly one of `revisionName` / `latestRevision: true`, percents are 0-100 and
  sum to 100, a named revision exists. A violation is a 400 with a message; nothing changes.
- Revisions: a create or replace whose `spec.template` differs from the latest revision's makes
  a new revision, named `spec.template.metadata.name` when sent (gcloud sends one with `--tag`;
  an existing name with another template is a 409, as on Cloud Run), else `SERVICE-0000N-xyz`.
  A replace with the same template (an `update-traffic`) makes none. Defaults are filled in as
  Cloud Run does (containerConcurrency 80, timeoutSeconds 300, port 8080, 1 CPU / 512Mi, the
  default compute service account) so a GET-modify-PUT round trip is stable. Each revision has
  the labels `serving.knative.dev/service|configuration|configurationGeneration`, the
  template's labels and annotations, `spec` as sent (env `secretKeyRef`s kept as sent), and
  conditions `Ready`, `ContainerHealthy`, `ResourcesAvailable` and `Active` (True only while
  the revision serves a non-zero percent). Revisions are listed with
  `GET .../revisions?labelSelector=serving.knative.dev/service = S` (`=`, `==`, `!=`, any
  spacing, comma-separated), got and deleted one by one (deleting a revision that serves or is
  tagged is a 400).
- Status, computed at once on every write: `metadata.generation` increments on every spec
  change and `status.observedGeneration` equals it; `latestCreatedRevisionName`,
  `latestReadyRevisionName` (the newest revision that became Ready), `url`, `address.url`,
  conditions `Ready`, `ConfigurationsReady`, `RoutesReady`, and `status.traffic[]`
  (`revisionName`, `percent` when non-zero, `latestRevision` when true, `tag`, `url` for tags)
  resolved from `spec.traffic` (`latestRevision: true` → the latest ready revision; no
  `spec.traffic` means 100% to the latest). As in Knative, when any traffic target is a
  revision that is not Ready (a failed revision kept by a tag, say), the route is not updated:
  `status.traffic` keeps what served before and RoutesReady / Ready are False with that
  revision's message, so a later deploy that still references it fails too (Knative's route
  reconciler does this; a public report of Cloud Run doing it: Lore-Hex/quill-router#782, "the
  next deploy created healthy revision ... but still returned the old revision's failure").
  Writes are answered fresh and Ready, so gcloud does not poll; `reconcile_gets=N` makes the
  next N GETs of a written service answer the old status with Ready Unknown instead, so gcloud
  polls.
- HTTP: every Ready revision gets its own server on a free 127.0.0.1 port, `http://127.0.0.1:P`,
  given as the revision's `status.url` (an extension: real revisions have no URL) and as the
  URL of every tag pointing at it. It answers as the sample images do: `GET /healthz` (and the
  template's startup/liveness probe path) → 200 `ok\\n`; `GET /version` → the version, no
  newline; `GET /api/status` → JSON with service, version and `video_generation` ("on" /
  "off", read from the first container's literal env `VIDEO_GENERATION_ENABLED` as the sample
  api-server's entrypoint reads it; absent: "on"); anything else 404. Each service's
  `status.url` is a router that answers from the revisions in `status.traffic` by percent
  (deterministic: request i goes to the target whose cumulative percent range holds i % 100), or
  503 when nothing serves. A failed revision has no server and no URL.
- Who may call those URLs: a service whose IAM policy grants `roles/run.invoker` to `allUsers`
  (`--allow-unauthenticated`) is public; any other needs `Authorization: Bearer ID_TOKEN`,
  where ID_TOKEN is one the stand-in minted or `standin.identity_token`: no header → 403, any
  other token (the access token included) → 401. gcloud can mint one offline through the
  stand-in: `gcloud auth print-identity-token --impersonate-service-account=SA
  --audiences=URL` (gcloud_env points IAMCREDENTIALS here; `generateAccessToken` and
  `generateIdToken` are answered). IAM on services: `:testIamPermissions` grants everything
  asked, `:getIamPolicy` / `:setIamPolicy` keep a policy per service.
- The version a revision answers, first rule that applies: (1) `wrong_version(service, V)`
  was armed for it → V; (2) `image_version(image, V)` was set for its image (the full
  reference, or just its `sha256:` digest) → V; (3) the first container has an env var
  `VERSION` or `APP_VERSION` with a literal `value` → that value; (4) a template label named
  `version` or ending in `-version` / `_version` (first in sorted key order, e.g.
  `shipyard-version`, `dev-shipyard-version`) → its value decoded from label form:
  `vX-Y-Z[-rest]` becomes `vX.Y.Z[-rest with "-" read as "."]`, so `v1-1-0` → `v1.1.0`,
  `v1-1-0-rc-1` → `v1.1.0-rc.1`; other values as they are; (5) an image referenced by tag
  `...:TAG` → TAG; (6) otherwise `unknown`. Rule (2) is the one that catches a client that
  deploys the wrong image with the right label.
- Knobs, each for the next revision created for that service (one-shot): `fail_ready(service,
  message)` → it ends with Ready False and that message (gcloud exits 1 printing it);
  `wrong_version(service, version)` → Ready but answers that version. And at once:
  `pin(service, revision)` → a human's `update-traffic --to-revisions REV=100` (tags kept);
  `image_version(image, version)`; `delete_revision(service, revision)` (out of band, no
  checks, so a rollback can find its revision gone).
- Request log: `standin.requests` is every request in order as `RecordedRequest(method, host,
  path, query, body, raw, command, status, headers)`; `command` is gcloud's command from its
  User-Agent (`gcloud.run.deploy`). `standin.writes(service)` are its POST/PUT/DELETEs.
  `standin.unhandled` lists requests it does not model (each answered 404, or 405 for CONNECT;
  nothing is forwarded anywhere).
- From another process: `python -m tests.contract.cloudrun_standin --config-dir DIR` prints
  the gcloud settings as `export` lines and serves until SIGTERM or `--seconds`; the knobs are
  `POST /_standin/KNOB` with the keyword arguments as JSON, the log `GET /_standin/requests`.

What it does not model: the v2 API, jobs, domain mappings, Cloud Run for Anthos; long-running
operations (no `run.googleapis.com/operation-id` annotation is ever returned, `:wait` is 404);
real containers (nothing runs the image, env and secrets are never resolved, a missing secret
is not noticed); cold starts, scaling, min/max instances, CPU or memory limits, concurrency,
request timeouts (kept as sent, not enforced); startup probes other than answering the path;
real run.app URLs (tag URLs move with their tag, they are not stable hosts); audiences of ID
tokens (any token it minted is accepted); IAM on anything but services (deploy/SA permissions
always succeed); Cloud Run's `Retired` revisions and its occasional lag of
`latestReadyRevisionName` for no-traffic revisions; quotas, rate limits, latency beyond
`reconcile_gets`; gzip; multiple projects.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

KNATIVE = "/apis/serving.knative.dev/v1/namespaces/"
CONTROL = "/_standin/"
SERVICE_LABEL = "serving.knative.dev/service"
RESERVED_ENV = frozenset({"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"})
SYSTEM_LABEL_PREFIXES = ("run.googleapis.com/", "serving.knative.dev/", "client.knative.dev/",
                         "cloud.googleapis.com/", "networking.knative.dev/",
                         "autoscaling.knative.dev/", "features.knative.dev/")
DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
USER_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
USER_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
SECRET_VERSION = re.compile(r"latest|[1-9][0-9]*")
LABEL_VERSION = re.compile(r"v(\d+)[-_](\d+)[-_](\d+)(?:-(.+))?")
PUBLIC_MEMBERS = frozenset({"allUsers"})
INVOKER_ROLE = "roles/run.invoker"


class ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
              404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 409: "ALREADY_EXISTS",
              503: "UNAVAILABLE"}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message,
                          "status": self.STATUS.get(self.code, "UNKNOWN")}}


class Unmodelled(ApiError):
    """A request the stand-in does not model: 404, and listed in `standin.unhandled`."""


@dataclass
class RecordedRequest:
    """One request as the stand-in received it. `host` is the host gcloud addressed
    (`us-central1-run.test:PORT`), `path` has no scheme, host or query, `query` is the query
    string (last value of each key), `body` the parsed JSON (None when empty or not JSON), `raw`
    the body as text, `command` gcloud's command from the User-Agent (`gcloud.run.deploy`;
    empty for other clients), `status` the HTTP status answered, `headers` as received."""

    method: str
    host: str
    path: str
    query: dict[str, str]
    body: Any
    raw: str
    command: str
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.query.items() if k != "alt")
        return f"{self.method} {self.path}{'?' + query if query else ''} -> {self.status}"


# -- small HTTP servers ----------------------------------------------------------------------

class _Server:
    """A ThreadingHTTPServer on a free loopback port, served from a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={
            "poll_interval": 0.05}, name=f"standin-{self.port}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=2)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # an idle keep-alive connection closes by itself

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, code: int, payload: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


# -- state -----------------------------------------------------------------------------------

@dataclass
class Revision:
    name: str
    service: str
    region: str
    seq: int  # creation order across the stand-in
    generation: int  # the configuration generation that made it
    template: dict[str, Any]
    created: str
    uid: str
    ready: bool
    message: str
    version: str
    health_paths: frozenset[str]
    server: _Server | None = None
    hits: list[str] = field(default_factory=list)

    @property
    def url(self) -> str | None:
        return self.server.url if self.server else None

    @property
    def image(self) -> str:
        return str(self.template["spec"]["containers"][0].get("image", ""))


@dataclass
class Service:
    name: str
    region: str
    namespace: str
    metadata: dict[str, Any]
    spec: dict[str, Any]
    revisions: list[Revision] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    effective: list[dict[str, Any]] = field(default_factory=list)  # resolved, serving traffic
    policy: dict[str, Any] = field(default_factory=lambda: {"version": 1, "etag": "BwYAAAAAAAA="})
    stale_gets: int = 0
    stale_status: dict[str, Any] | None = None
    router: _Server | None = None
    router_hits: int = 0

    def revision(self, name: str) -> Revision | None:
        return next((r for r in self.revisions if r.name == name), None)

    @property
    def public(self) -> bool:
        return any(b.get("role") == INVOKER_ROLE and PUBLIC_MEMBERS & set(b.get("members", ()))
                   for b in self.policy.get("bindings", ()))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _condition(kind: str, ok: bool | None, message: str = "", reason: str = "",
               severity: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, "status": {True: "True", False: "False",
                                                    None: "Unknown"}[ok],
                           "lastTransitionTime": _now()}
    if message:
        out["message"] = message
    if reason:
        out["reason"] = reason
    if severity:
        out["severity"] = severity
    return out


def _b64(part: Any) -> str:
    raw = part.encode() if isinstance(part, str) else json.dumps(part).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_label_version(value: str) -> str:
    """`v1-1-0` → `v1.1.0`, `v1-1-0-rc-1` → `v1.1.0-rc.1`; other values unchanged."""
    match = LABEL_VERSION.fullmatch(value)
    if not match:
        return value
    major, minor, patch, rest = match.groups()
    base = f"v{major}.{minor}.{patch}"
    return f"{base}-{rest.replace('-', '.')}" if rest else base


def video_generation(template: dict[str, Any]) -> str:
    """"on"/"off" as the sample api-server's entrypoint reads VIDEO_GENERATION_ENABLED from its
    first container's literal env (absent: on; a value it refuses: "invalid")."""
    container = (template.get("spec") or {}).get("containers", [{}])[0]
    value = next((str(e.get("value", "")) for e in container.get("env") or []
                  if e.get("name") == "VIDEO_GENERATION_ENABLED"), "true")
    if value in ("true", "TRUE", "True", "1", "yes", "on"):
        return "on"
    return "off" if value in ("false", "FALSE", "False", "0", "no", "off") else "invalid"


def parse_label_selector(selector: str) -> list[tuple[str, str, str]]:
    """`a = b, c!=d` → [("a", "=", "b"), ("c", "!=", "d")]."""
    out = []
    for part in filter(None, (p.strip() for p in selector.split(","))):
        match = re.fullmatch(r"([^=!\s]+)\s*(==|=|!=)\s*(\S*)", part)
        if not match:
            raise ApiError(400, f"unable to parse requirement: {part!r}")
        key, op, value = match.groups()
        out.append((key, "!=" if op == "!=" else "=", value))
    return out


def _selected(labels: dict[str, str], selector: list[tuple[str, str, str]]) -> bool:
    return all((labels.get(k) == v) == (op == "=") for k, op, v in selector)


class CloudRunStandIn:
    """The Cloud Run Admin API (v1 / Knative serving) on 127.0.0.1, reached as an HTTP proxy.

    Use as a context manager; `close()` stops every server it started (bounded, ~0.1 s each).
    """

    def __init__(self, project: str = "shipyard-test", region: str = "us-central1", *,
                 host: str = "run.test", reconcile_gets: int = 0, seed: int = 0) -> None:
        self.project = project
        self.region = region
        self.host = host
        self.reconcile_gets = reconcile_gets
        self.project_number = str(int(hashlib.sha256(project.encode()).hexdigest()[:10], 16))
        self.identity_token: str | None = None
        self._lock = threading.RLock()
        self._random = random.Random(seed)
        self._services: dict[tuple[str, str], Service] = {}
        self._requests: list[RecordedRequest] = []
        self._unhandled: list[RecordedRequest] = []
        self._fail: dict[str, str] = {}
        self._wrong: dict[str, str] = {}
        self._image_versions: dict[str, str] = {}
        self._minted: set[str] = set()
        self._resource_version = 0
        self._seq = 0
        self._server: _Server | None = None
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> CloudRunStandIn:
        standin = self

        class Api(_Handler):
            def _handle(self) -> None:
                standin._serve_api(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_CONNECT = _handle

        self._server = _Server(Api)
        return self

    def close(self) -> None:
        with self._lock:
            self._closed = True
            servers = [s for s in (self._server,) if s]
            for svc in self._services.values():
                servers += [r.server for r in svc.revisions if r.server]
                servers += [svc.router] if svc.router else []
        for server in servers:
            server.stop()

    def __enter__(self) -> CloudRunStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        assert self._server, "start() the stand-in first"
        return self._server.port

    @property
    def endpoint(self) -> str:
        """The value for CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN."""
        return f"http://{self.host}:{self.port}/"

    # -- what tests read -------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def unhandled(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._unhandled)

    def writes(self, service: str | None = None) -> list[RecordedRequest]:
        """POST/PUT/DELETE of Knative services (and revision deletes), optionally of one."""
        def hit(r: RecordedRequest) -> bool:
            if r.method not in ("POST", "PUT", "DELETE") or not r.path.startswith(KNATIVE):
                return False
            if service is None:
                return True
            name = r.body.get("metadata", {}).get("name") if isinstance(r.body, dict) else None
            return name == service or r.path.endswith(f"/services/{service}")
        return [r for r in self.requests if hit(r)]

    def service(self, name: str, region: str | None = None) -> dict[str, Any] | None:
        """The service as a GET answers it now (without consuming `reconcile_gets`)."""
        with self._lock:
            svc = self._services.get((region or self.region, name))
            return self._service_json(svc, fresh=True) if svc else None

    def revisions(self, service: str, region: str | None = None) -> list[dict[str, Any]]:
        """The service's revisions, oldest first, as the API answers them."""
        with self._lock:
            svc = self._services.get((region or self.region, service))
            return [self._revision_json(svc, r) for r in svc.revisions] if svc else []

    def traffic(self, service: str, region: str | None = None) -> dict[str, int]:
        """Revision → percent of what serves now (effective traffic, non-zero entries)."""
        got = self.service(service, region)
        out: dict[str, int] = {}
        for t in (got or {}).get("status", {}).get("traffic", []):
            if t.get("percent"):
                out[t["revisionName"]] = out.get(t["revisionName"], 0) + t["percent"]
        return out

    def tags(self, service: str, region: str | None = None) -> dict[str, str]:
        """Tag → revision name, from status.traffic."""
        got = self.service(service, region)
        return {t["tag"]: t["revisionName"]
                for t in (got or {}).get("status", {}).get("traffic", []) if t.get("tag")}

    def revision_url(self, service: str, revision: str, region: str | None = None) -> str | None:
        with self._lock:
            svc = self._services.get((region or self.region, service))
            rev = svc.revision(revision) if svc else None
            return rev.url if rev else None

    def revision_hits(self, service: str, revision: str,
                      region: str | None = None) -> list[str]:
        """Paths requested from the revision's own URL (tag URLs), in order."""
        with self._lock:
            svc = self._services.get((region or self.region, service))
            rev = svc.revision(revision) if svc else None
            return list(rev.hits) if rev else []

    # -- knobs -----------------------------------------------------------------------------

    def fail_ready(self, service: str, message: str = "Container failed to start") -> None:
        """The next revision of `service` ends with Ready False and `message`."""
        with self._lock:
            self._fail[service] = message

    def wrong_version(self, service: str, version: str) -> None:
        """The next revision of `service` becomes Ready but answers `version`."""
        with self._lock:
            self._wrong[service] = version

    def image_version(self, image: str, version: str) -> None:
        """Revisions of `image` (a full reference or a `sha256:` digest) answer `version`."""
        with self._lock:
            self._image_versions[image] = version

    def reconciled(self) -> None:
        """Cloud Run finishes reconciling now: GETs answer the written state, Ready."""
        with self._lock:
            for svc in self._services.values():
                svc.stale_gets = 0

    def pin(self, service: str, revision: str, region: str | None = None) -> None:
        """A human pins 100% of traffic to `revision` by hand (tags are kept)."""
        with self._lock:
            svc = self._get(region or self.region, service)
            if not svc.revision(revision):
                raise KeyError(f"{service} has no revision {revision}")
            kept = [{"revisionName": t["revisionName"], "tag": t["tag"]}
                    for t in svc.spec.get("traffic", []) if t.get("tag") and t.get("revisionName")]
            spec = copy.deepcopy(svc.spec)
            spec["traffic"] = [{"percent": 100, "revisionName": revision}, *kept]
            self._commit(svc, spec, svc.metadata, by="someone@example.com")

    def delete_revision(self, service: str, revision: str, region: str | None = None) -> None:
        """Remove a revision out of band, whatever serves (its traffic entries then fail)."""
        with self._lock:
            svc = self._get(region or self.region, service)
            rev = svc.revision(revision)
            if not rev:
                raise KeyError(f"{service} has no revision {revision}")
            self._drop_revision(svc, rev)

    # -- the API ---------------------------------------------------------------------------

    def _serve_api(self, h: _Handler) -> None:
        split = urlsplit(h.path)
        host = (split.netloc or h.headers.get("Host") or "").lower()
        path = split.path or "/"
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        raw = h._body()
        text = raw.decode("utf-8", "replace")
        try:
            body = json.loads(text) if text.strip() else None
        except ValueError:
            body = None
        if path.startswith(CONTROL):
            code, answer = self._control(h.command, path[len(CONTROL):], body)
            h._send(code, json.dumps(answer).encode(), "application/json")
            return
        agent = h.headers.get("User-Agent") or ""
        command = next((p[len("command/"):] for p in agent.split() if p.startswith("command/")),
                       "")
        record = RecordedRequest(h.command, host, path, query, body, text, command,
                                 headers=dict(h.headers.items()))
        with self._lock:
            self._requests.append(record)
        try:
            if h.command == "CONNECT":
                raise ApiError(405, "the stand-in is not a tunnelling proxy")
            code, answer = 200, self._dispatch(h.command, host, path, query, body, text)
        except ApiError as err:
            code, answer = err.code, err.body()
            if isinstance(err, Unmodelled) or h.command == "CONNECT":
                with self._lock:
                    self._unhandled.append(record)
        record.status = code
        h._send(code, json.dumps(answer).encode(), "application/json; charset=UTF-8")

    def _control(self, method: str, verb: str, body: Any) -> tuple[int, Any]:
        """The knobs and the log for another process (see main()); not logged themselves."""
        args = body if isinstance(body, dict) else {}
        knobs: dict[str, Callable[..., None]] = {
            "fail_ready": self.fail_ready, "wrong_version": self.wrong_version,
            "image_version": self.image_version, "pin": self.pin,
            "delete_revision": self.delete_revision}
        try:
            if method == "GET" and verb == "requests":
                return 200, [asdict(r) for r in self.requests]
            if method == "POST" and verb in knobs:
                knobs[verb](**args)
                return 200, {}
        except (TypeError, KeyError, ApiError) as err:
            return 400, {"error": {"code": 400, "message": str(err)}}
        return 404, {"error": {"code": 404, "message": f"no control {method} {verb}"}}

    def _region_of(self, host: str) -> str:
        name = host.split(":")[0]
        suffix = f"-{self.host}"
        return name[: -len(suffix)] if name.endswith(suffix) else self.region

    def _check_project(self, namespace: str) -> None:
        if namespace not in (self.project, self.project_number):
            raise ApiError(403, f"Permission 'run.services.get' denied on resource "
                                f"'namespaces/{namespace}' (or it may not exist).")

    def _dispatch(self, method: str, host: str, path: str, query: dict[str, str], body: Any,
                  text: str) -> Any:
        region = self._region_of(host)
        with self._lock:
            if self._closed:
                raise ApiError(503, "the stand-in is shutting down")
            if path.startswith(KNATIVE):
                parts = path[len(KNATIVE):].split("/")
                self._check_project(parts[0])
                if parts[1:] == ["services"]:
                    if method == "GET":
                        return self._list_services(parts[0], region, query)
                    if method == "POST":
                        return self._create(parts[0], region, body)
                if len(parts) == 3 and parts[1] == "services":
                    if method == "GET":
                        return self._read(region, parts[2])
                    if method == "PUT":
                        return self._replace(region, parts[2], body)
                    if method == "DELETE":
                        return self._delete(region, parts[2])
                if parts[1:] == ["revisions"] and method == "GET":
                    return self._list_revisions(parts[0], region, query)
                if len(parts) == 3 and parts[1] == "revisions":
                    if method == "GET":
                        return self._read_revision(region, parts[2])
                    if method == "DELETE":
                        return self._delete_revision(region, parts[2])
            match = re.fullmatch(r"/v1/projects/([^/]+)/locations/([^/]+)/services/([^/:]+):"
                                 r"(testIamPermissions|getIamPolicy|setIamPolicy)", path)
            if match and method in ("POST", "GET"):
                project, location, name, verb = match.groups()
                self._check_project(project)
                return self._iam(location, name, verb, body)
            if re.fullmatch(r"/v1/projects/([^/]+)/locations", path) and method == "GET":
                return {"locations": [{"locationId": self.region, "name":
                                       f"projects/{self.project}/locations/{self.region}"}]}
            if re.fullmatch(r"/v1/projects/[^/]+/locations/[^/]+/operations/[^/:]+:wait", path):
                raise ApiError(404, "Operation not found (the stand-in never starts one).")
            match = re.fullmatch(r"/v1/projects/-/serviceAccounts/([^/:]+):"
                                 r"(generateAccessToken|generateIdToken)", path)
            if match and method == "POST":
                return self._mint(match.group(1), match.group(2), body)
        raise Unmodelled(404, f"The stand-in does not model {method} {path}.")

    # -- services --------------------------------------------------------------------------

    def _get(self, region: str, name: str) -> Service:
        svc = self._services.get((region, name))
        if not svc:
            raise ApiError(404, f"Resource '{name}' of kind 'SERVICE' in region '{region}' "
                                f"in project '{self.project}' does not exist.")
        return svc

    def _read(self, region: str, name: str) -> dict[str, Any]:
        svc = self._get(region, name)
        fresh = svc.stale_gets <= 0
        if not fresh:
            svc.stale_gets -= 1
        return self._service_json(svc, fresh=fresh)

    def _list_services(self, namespace: str, region: str, query: dict[str, str]
                       ) -> dict[str, Any]:
        selector = parse_label_selector(query.get("labelSelector", ""))
        items = [self._service_json(s, fresh=True) for (r, _), s in sorted(self._services.items())
                 if r == region and _selected(s.metadata.get("labels", {}), selector)]
        return {"apiVersion": "serving.knative.dev/v1", "kind": "ServiceList", "items": items,
                "metadata": {"selfLink": f"{KNATIVE}{namespace}/services"}}

    def _create(self, namespace: str, region: str, body: Any) -> dict[str, Any]:
        obj = self._object(body, "Service")
        name = obj["metadata"].get("name") or ""
        self._check_service_name(name)
        if (region, name) in self._services:
            raise ApiError(409, f"Resource '{name}' already exists.")
        svc = Service(name, region, namespace, metadata={}, spec={})
        self._validate(svc, obj)
        svc.metadata = {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()),
                        "creationTimestamp": _now(), "generation": 0,
                        "annotations": {"serving.knative.dev/creator": "deployer@example.com"}}
        self._services[(region, name)] = svc
        try:
            self._commit(svc, obj["spec"], obj["metadata"], by="deployer@example.com")
        except ApiError:
            del self._services[(region, name)]
            raise
        return self._service_json(svc, fresh=svc.stale_gets <= 0)

    def _replace(self, region: str, name: str, body: Any) -> dict[str, Any]:
        svc = self._get(region, name)
        obj = self._object(body, "Service")
        if obj["metadata"].get("name", name) != name:
            raise ApiError(400, "metadata.name must match the service in the URL.")
        sent = obj["metadata"].get("resourceVersion")
        if sent and sent != svc.metadata["resourceVersion"]:
            raise ApiError(409, f"Conflict for resource '{name}': version '{sent}' was "
                                f"specified but current version is "
                                f"'{svc.metadata['resourceVersion']}'.")
        self._validate(svc, obj)
        self._commit(svc, obj["spec"], obj["metadata"], by="deployer@example.com")
        return self._service_json(svc, fresh=svc.stale_gets <= 0)

    def _delete(self, region: str, name: str) -> dict[str, Any]:
        svc = self._get(region, name)
        for rev in list(svc.revisions):
            self._drop_revision(svc, rev, recompute=False)
        del self._services[(region, name)]
        if svc.router:
            threading.Thread(target=svc.router.stop, daemon=True).start()
        return {"apiVersion": "v1", "kind": "Status", "status": "Success",
                "details": {"name": name, "kind": "services", "uid": svc.metadata["uid"]}}

    @staticmethod
    def _object(body: Any, kind: str) -> dict[str, Any]:
        if not isinstance(body, dict) or body.get("kind") != kind or \
                body.get("apiVersion") != "serving.knative.dev/v1":
            raise ApiError(400, f"expected a serving.knative.dev/v1 {kind}")
        obj = copy.deepcopy(body)
        obj.setdefault("metadata", {})
        obj.setdefault("spec", {})
        if not isinstance(obj["spec"].get("template"), dict):
            raise ApiError(400, "spec.template: Required value")
        return obj

    @staticmethod
    def _check_service_name(name: str) -> None:
        if not DNS_LABEL.fullmatch(name) or len(name) > 49:
            raise ApiError(400, f"metadata.name: Invalid value: {name!r}: must be a DNS label "
                                "(lowercase letters, digits, hyphens) of at most 49 characters.")

    @staticmethod
    def _check_labels(labels: Any, where: str) -> None:
        if not isinstance(labels, dict):
            raise ApiError(400, f"{where}: must be a map")
        for key, value in labels.items():
            if key.startswith(SYSTEM_LABEL_PREFIXES):
                continue
            if not USER_LABEL_KEY.fullmatch(key):
                raise ApiError(400, f"{where}: Invalid key {key!r}: keys must start with a "
                                    "lowercase letter and contain only lowercase letters, "
                                    "digits, underscores and dashes (at most 63).")
            if not isinstance(value, str) or not USER_LABEL_VALUE.fullmatch(value):
                raise ApiError(400, f"{where}: Invalid value {value!r} for key {key!r}: "
                                    "values may contain only lowercase letters, digits, "
                                    "underscores and dashes (at most 63).")

    def _validate(self, svc: Service, obj: dict[str, Any]) -> None:
        """Reject, before any change, what Cloud Run rejects."""
        self._check_labels(obj["metadata"].get("labels", {}), "metadata.labels")
        template = obj["spec"]["template"]
        tmeta = template.get("metadata") or {}
        self._check_labels(tmeta.get("labels", {}), "spec.template.metadata.labels")
        rev_name = tmeta.get("name")
        if rev_name is not None and (not DNS_LABEL.fullmatch(rev_name) or len(rev_name) >= 64
                                     or not rev_name.startswith(f"{svc.name}-")):
            raise ApiError(400, f"spec.template.metadata.name: Invalid value: {rev_name!r}: "
                                f"must be '{svc.name}-' followed by a suffix, lowercase "
                                "letters, digits and hyphens, under 64 characters.")
        containers = (template.get("spec") or {}).get("containers")
        if not isinstance(containers, list) or not containers:
            raise ApiError(400, "spec.template.spec.containers: Required value")
        if not containers[0].get("image"):
            raise ApiError(400, "spec.template.spec.containers[0].image: Required value")
        for ci, container in enumerate(containers):
            seen: set[str] = set()
            for env in container.get("env") or []:
                where = f"spec.template.spec.containers[{ci}].env"
                name = env.get("name", "")
                if not name or name in seen:
                    raise ApiError(400, f"{where}: duplicate or empty name {name!r}")
                seen.add(name)
                if name in RESERVED_ENV:
                    raise ApiError(400, f"The following reserved env names were provided: "
                                        f"{name}. These values are automatically set by the "
                                        "system.")
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if "value" in env and env.get("valueFrom"):
                    raise ApiError(400, f"{where}[{name}]: value and valueFrom are exclusive")
                if env.get("valueFrom") and not (
                        isinstance(ref, dict) and ref.get("name")
                        and SECRET_VERSION.fullmatch(str(ref.get("key", "")))):
                    raise ApiError(400, f"{where}[{name}]: valueFrom.secretKeyRef needs a "
                                        "secret name and a key that is a version number or "
                                        "'latest'")
        known = {r.name for r in svc.revisions} | ({rev_name} if rev_name else set())
        self._check_traffic(svc.name, obj["spec"].get("traffic") or [], known)

    @staticmethod
    def _check_traffic(service: str, traffic: list[dict[str, Any]], known: set[str]) -> None:
        total, tags = 0, set()
        for i, t in enumerate(traffic):
            where = f"spec.traffic[{i}]"
            has_name, latest = bool(t.get("revisionName")), bool(t.get("latestRevision"))
            if has_name == latest:
                raise ApiError(400, f"{where}: expected exactly one of revisionName and "
                                    "latestRevision: true")
            if has_name and t["revisionName"] not in known:
                raise ApiError(400, f"Revision '{t['revisionName']}' does not exist or is "
                                    "deleted. Update all traffic to route to currently "
                                    "available revisions.")
            percent = t.get("percent") or 0
            if not isinstance(percent, int) or not 0 <= percent <= 100:
                raise ApiError(400, f"{where}.percent: must be between 0 and 100")
            total += percent
            tag = t.get("tag")
            if tag is not None:
                if not DNS_LABEL.fullmatch(tag) or tag in tags:
                    raise ApiError(400, f"{where}.tag: {tag!r} is not a unique DNS label")
                if len(tag) + len(service) > 46:
                    raise ApiError(400, f"{where}.tag: the tag '{tag}' and the service name "
                                        f"'{service}' together exceed 46 characters.")
                tags.add(tag)
        if traffic and total != 100:
            raise ApiError(400, f"spec.traffic: Traffic targets sum to {total}, want 100")

    def _defaults(self, template: dict[str, Any]) -> dict[str, Any]:
        t = copy.deepcopy(template)
        t.setdefault("metadata", {})
        spec = t.setdefault("spec", {})
        spec.setdefault("containerConcurrency", 80)
        spec.setdefault("timeoutSeconds", 300)
        spec.setdefault("serviceAccountName",
                        f"{self.project_number}-compute@developer.gserviceaccount.com")
        for i, c in enumerate(spec["containers"]):
            if i == 0 and not c.get("ports"):
                c["ports"] = [{"name": "http1", "containerPort": 8080}]
            res = c.setdefault("resources", {})
            res.setdefault("limits", {"cpu": "1000m", "memory": "512Mi"})
        return t

    def _commit(self, svc: Service, spec: dict[str, Any], meta: dict[str, Any],
                by: str) -> None:
        """Store a validated spec: a revision when the template changed, then the status."""
        spec = copy.deepcopy(spec)
        spec["template"] = self._defaults(spec["template"])
        changed = spec != svc.spec
        latest = svc.revisions[-1] if svc.revisions else None
        wanted = spec["template"].get("metadata", {}).get("name")
        new_rev = None
        if wanted and (existing := svc.revision(wanted)):
            if existing.template != spec["template"]:
                raise ApiError(409, f"Revision named '{wanted}' with different configuration "
                                    "already exists.")
        elif latest is None or spec["template"] != latest.template:
            new_rev = self._make_revision(svc, spec["template"], wanted)
        old_status = copy.deepcopy(svc.status)
        if changed or new_rev:
            svc.metadata["generation"] = svc.metadata.get("generation", 0) + 1
        svc.spec = spec
        user = {k: v for k, v in meta.items() if k in ("labels", "annotations")}
        for key in ("labels", "annotations"):
            system = {k: v for k, v in (svc.metadata.get(key) or {}).items()
                      if k.startswith(("serving.knative.dev/", "cloud.googleapis.com/"))}
            svc.metadata[key] = {**(user.get(key) or {}), **system}
        svc.metadata["labels"]["cloud.googleapis.com/location"] = svc.region
        svc.metadata["annotations"]["serving.knative.dev/lastModifier"] = by
        self._resource_version += 1
        svc.metadata["resourceVersion"] = f"AAX{self._resource_version:08d}"
        if svc.router is None:
            svc.router = self._start_router(svc)
        self._recompute(svc)
        if self.reconcile_gets and (changed or new_rev) and old_status is not None:
            svc.stale_gets = self.reconcile_gets
            svc.stale_status = old_status

    def _make_revision(self, svc: Service, template: dict[str, Any],
                       wanted: str | None) -> Revision:
        generation = (svc.revisions[-1].generation if svc.revisions else 0) + 1
        name = wanted or ""
        while not name or svc.revision(name):
            suffix = "".join(self._random.choice("abcdefghijklmnopqrstuvwxyz") for _ in "xyz")
            name = f"{svc.name}-{generation:05d}-{suffix}"
        message = self._fail.pop(svc.name, None)
        container = template["spec"]["containers"][0]
        paths = {"/healthz"}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            path = ((container.get(probe) or {}).get("httpGet") or {}).get("path")
            if path:
                paths.add(path)
        self._seq += 1
        rev = Revision(name=name, service=svc.name, region=svc.region, seq=self._seq,
                       generation=generation,
                       template=template, created=_now(), uid=str(uuid.uuid4()),
                       ready=message is None, message=message or "",
                       version=self._version_for(svc.name, template),
                       health_paths=frozenset(paths))
        if rev.ready:
            rev.server = self._start_revision_server(svc, rev)
        svc.revisions.append(rev)
        return rev

    def _version_for(self, service: str, template: dict[str, Any]) -> str:
        if service in self._wrong:
            return self._wrong.pop(service)
        container = template["spec"]["containers"][0]
        image = str(container.get("image", ""))
        digest = image.rpartition("@")[2] if "@" in image else None
        for key in (image, digest):
            if key and key in self._image_versions:
                return self._image_versions[key]
        for env in container.get("env") or []:
            if env.get("name") in ("VERSION", "APP_VERSION") and "value" in env:
                return str(env["value"])
        labels = (template.get("metadata") or {}).get("labels") or {}
        for key in sorted(labels):
            if "/" not in key and (key == "version" or key.endswith(("-version", "_version"))):
                return decode_label_version(str(labels[key]))
        name_part = image.split("@")[0].rsplit("/", 1)[-1]
        if ":" in name_part:
            return name_part.rsplit(":", 1)[1]
        return "unknown"

    def _drop_revision(self, svc: Service, rev: Revision, recompute: bool = True) -> None:
        svc.revisions.remove(rev)
        if rev.server:
            threading.Thread(target=rev.server.stop, daemon=True).start()
            rev.server = None
        if recompute:
            self._recompute(svc)

    def _recompute(self, svc: Service) -> None:
        """status from spec and revisions, as the controllers would settle it."""
        latest = svc.revisions[-1] if svc.revisions else None
        ready = [r for r in svc.revisions if r.ready]
        latest_ready = ready[-1] if ready else None
        traffic = svc.spec.get("traffic") or [{"latestRevision": True, "percent": 100}]
        resolved: list[dict[str, Any]] = []
        route_problem = ""
        for t in traffic:
            if t.get("latestRevision"):
                rev = latest_ready
                if rev is None:
                    route_problem = route_problem or (
                        f"Configuration '{svc.name}' does not have any ready Revision.")
                    continue
            else:
                rev = svc.revision(t["revisionName"])
                if rev is None:
                    route_problem = route_problem or (
                        f"Revision '{t['revisionName']}' referenced in traffic not found.")
                    continue
                if not rev.ready:
                    route_problem = route_problem or (
                        f"Revision '{rev.name}' is not ready and cannot serve traffic. "
                        f"{rev.message}")
                    continue
            entry: dict[str, Any] = {"revisionName": rev.name}
            if t.get("percent"):
                entry["percent"] = t["percent"]
            if t.get("latestRevision"):
                entry["latestRevision"] = True
            if t.get("tag"):
                entry["tag"] = t["tag"]
                entry["url"] = rev.url
            resolved.append(entry)
        if not route_problem:
            svc.effective = resolved
        config_problem = ""
        if latest and not latest.ready:
            config_problem = (f"Revision '{latest.name}' is not ready and cannot serve traffic. "
                              f"{latest.message}")
        problem = config_problem or route_problem
        url = svc.router.url if svc.router else None
        svc.status = {
            "observedGeneration": svc.metadata["generation"],
            "conditions": [
                _condition("Ready", not problem, problem,
                           "RevisionFailed" if config_problem else
                           ("RouteNotReady" if problem else "")),
                _condition("ConfigurationsReady", not config_problem, config_problem,
                           "RevisionFailed" if config_problem else ""),
                _condition("RoutesReady", not route_problem, route_problem,
                           "RevisionFailed" if route_problem else ""),
            ],
            "latestCreatedRevisionName": latest.name if latest else None,
            "latestReadyRevisionName": latest_ready.name if latest_ready else None,
            "traffic": copy.deepcopy(svc.effective),
            "url": url,
            "address": {"url": url},
        }
        svc.status = {k: v for k, v in svc.status.items() if v is not None}

    def _service_json(self, svc: Service, fresh: bool) -> dict[str, Any]:
        status = copy.deepcopy(svc.status)
        if not fresh and svc.stale_status is not None:
            status = copy.deepcopy(svc.stale_status) or {}
            status["observedGeneration"] = svc.metadata["generation"] - 1
            status["conditions"] = [_condition(k, None, "Deploying revision.", "Deploying")
                                    for k in ("Ready", "ConfigurationsReady", "RoutesReady")]
        return {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                "metadata": {**copy.deepcopy(svc.metadata),
                             "selfLink": f"{KNATIVE}{svc.namespace}/services/{svc.name}"},
                "spec": copy.deepcopy(svc.spec), "status": status}

    # -- revisions -------------------------------------------------------------------------

    def _revision_json(self, svc: Service, rev: Revision) -> dict[str, Any]:
        tmeta = rev.template.get("metadata") or {}
        serving = sum(t.get("percent", 0) for t in svc.effective
                      if t["revisionName"] == rev.name)
        routed = any(t["revisionName"] == rev.name for t in svc.effective)
        labels = {**(tmeta.get("labels") or {}), SERVICE_LABEL: svc.name,
                  "serving.knative.dev/configuration": svc.name,
                  "serving.knative.dev/configurationGeneration": str(rev.generation),
                  "serving.knative.dev/serviceUid": svc.metadata["uid"],
                  "cloud.googleapis.com/location": svc.region}
        if routed:
            labels["serving.knative.dev/route"] = svc.name
        if rev.ready:
            conditions = [_condition("Ready", True),
                          _condition("Active", serving > 0, "" if serving else
                                     "The target is not receiving traffic.",
                                     "" if serving else "NoTraffic", "" if serving else "Info"),
                          _condition("ContainerHealthy", True),
                          _condition("ResourcesAvailable", True)]
        else:
            conditions = [_condition("Ready", False, rev.message, "HealthCheckContainerError"),
                          _condition("ContainerHealthy", False, rev.message,
                                     "HealthCheckContainerError"),
                          _condition("ResourcesAvailable", True)]
        status: dict[str, Any] = {"observedGeneration": 1, "conditions": conditions,
                                  "logUrl": f"https://console.cloud.google.com/logs/viewer?"
                                            f"project={self.project}&resource=cloud_run_"
                                            f"revision/revision_name/{rev.name}",
                                  "imageDigest": rev.image if "@" in rev.image else None,
                                  "url": rev.url}
        return {"apiVersion": "serving.knative.dev/v1", "kind": "Revision",
                "metadata": {"name": rev.name, "namespace": svc.namespace, "uid": rev.uid,
                             "generation": 1, "creationTimestamp": rev.created,
                             "labels": labels,
                             "annotations": {**(tmeta.get("annotations") or {}),
                                             "serving.knative.dev/creator":
                                                 "deployer@example.com"},
                             "ownerReferences": [{"kind": "Configuration", "name": svc.name,
                                                  "apiVersion": "serving.knative.dev/v1",
                                                  "controller": True}],
                             "selfLink": f"{KNATIVE}{svc.namespace}/revisions/{rev.name}"},
                "spec": copy.deepcopy(rev.template.get("spec") or {}),
                "status": {k: v for k, v in status.items() if v is not None}}

    def _all_revisions(self, region: str) -> Iterator[tuple[Service, Revision]]:
        for (r, _), svc in sorted(self._services.items()):
            if r == region:
                for rev in svc.revisions:
                    yield svc, rev

    def _list_revisions(self, namespace: str, region: str, query: dict[str, str]
                        ) -> dict[str, Any]:
        selector = parse_label_selector(query.get("labelSelector", ""))
        found = sorted(self._all_revisions(region), key=lambda sr: sr[1].seq, reverse=True)
        items = [self._revision_json(s, r) for s, r in found]  # newest first
        items = [i for i in items if _selected(i["metadata"]["labels"], selector)]
        return {"apiVersion": "serving.knative.dev/v1", "kind": "RevisionList", "items": items,
                "metadata": {"selfLink": f"{KNATIVE}{namespace}/revisions"}}

    def _find_revision(self, region: str, name: str) -> tuple[Service, Revision]:
        for svc, rev in self._all_revisions(region):
            if rev.name == name:
                return svc, rev
        raise ApiError(404, f"Resource '{name}' of kind 'REVISION' in region '{region}' in "
                            f"project '{self.project}' does not exist.")

    def _read_revision(self, region: str, name: str) -> dict[str, Any]:
        return self._revision_json(*self._find_revision(region, name))

    def _delete_revision(self, region: str, name: str) -> dict[str, Any]:
        svc, rev = self._find_revision(region, name)
        if any(t.get("revisionName") == name for t in svc.spec.get("traffic") or []) or \
                any(t["revisionName"] == name for t in svc.effective):
            raise ApiError(400, f"Revision '{name}' cannot be deleted because it is "
                                "receiving traffic or is tagged.")
        self._drop_revision(svc, rev)
        return {"apiVersion": "v1", "kind": "Status", "status": "Success",
                "details": {"name": name, "kind": "revisions", "uid": rev.uid}}

    # -- IAM and tokens --------------------------------------------------------------------

    def _iam(self, region: str, name: str, verb: str, body: Any) -> dict[str, Any]:
        svc = self._get(region, name)
        if verb == "testIamPermissions":
            return {"permissions": list((body or {}).get("permissions", []))}
        if verb == "setIamPolicy":
            policy = copy.deepcopy((body or {}).get("policy") or {})
            self._resource_version += 1
            policy["etag"] = f"BwY{self._resource_version:08d}="
            policy.setdefault("version", 1)
            svc.policy = policy
        return copy.deepcopy(svc.policy)

    def _mint(self, account: str, verb: str, body: Any) -> dict[str, Any]:
        now = datetime.now(UTC)
        expiry = now + timedelta(hours=1)
        if verb == "generateIdToken":
            claims = {"iss": "https://accounts.google.com", "sub": account, "email": account,
                      "aud": str((body or {}).get("audience", "")), "iat": int(now.timestamp()),
                      "exp": int(expiry.timestamp()), "jti": uuid.uuid4().hex}
            token = ".".join(_b64(part) for part in (
                {"alg": "RS256", "typ": "JWT", "kid": "standin"}, claims, "standin-signature"))
            self._minted.add(token)
            return {"token": token}
        return {"accessToken": f"standin-access.{uuid.uuid4().hex}",
                "expireTime": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def _authorized(self, svc: Service, header: str | None) -> int:
        """0 when the caller may invoke the service, else the HTTP status to answer."""
        if svc.public:
            return 0
        if not header:
            return 403
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return 401
        if token in self._minted or (self.identity_token and token == self.identity_token):
            return 0
        return 401

    # -- revision and service URLs ---------------------------------------------------------

    def _answer(self, svc: Service, rev: Revision, path: str) -> tuple[int, bytes, str]:
        path = urlsplit(path).path
        if path in rev.health_paths:
            return 200, b"ok\n", "text/plain"
        if path == "/version":
            return 200, rev.version.encode(), "text/plain"
        if path == "/api/status":
            body = {"service": svc.name, "version": rev.version, "status": "ok",
                    "video_generation": video_generation(rev.template)}
            return 200, (json.dumps(body) + "\n").encode(), "application/json"
        return 404, b"404 Not Found\n", "text/plain"

    def _start_revision_server(self, svc: Service, rev: Revision) -> _Server:
        standin = self

        class RevisionHandler(_Handler):
            def do_GET(self) -> None:
                self._body()
                with standin._lock:
                    rev.hits.append(self.path)
                    denied = standin._authorized(svc, self.headers.get("Authorization"))
                    answer = (denied, b"Unauthorized\n" if denied == 401 else
                              b"Forbidden\n", "text/plain") if denied else \
                        standin._answer(svc, rev, self.path)
                self._send(*answer)

            do_HEAD = do_GET

        return _Server(RevisionHandler)

    def _pick(self, svc: Service) -> Revision | None:
        targets = [(t["revisionName"], t.get("percent", 0)) for t in svc.effective
                   if t.get("percent")]
        if not targets:
            return None
        slot, upto = svc.router_hits % 100, 0
        svc.router_hits += 1
        for name, percent in targets:
            upto += percent
            if slot < upto:
                return svc.revision(name)
        return svc.revision(targets[-1][0])

    def _start_router(self, svc: Service) -> _Server:
        standin = self

        class RouterHandler(_Handler):
            def do_GET(self) -> None:
                self._body()
                with standin._lock:
                    denied = standin._authorized(svc, self.headers.get("Authorization"))
                    rev = None if denied else standin._pick(svc)
                    if denied:
                        answer = (denied, b"Forbidden\n" if denied == 403 else
                                  b"Unauthorized\n", "text/plain")
                    elif rev is None:
                        answer = (503, b"Service Unavailable\n", "text/plain")
                    else:
                        rev.hits.append(self.path)
                        answer = standin._answer(svc, rev, self.path)
                self._send(*answer)

            do_HEAD = do_GET

        return _Server(RouterHandler)


def http_get(url: str, token: str | None = None, timeout: float = 5) -> tuple[int, str]:
    """GET a loopback URL directly (no proxy); (status, body text). For tests."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}
                                     if token else {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode()



def main(argv: list[str] | None = None) -> int:
    """Run a stand-in by hand: prints the gcloud settings as `export` lines, then serves until
    SIGINT/SIGTERM or --seconds. Knobs: POST /_standin/KNOB with the keyword arguments as JSON
    (fail_ready, wrong_version, image_version, pin, delete_revision); the request log: GET
    /_standin/requests. Run from the repository root:

        python -m tests.contract.cloudrun_standin --config-dir /tmp/gcloud-standin > env.sh
    """
    import argparse
    import shlex
    import signal
    import sys
    from pathlib import Path

    from tests.contract.gcloud_env import gcloud_env

    parser = argparse.ArgumentParser(prog="python -m tests.contract.cloudrun_standin")
    parser.add_argument("--project", default="shipyard-test")
    parser.add_argument("--region", default="us-central1")
    parser.add_argument("--config-dir", type=Path, required=True,
                        help="where the throwaway CLOUDSDK_CONFIG goes")
    parser.add_argument("--seconds", type=float, default=3600, help="stop after this long")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with CloudRunStandIn(project=args.project, region=args.region) as standin:
        for key, value in gcloud_env(args.config_dir, standin).items():
            print(f"export {key}={shlex.quote(value)}")
        print(f"# cloudrun stand-in ready on 127.0.0.1:{standin.port}; control "
              f"http://127.0.0.1:{standin.port}{CONTROL}", flush=True)
        stop.wait(args.seconds)
    print("# cloudrun stand-in stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
