"""A Google Secret Manager stand-in: a threaded loopback HTTP server answering the v1 REST API
as the python client (`transport="rest"`) and gcloud use it.

It keeps secrets, their numbered versions (ENABLED, DISABLED, DESTROYED), payloads and IAM
policies, answers in Google's JSON shapes (names use the project NUMBER, as the real API does,
whether a request named the project by id or number), and logs every request it receives.

Paths (all under /v1/projects/P/secrets):
    POST   ?secretId=S                    create a secret
    GET    /S                             the secret
    GET    /S/versions                    list, newest first (pageSize, pageToken, filter=state:X)
    GET    /S/versions/N | /latest        one version; `latest` is the newest one *created*,
                                          whatever its state (as the real alias is)
    GET    /S/versions/N:access           the payload (base64) and its dataCrc32c
    POST   /S/versions/N:enable|:disable|:destroy
    POST   /S:addVersion                  checks payload.dataCrc32c when sent
    GET    /S:getIamPolicy   POST /S:setIamPolicy (etag checked)   POST /S:testIamPermissions

Faults on request: `denied` (secret ids answering 403 PERMISSION_DENIED), `read_only` (secret
ids whose changes answer 403, as for a caller with only the viewer role), `unavailable` (the
next N requests answer 503), `token` (every request must carry `Bearer TOKEN`, else 401).

Enums are ints when the request carries `$alt=json;enum-encoding=int` (the python client),
names otherwise (gcloud). Errors are `{"error": {"code", "message", "status"}}`. An absolute
request URI (a client using this as an HTTP proxy) is accepted: scheme and host are dropped.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

STATES = {"STATE_UNSPECIFIED": 0, "ENABLED": 1, "DISABLED": 2, "DESTROYED": 3}
ACCESSOR = "roles/secretmanager.secretAccessor"
# verb → the permission it needs, for the calls that change a secret
WRITES = {"addVersion": "versions.add", "enable": "versions.enable",
          "disable": "versions.disable", "destroy": "versions.destroy",
          "setIamPolicy": "secrets.setIamPolicy"}


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as Secret Manager's dataCrc32c."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


@dataclass
class Version:
    number: int
    payload: bytes
    state: str = "ENABLED"
    created: str = ""
    client_checksum: bool = False


@dataclass
class Secret:
    project_number: str
    secret_id: str
    versions: list[Version] = field(default_factory=list)
    # IAM bindings as the API spells them: {"role", "members", optional "condition"}
    bindings: list[dict[str, Any]] = field(default_factory=list)
    policy_etag: int = 1
    created: str = ""

    @property
    def name(self) -> str:
        return f"projects/{self.project_number}/secrets/{self.secret_id}"


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    body: str
    authorization: str | None

    @property
    def line(self) -> str:
        return f"{self.method} {self.path}"


class ApiError(Exception):
    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


class _Server(ThreadingHTTPServer):
    """Joins its handler threads on close, after shutting down the connections clients keep
    alive, so nothing of a stopped stand-in outlives its test."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        with self.connections_lock:
            self.connections.add(conn)
        return conn, address

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        with self.connections_lock:
            for conn in list(self.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        super().server_close()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())


class SecretManagerStandIn:
    """`with SecretManagerStandIn({"proj": "123"}) as sm:` serves on 127.0.0.1:<free port>
    and stops at the end of the block."""

    def __init__(self, projects: dict[str, str] | None = None, token: str | None = None) -> None:
        self.projects = dict(projects or {"demo-proj": "100000000001"})  # id → number
        self.token = token  # when set, every request must carry `Bearer TOKEN`
        self.secrets: dict[tuple[str, str], Secret] = {}  # (project number, id) → secret
        self.requests: list[Request] = []
        self.denied: set[str] = set()  # secret ids that answer 403 PERMISSION_DENIED
        # secret ids the caller may only read (roles/secretmanager.viewer): every change to
        # them (addVersion, enable, disable, destroy, setIamPolicy) answers 403
        self.read_only: set[str] = set()
        self.unavailable = 0  # the next N requests answer 503 UNAVAILABLE
        self.lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> SecretManagerStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                standin._handle(self)

            do_POST = do_GET  # noqa: N815
            do_PATCH = do_GET  # noqa: N815
            do_DELETE = do_GET  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- seeding, for tests (never through HTTP, so the request log holds only clients') ---

    def number(self, project: str) -> str:
        """A project id or number → its number (an unknown id gets one made up)."""
        if project.isdigit():
            return project
        return self.projects.setdefault(project, str(100000000000 + len(self.projects) + 1))

    def add_secret(self, project: str, secret_id: str,
                   *versions: tuple[str | bytes, str]) -> Secret:
        """versions: (payload, state), numbered 1, 2, ... in order."""
        secret = Secret(self.number(project), secret_id, created=_now())
        for payload, state in versions:
            data = payload.encode() if isinstance(payload, str) else payload
            secret.versions.append(Version(len(secret.versions) + 1, data, state, _now()))
        with self.lock:
            self.secrets[(secret.project_number, secret_id)] = secret
        return secret

    def grant(self, project: str, secret_id: str, member: str, role: str = ACCESSOR,
              condition: dict[str, str] | None = None) -> None:
        """One more binding (role, member, and an IAM condition {title, expression})."""
        secret = self.secrets[(self.number(project), secret_id)]
        binding: dict[str, Any] = {"role": role, "members": [member]}
        if condition:
            binding["condition"] = condition
        with self.lock:
            secret.bindings.append(binding)
            secret.policy_etag += 1

    def set_state(self, project: str, secret_id: str, number: int, state: str) -> None:
        secret = self.secrets[(self.number(project), secret_id)]
        with self.lock:
            secret.versions[number - 1].state = state

    def lines(self) -> list[str]:
        with self.lock:
            return [r.line for r in self.requests]

    def log_text(self) -> str:
        """Everything every request carried: path, query, body, Authorization."""
        with self.lock:
            return "\n".join(f"{r.method} {r.path} {json.dumps(r.query)} {r.authorization} "
                             f"{r.body}" for r in self.requests)

    # --- HTTP ------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        target = handler.path
        if target.startswith(("http://", "https://")):  # used as a proxy: keep path + query
            parts = urlsplit(target)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        parts = urlsplit(target)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode("utf-8") if length else ""
        query = parse_qs(parts.query, keep_blank_values=True)
        request = Request(handler.command, parts.path, query, body,
                          handler.headers.get("Authorization"))
        with self.lock:
            self.requests.append(request)
        ints = "enum-encoding=int" in ";".join(query.get("$alt", []))
        try:
            if self.token is not None and request.authorization != f"Bearer {self.token}":
                raise ApiError(401, "UNAUTHENTICATED", "Request had invalid authentication "
                                                       "credentials.")
            with self.lock:
                busy, self.unavailable = self.unavailable > 0, max(0, self.unavailable - 1)
            if busy:
                raise ApiError(503, "UNAVAILABLE", "The service is currently unavailable.")
            status, answer = self._route(request, ints)
        except ApiError as exc:
            status, answer = exc.code, {"error": {"code": exc.code, "message": exc.message,
                                                  "status": exc.status}}
        data = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, req: Request, ints: bool) -> tuple[int, dict[str, Any]]:
        path, verb = req.path, ""
        last = path.rsplit("/", 1)[-1]
        if ":" in last:
            path, verb = path.rsplit(":", 1)
        segs = path.strip("/").split("/")
        if len(segs) < 4 or segs[:2] != ["v1", "projects"] or segs[3] != "secrets":
            raise ApiError(404, "NOT_FOUND", f"no such API path: {req.path}")
        project, rest = self.number(segs[2]), segs[4:]
        if rest and rest[0] in self.denied:
            raise ApiError(403, "PERMISSION_DENIED", f"Permission denied on resource "
                                                     f"projects/{project}/secrets/{rest[0]}.")
        if rest and rest[0] in self.read_only and req.method == "POST" and verb in WRITES:
            raise ApiError(403, "PERMISSION_DENIED", f"Permission 'secretmanager.{WRITES[verb]}'"
                                                     f" denied for resource 'projects/{project}/"
                                                     f"secrets/{rest[0]}' (or it may not exist).")
        body = json.loads(req.body) if req.body else {}
        with self.lock:
            if not rest and req.method == "POST":
                return 200, self._create(project, req.query.get("secretId", [""])[0], body)
            if not rest:
                raise ApiError(501, "UNIMPLEMENTED", "listing secrets is not implemented")
            secret = self._secret(project, rest[0])
            if len(rest) == 1:
                return 200, self._on_secret(secret, req.method, verb, body, ints)
            if rest[1] != "versions":
                raise ApiError(404, "NOT_FOUND", f"no such API path: {req.path}")
            if len(rest) == 2 and req.method == "GET":
                return 200, self._list(secret, req.query, ints)
            if len(rest) == 3:
                return 200, self._on_version(secret, rest[2], req.method, verb, ints)
        raise ApiError(404, "NOT_FOUND", f"no such API path: {req.path}")

    def _secret(self, project: str, secret_id: str) -> Secret:
        secret = self.secrets.get((project, secret_id))
        if secret is None:
            raise ApiError(404, "NOT_FOUND", f"Secret [projects/{project}/secrets/{secret_id}] "
                                             "not found or has no versions.")
        return secret

    def _create(self, project: str, secret_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if (project, secret_id) in self.secrets:
            raise ApiError(409, "ALREADY_EXISTS",
                           f"Secret [projects/{project}/secrets/{secret_id}] already exists.")
        secret = Secret(project, secret_id, created=_now())
        self.secrets[(project, secret_id)] = secret
        return self._secret_json(secret)

    @staticmethod
    def _secret_json(secret: Secret) -> dict[str, Any]:
        return {"name": secret.name, "replication": {"automatic": {}},
                "createTime": secret.created, "etag": f'"{secret.policy_etag}"'}

    def _on_secret(self, secret: Secret, method: str, verb: str, body: dict[str, Any],
                   ints: bool) -> dict[str, Any]:
        if method == "GET" and not verb:
            return self._secret_json(secret)
        if method == "POST" and verb == "addVersion":
            return self._add_version(secret, body, ints)
        if method == "GET" and verb == "getIamPolicy":
            return self._policy(secret)
        if method == "POST" and verb == "setIamPolicy":
            policy = body.get("policy", {})
            sent = policy.get("etag")
            if sent is not None and sent != self._policy(secret)["etag"]:
                raise ApiError(409, "ABORTED", "There were concurrent policy changes.")
            secret.bindings = [dict(b) for b in policy.get("bindings", []) if b.get("members")]
            secret.policy_etag += 1
            return self._policy(secret)
        if method == "POST" and verb == "testIamPermissions":
            return {"permissions": body.get("permissions", [])}
        raise ApiError(404, "NOT_FOUND", f"no such method: {method} :{verb}")

    @staticmethod
    def _policy(secret: Secret) -> dict[str, Any]:
        etag = base64.b64encode(f"etag-{secret.policy_etag}".encode()).decode()
        bindings = [b for b in secret.bindings if b.get("members")]
        version = 3 if any("condition" in b for b in bindings) else 1
        return {"version": version, "etag": etag,
                **({"bindings": bindings} if bindings else {})}

    def _add_version(self, secret: Secret, body: dict[str, Any], ints: bool) -> dict[str, Any]:
        payload = body.get("payload", {})
        data = base64.b64decode(payload.get("data", ""))
        sent = payload.get("dataCrc32c")
        if sent is not None and int(sent) != crc32c(data):
            raise ApiError(400, "INVALID_ARGUMENT", "Checksum mismatch: the payload's CRC32C "
                                                    "does not match dataCrc32c.")
        version = Version(len(secret.versions) + 1, data, "ENABLED", _now(),
                          client_checksum=sent is not None)
        secret.versions.append(version)
        return self._version_json(secret, version, ints)

    @staticmethod
    def _version_json(secret: Secret, version: Version, ints: bool) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "name": f"{secret.name}/versions/{version.number}",
            "createTime": version.created,
            "state": STATES[version.state] if ints else version.state,
            "replicationStatus": {"automatic": {}},
            "etag": f'"{version.number}-{version.state}"',
            "clientSpecifiedPayloadChecksum": version.client_checksum,
        }
        if version.state == "DESTROYED":
            answer["destroyTime"] = version.created
        return answer

    def _list(self, secret: Secret, query: dict[str, list[str]], ints: bool
              ) -> dict[str, Any]:
        versions = sorted(secret.versions, key=lambda v: v.number, reverse=True)
        wanted = query.get("filter", [""])[0]
        if wanted:
            key, _, state = wanted.partition(":")
            if key != "state" or state not in STATES:
                raise ApiError(400, "INVALID_ARGUMENT", f"unsupported filter: {wanted}")
            versions = [v for v in versions if v.state == state]
        size = int(query.get("pageSize", ["25"])[0] or 25)
        start = int(query.get("pageToken", ["0"])[0] or 0)
        page = versions[start:start + size]
        answer: dict[str, Any] = {"totalSize": len(versions)}
        if page:
            answer["versions"] = [self._version_json(secret, v, ints) for v in page]
        if start + size < len(versions):
            answer["nextPageToken"] = str(start + size)
        return answer

    def _version(self, secret: Secret, ref: str) -> Version:
        if ref == "latest" and secret.versions:
            return secret.versions[-1]
        if ref.isdigit() and 1 <= int(ref) <= len(secret.versions):
            return secret.versions[int(ref) - 1]
        raise ApiError(404, "NOT_FOUND", f"Secret Version [{secret.name}/versions/{ref}] not "
                                         "found.")

    def _on_version(self, secret: Secret, ref: str, method: str, verb: str, ints: bool
                    ) -> dict[str, Any]:
        version = self._version(secret, ref)
        if method == "GET" and not verb:
            return self._version_json(secret, version, ints)
        if method == "GET" and verb == "access":
            if version.state != "ENABLED":
                raise ApiError(400, "FAILED_PRECONDITION",
                               f"Secret Version [{secret.name}/versions/{version.number}] is in "
                               f"{version.state} state.")
            return {"name": f"{secret.name}/versions/{version.number}",
                    "payload": {"data": base64.b64encode(version.payload).decode(),
                                "dataCrc32c": str(crc32c(version.payload))}}
        states = {"enable": "ENABLED", "disable": "DISABLED", "destroy": "DESTROYED"}
        if method == "POST" and verb in states:
            if version.state == "DESTROYED":
                raise ApiError(400, "FAILED_PRECONDITION", "the version is destroyed")
            version.state = states[verb]
            if verb == "destroy":
                version.payload = b""
            return self._version_json(secret, version, ints)
        raise ApiError(404, "NOT_FOUND", f"no such method: {method} :{verb}")

    def requests_matching(self, text: str) -> Iterator[Request]:
        with self.lock:
            return iter([r for r in self.requests if text in r.path])
