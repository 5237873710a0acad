"""A stand-in for the project-setup APIs gcp-bootstrap drives through the real gcloud:
Service Usage, Artifact Registry (repositories), IAM (service accounts and their policies),
Resource Manager (the project's policy) and Secret Manager (the SecretManagerStandIn, served
here too).

It is an HTTP proxy (gcloud reaches it through CLOUDSDK_PROXY_*): each API's endpoint override
is a made-up host (`http://iam.test:PORT/`) and the host says which API a request is for. The
requests, as the real gcloud 528 sends them (measured; see docs/gcp-bootstrap.md):
    GET  serviceusage  /v1/projects/P/services?filter=state:ENABLED&pageSize=200
    POST serviceusage  /v1/projects/P/services:batchEnable {serviceIds}  → an operation;
                       gcloud polls GET /v1/operations/ID until done. For ONE API gcloud
                       sends POST /v1/projects/P/services/NAME:enable instead
    GET  artifactregistry /v1/projects/P/locations/L/repositories/R
    POST artifactregistry /v1/projects/P/locations/L/repositories?repositoryId=R {format,...}
                       → an operation (GET .../operations/ID until done), then GET of R
    GET|POST artifactregistry .../repositories/R:getIamPolicy | :setIamPolicy
    GET  iam /v1/projects/-/serviceAccounts/EMAIL; POST /v1/projects/P/serviceAccounts
    POST iam /v1/projects/{-|P}/serviceAccounts/EMAIL:getIamPolicy | :setIamPolicy
    POST cloudresourcemanager /v1/projects/P:getIamPolicy | :setIamPolicy
    secretmanager      the SecretManagerStandIn's paths
What the APIs promise and this keeps: an API that is off answers 403 SERVICE_DISABLED; a create
of what exists is 409 ALREADY_EXISTS; setIamPolicy with a stale etag is 409 ABORTED (an etag
left out overwrites); a binding naming a service account that does not exist, a role that does
not exist or does not apply to the resource is 400 INVALID_ARGUMENT.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.contract.gcloud_env import hermetic
from tests.contract.secret_manager_standin import ApiError, SecretManagerStandIn, _Server

APIS = ("serviceusage", "artifactregistry", "iam", "cloudresourcemanager", "secretmanager")
ALWAYS_ON = {"serviceusage"}
ROLES = {  # the roles that exist, and the resource kinds they may be granted on
    "roles/owner": "project", "roles/editor": "project", "roles/viewer": "project",
    "roles/logging.logWriter": "project", "roles/monitoring.metricWriter": "project",
    "roles/cloudtrace.agent": "project", "roles/run.admin": "project",
    "roles/container.developer": "project", "roles/iam.serviceAccountUser": "project account",
    "roles/iam.serviceAccountTokenCreator": "project account",
    "roles/artifactregistry.writer": "project repository",
    "roles/artifactregistry.reader": "project repository",
    "roles/secretmanager.secretAccessor": "project", "roles/secretmanager.viewer": "project",
}
ACCOUNT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
CHANGES = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Policy:
    bindings: list[dict[str, Any]] = field(default_factory=list)
    serial: int = 1

    def json(self) -> dict[str, Any]:
        etag = base64.b64encode(f"etag-{self.serial}".encode()).decode()
        return {"version": 1, "etag": etag, **({"bindings": self.bindings}
                                               if self.bindings else {})}


@dataclass(frozen=True)
class Call:
    api: str
    method: str
    path: str
    body: str

    @property
    def changes(self) -> bool:
        """Writes: POST/PUT/PATCH/DELETE, except the POSTs that only read a policy."""
        return self.method in CHANGES and not self.path.endswith(
            (":getIamPolicy", ":testIamPermissions"))

    def __str__(self) -> str:
        return f"{self.api} {self.method} {self.path}"


class GcpStandIn:
    """`with GcpStandIn("proj", "1234") as gcp:`; `gcp.env(tmp)` is the gcloud settings."""

    def __init__(self, project: str = "shipyard-test", number: str = "100000000042") -> None:
        self.project, self.number = project, number
        self.enabled: set[str] = set()
        self.repositories: dict[tuple[str, str], str] = {}  # (location, id) → format
        self.accounts: dict[str, str] = {}  # email → display name
        self.policies: dict[str, Policy] = {}  # resource name → its policy
        self.secret_manager = SecretManagerStandIn({project: number})
        self.calls: list[Call] = []
        self.lock = threading.RLock()
        self._operations = 0
        self.conflicts = 0  # the next N setIamPolicy calls meet another writer: 409 ABORTED
        self.denied: set[str] = set()  # a write whose path?query holds one: 403 DENIED
        self._server: _Server | None = None

    # --- lifecycle and settings -----------------------------------------------------------

    def __enter__(self) -> GcpStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                standin._handle(self)

            do_POST = do_PATCH = do_PUT = do_DELETE = do_GET  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    def env(self, tmp: Path) -> dict[str, str]:
        port = str(self.port)
        return {**hermetic(tmp / "gcloud-config", self.project),
                **{f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api.upper()}": f"http://{api}.test:{port}/"
                   for api in APIS},
                "CLOUDSDK_PROXY_TYPE": "http", "CLOUDSDK_PROXY_ADDRESS": "127.0.0.1",
                "CLOUDSDK_PROXY_PORT": port}

    # --- seeding and reading, for tests (not through HTTP: the call log holds gcloud's) ----

    def enable(self, *apis: str) -> None:
        self.enabled.update(apis)

    def add_repository(self, name: str, location: str, fmt: str = "DOCKER") -> None:
        self.repositories[(location, name)] = fmt

    def add_account(self, email: str) -> None:
        self.accounts[email] = ""

    def grant(self, resource: str, role: str, member: str) -> None:
        """resource: `projects/P`, `serviceAccounts/EMAIL`, or `repositories/LOCATION/ID`."""
        self._bind(self.policies.setdefault(resource, Policy()), role, member)

    def granted(self, resource: str) -> set[tuple[str, str]]:
        policy = self.policies.get(resource, Policy())
        return {(b["role"], m) for b in policy.bindings for m in b["members"]}

    def changes(self) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.changes]

    @staticmethod
    def _bind(policy: Policy, role: str, member: str) -> None:
        for binding in policy.bindings:
            if binding["role"] == role and "condition" not in binding:
                binding["members"] = sorted({*binding["members"], member})
                break
        else:
            policy.bindings.append({"role": role, "members": [member]})
        policy.serial += 1

    # --- HTTP -----------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        api = (parts.hostname or "").split(".")[0]
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        with self.lock:
            self.calls.append(Call(api, handler.command, parts.path, raw.decode()))
        try:
            self._check_enabled(api)
            self._concurrent_writer(parts.path)
            if self.calls[-1].changes and any(d in f"{parts.path}?{parts.query}"
                                              for d in self.denied):
                raise ApiError(403, "PERMISSION_DENIED", "The caller does not have permission")
            if api == "secretmanager":  # the Secret Manager stand-in answers, body and all
                kept, handler.rfile = handler.rfile, io.BytesIO(raw)
                try:
                    self.secret_manager._handle(handler)
                finally:
                    handler.rfile = kept
                return
            body = json.loads(raw) if raw else {}
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            with self.lock:
                status, answer = 200, self._route(api, handler.command, parts.path, query, body)
        except ApiError as exc:
            status, answer = exc.code, {"error": {"code": exc.code, "message": exc.message,
                                                  "status": exc.status}}
            if exc.status == "SERVICE_DISABLED":
                answer["error"].update(status="PERMISSION_DENIED", details=[{
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "SERVICE_DISABLED", "domain": "googleapis.com",
                    "metadata": {"service": f"{api}.googleapis.com",
                                 "consumer": f"projects/{self.number}"}}])
        data = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _concurrent_writer(self, path: str) -> None:
        """Another writer changed the policy between this client's get and set."""
        with self.lock:
            clash = path.endswith(":setIamPolicy") and self.conflicts > 0
            self.conflicts -= clash
        if clash:
            raise ApiError(409, "ABORTED", "There were concurrent policy changes. Please "
                                           "retry the whole read-modify-write with "
                                           "exponential backoff.")

    def _check_enabled(self, api: str) -> None:
        if api not in APIS:
            raise ApiError(404, "NOT_FOUND", f"no such API host: {api}")
        if api not in ALWAYS_ON and f"{api}.googleapis.com" not in self.enabled:
            raise ApiError(403, "SERVICE_DISABLED", f"{api}.googleapis.com has not been used "
                           f"in project {self.number} before or it is disabled.")

    def _route(self, api: str, method: str, path: str, query: dict[str, str],
               body: dict[str, Any]) -> dict[str, Any]:
        path, _, verb = path.partition(":")
        segs = path.strip("/").split("/")[1:]  # after "v1"
        if api == "serviceusage":
            return self._service_usage(method, segs, verb, body)
        if api == "cloudresourcemanager" and segs == ["projects", self.project] and verb:
            return self._policy_call(f"projects/{self.project}", "project", verb, body)
        if api == "iam" and segs[:1] == ["projects"] and segs[2:3] == ["serviceAccounts"]:
            return self._iam(method, segs, verb, body)
        if api == "artifactregistry" and segs[:1] == ["projects"] and len(segs) >= 5:
            return self._artifacts(method, segs, verb, query, body)
        raise ApiError(404, "NOT_FOUND", f"no such path: {method} {path}")

    def _service_usage(self, method: str, segs: list[str], verb: str,
                       body: dict[str, Any]) -> dict[str, Any]:
        if segs[:1] == ["operations"] and method == "GET":
            return {"name": "/".join(segs), "done": True, "response": {
                "@type": "type.googleapis.com/google.api.serviceusage.v1."
                         "BatchEnableServicesResponse", "services": []}}
        if segs[:3] != ["projects", self.project, "services"] or len(segs) > 4:
            raise ApiError(404, "NOT_FOUND", "no such project")
        if len(segs) == 4 and method == "POST" and verb == "enable":  # one API: its own call
            body, verb = {"serviceIds": [segs[3]]}, "batchEnable"
        if method == "GET" and not verb and len(segs) == 3:
            return {"services": [{"name": f"projects/{self.number}/services/{name}",
                                  "config": {"name": name}, "state": "ENABLED",
                                  "parent": f"projects/{self.number}"}
                                 for name in sorted(self.enabled)]}
        if method == "POST" and verb == "batchEnable":
            ids = body.get("serviceIds") or []
            if not ids or not all(re.fullmatch(r"[a-z]+\.googleapis\.com", i) for i in ids):
                raise ApiError(400, "INVALID_ARGUMENT", f"invalid service ids: {ids}")
            self.enabled.update(ids)
            self._operations += 1
            return {"name": f"operations/acf.p2-{self._operations}", "done": False}
        raise ApiError(404, "NOT_FOUND", f"no such method: {method} :{verb}")

    def _iam(self, method: str, segs: list[str], verb: str,
             body: dict[str, Any]) -> dict[str, Any]:
        if len(segs) == 3 and method == "POST" and segs[1] == self.project:
            account_id = body.get("accountId", "")
            if ACCOUNT_ID.fullmatch(account_id) is None:
                raise ApiError(400, "INVALID_ARGUMENT", f"Invalid account id: {account_id}")
            email = f"{account_id}@{self.project}.iam.gserviceaccount.com"
            if email in self.accounts:
                raise ApiError(409, "ALREADY_EXISTS", f"Service account {account_id} already "
                                                      f"exists within project {self.project}.")
            self.accounts[email] = body.get("serviceAccount", {}).get("displayName", "")
            return self._account(email)
        if len(segs) != 4 or segs[3] not in self.accounts:
            raise ApiError(404, "NOT_FOUND", f"Unknown service account {segs[3:4]}")
        if method == "GET" and not verb:
            return self._account(segs[3])
        return self._policy_call(f"serviceAccounts/{segs[3]}", "account", verb, body)

    def _account(self, email: str) -> dict[str, Any]:
        return {"name": f"projects/{self.project}/serviceAccounts/{email}", "email": email,
                "projectId": self.project, "uniqueId": str(abs(hash(email)) % 10**20),
                "displayName": self.accounts[email], "etag": "MDEwMjE5MjA="}

    def _artifacts(self, method: str, segs: list[str], verb: str, query: dict[str, str],
                   body: dict[str, Any]) -> dict[str, Any]:
        if segs[1] != self.project or segs[2] != "locations":
            raise ApiError(403, "PERMISSION_DENIED", "another project")
        location = segs[3]
        prefix = f"projects/{self.project}/locations/{location}/"
        if segs[4] == "operations" and method == "GET":
            return {"name": "/".join(segs), "done": True, "response": {}}
        if segs[4:] == ["repositories"] and method == "POST":
            name = query.get("repositoryId", "")
            if not body.get("format") or body["format"] == "FORMAT_UNSPECIFIED":
                raise ApiError(400, "INVALID_ARGUMENT", "a repository needs a format")
            if (location, name) in self.repositories:
                raise ApiError(409, "ALREADY_EXISTS", f"the repository already exists: "
                                                      f"{prefix}repositories/{name}")
            self.repositories[(location, name)] = body["format"]
            self._operations += 1
            return {"name": f"{prefix}operations/op-{self._operations}", "done": False}
        if len(segs) != 6 or (location, segs[5]) not in self.repositories:
            raise ApiError(404, "NOT_FOUND", "Requested entity was not found.")
        if method == "GET" and not verb:
            return {"name": f"{prefix}repositories/{segs[5]}",
                    "format": self.repositories[(location, segs[5])], "mode":
                    "STANDARD_REPOSITORY"}
        return self._policy_call(f"repositories/{location}/{segs[5]}", "repository", verb, body)

    def _policy_call(self, resource: str, kind: str, verb: str,
                     body: dict[str, Any]) -> dict[str, Any]:
        policy = self.policies.setdefault(resource, Policy())
        if verb == "getIamPolicy":
            return policy.json()
        if verb != "setIamPolicy":
            raise ApiError(404, "NOT_FOUND", f"no such method :{verb}")
        sent = body.get("policy", {})
        if sent.get("etag") is not None and sent["etag"] != policy.json()["etag"]:
            raise ApiError(409, "ABORTED", "There were concurrent policy changes. Please "
                                           "retry the whole read-modify-write with "
                                           "exponential backoff.")
        bindings = [b for b in sent.get("bindings", []) if b.get("members")]
        for binding in bindings:
            if kind not in ROLES.get(binding["role"], "").split():
                raise ApiError(400, "INVALID_ARGUMENT", f"Role {binding['role']} is not "
                                                        "supported for this resource.")
            for member in binding["members"]:
                email = member.partition(":")[2]
                if member.startswith("serviceAccount:") and email.endswith(
                        f"@{self.project}.iam.gserviceaccount.com") and \
                        email not in self.accounts:
                    raise ApiError(400, "INVALID_ARGUMENT", f"Service account {email} does "
                                                            "not exist.")
        policy.bindings, policy.serial = bindings, policy.serial + 1
        return policy.json()


def main(argv: list[str] | None = None) -> int:
    """Run it by hand: prints the gcloud settings as `export` lines, serves until SIGINT or
    SIGTERM (or --seconds), then prints every call it received, one line each, on stderr.
    From the repository root:

        python -m tests.contract.gcp_standin --project P --config-dir /tmp/gcloud-gcp > env.sh
    """
    import argparse
    import shlex
    import signal
    import sys

    parser = argparse.ArgumentParser(prog="python -m tests.contract.gcp_standin")
    parser.add_argument("--project", default="shipyard-test")
    parser.add_argument("--number", default="100000000042", help="the project's number")
    parser.add_argument("--config-dir", type=Path, required=True,
                        help="where the throwaway CLOUDSDK_CONFIG goes")
    parser.add_argument("--seconds", type=float, default=3600, help="stop after this long")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with GcpStandIn(args.project, args.number) as standin:
        for key, value in standin.env(args.config_dir).items():
            print(f"export {key}={shlex.quote(value)}")
        print(f"# gcp stand-in ready on 127.0.0.1:{standin.port}", flush=True)
        stop.wait(args.seconds)
        for c in standin.calls:
            print(f"{'CHANGE' if c.changes else 'read  '} {c}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
