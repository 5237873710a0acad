"""A stand-in Kubernetes API server that the real kubectl (gcloud's dispatcher) talks to.

No Kubernetes API server can run on these machines (../shared/TOOLING-FACTS.md), so this
threaded HTTP server on 127.0.0.1 answers what kubectl asks of a cluster for the GKE deploy:
`kubectl apply --server-side`, `get`, `create`, `replace`, `delete` and `rollout status`.
Start it as a context manager (`with KubeStandIn() as kube:`) or through the fixtures in
tests/contract/kube_fixtures.py; `kube.write_kubeconfig(path)` writes a kubeconfig for it.

What it models:

- `/version` reports `v1.N.x-gke...` for an N whose `kubectl.1.N` is installed next to the
  dispatcher (32 when there, else the newest; `minor=` picks), so the dispatcher runs that
  binary. Discovery in the legacy JSON form (`/api`, `/apis`, `/api/v1`, `/apis/G[/V]`; kubectl
  asks for aggregated discovery and accepts this) for: namespaces, services, serviceaccounts,
  configmaps (v1); deployments, replicasets (apps/v1); horizontalpodautoscalers
  (autoscaling/v2); poddisruptionbudgets (policy/v1); leases (coordination.k8s.io/v1);
  customresourcedefinitions (apiextensions.k8s.io/v1); and secretproviderclasses
  (secrets-store.csi.x-k8s.io/v1, the CRD GKE's Secret Manager add-on installs, seeded as a
  CRD object too; `secret_store_csi=False` leaves both out, as on a cluster without the
  add-on: kubectl then applies the rest of the file and exits 1 with `no matches for kind
  "SecretProviderClass" ... ensure CRDs are installed first`).
- A minimal OpenAPI v3: `/openapi/v3` and one document per group-version holding one PATCH
  operation per kind with `x-kubernetes-group-version-kind` and a `fieldValidation` parameter,
  so kubectl leaves validation to the server. `/openapi/v2` is an empty protobuf document
  (kubectl's client-side validator reads it for kinds it cannot find; a 404 there fails the
  whole apply with "the server could not find the requested resource").
- Objects, per namespace (a namespaced write into a namespace that does not exist is a 404, as
  on a cluster; `namespaces=` seeds them, a Namespace can be applied too):
  - server-side apply: `PATCH` with `application/apply-patch+yaml` (JSON body; YAML too when
    PyYAML is importable). `fieldManager` is required; the body's apiVersion, kind, name and
    namespace must match the URL. It creates (201) or updates (200). Ownership is
    approximated per path through maps (a list is one value): the applied config is merged
    over the live object, and a path this manager applied before and now leaves out is
    removed unless another manager's apply has it. So what the server owns (uid,
    creationTimestamp, resourceVersion, generation, status, defaults, the controller's
    revision annotation) and what other managers set survive, and a Deployment's `replicas`
    that shipyard once applied and then leaves out falls back to its default (the real SSA
    gotcha). `status` in an apply body is ignored. An apply that changes nothing changes
    nothing (no new resourceVersion, no watch event). `dryRun=All` answers without storing.
    `metadata.managedFields` holds one entry per manager and operation (apiVersion, time and
    the top-level `f:` keys it set), nothing finer; kubectl hides it unless
    `--show-managed-fields`.
  - `POST` create (409 AlreadyExists; `generateName`), `PUT` replace (404 when missing; 409
    Conflict when `metadata.resourceVersion` is stale: what a Lease lock needs), `DELETE`
    (preconditions on resourceVersion/uid, 409 on mismatch; a Deployment takes its
    ReplicaSets with it, a Namespace its objects), `GET`, `LIST` (`labelSelector` with `=`,
    `==`, `!=`, `in`, `notin`, `key`, `!key`; `fieldSelector` on `metadata.name` /
    `metadata.namespace`, other field labels are a 400), across namespaces too, and `WATCH`
    (`?watch=true`): a chunked stream of `{"type": ADDED|MODIFIED|DELETED, "object": ...}`
    lines from `resourceVersion` on (current objects first for "" or "0"; `sendInitialEvents`
    with the initial-events-end BOOKMARK), ended after `timeoutSeconds` (at most
    `max_watch_seconds`) or when the stand-in stops. List items carry no kind/apiVersion, as
    on a real server; single objects and watch events do.
  - Validation that a cluster does and a client does not (422 Invalid, kubectl prints "The
    Deployment "x" is invalid: ..."): names (DNS subdomain; DNS label for Services and
    Namespaces), label keys and values (so `app.kubernetes.io/version: sha256:...` fails), a
    Deployment's selector matching its template labels and being immutable, containers with a
    name and an image, Service ports, HPA bounds and target, PDB minAvailable xor
    maxUnavailable. Unknown top-level or `metadata` fields are a 400 under
    `fieldValidation=Strict` (deeper unknown fields are not caught: use kubernetes-validate).
  - Defaults: Deployment replicas / progressDeadlineSeconds 600 / revisionHistoryLimit 10 /
    RollingUpdate 25%/25%, Service type ClusterIP with an allocated clusterIP and TCP ports with
    targetPort, HPA minReplicas 1, Namespace phase Active. `generation` is 1 on create and
    bumps when `spec` changes.
- A simulated Deployment controller. After a Deployment's generation changes it observes the
  change (`observe_delay`), then creates or reuses an owned ReplicaSet `NAME-HASH` (labels
  plus `pod-template-hash`, `ownerReferences` with `controller: true` and the Deployment's
  uid, `deployment.kubernetes.io/revision` = the next revision, also set on the Deployment; a
  template seen before reuses its ReplicaSet with a new revision, as the real controller
  does). Status: `observedGeneration`, `replicas`, `updatedReplicas`, `readyReplicas`,
  `availableReplicas`, `unavailableReplicas`, conditions `Available` and `Progressing`.
  Modes, first match wins: an image registered with `image_mode(ref_or_digest, mode)`; the
  Deployment's name registered with `set_mode(name, mode)`; `default_mode` ("ok"):
  - `ok`: the new ReplicaSet becomes ready after `ready_delay`, old ones scale to 0,
    Progressing True NewReplicaSetAvailable, Available True;
  - `stuck`: the new pods never become ready (old ReplicaSets keep serving), so
    `rollout status` waits until its `--timeout`;
  - `deadline`: as stuck, then after `deadline_after` seconds (or the Deployment's
    progressDeadlineSeconds when shorter) Progressing False ProgressDeadlineExceeded, so
    `rollout status` fails "exceeded its progress deadline". Time is compressed on purpose.
  Replicas: a Deployment without `spec.replicas` gets 1 on create, or the minReplicas of an
  HPA that targets it; an HPA written later clamps its target into [min, max] (a spec change,
  so generation bumps) and reports currentReplicas/desiredReplicas.
- Auth: with `tls=True` it serves HTTPS with a self-signed certificate made by the `openssl`
  binary for IP 127.0.0.1 (`ca_pem` is what GKE returns as clusterCaCertificate). With
  `token="..."` (TLS only: kubectl never sends credentials over http) every request but
  `/version` and the health paths needs `Authorization: Bearer TOKEN`, else 401.
- Knobs: `set_mode`, `image_mode`, `claim_field(kind, name, field_path, manager)` (the next
  apply by another manager that sets that field gets 409 "Apply failed with 1 conflict:
  conflict with "MANAGER" using G/V: .spec.replicas" unless it sends `force=true`, which takes
  the field over), `add_namespace`.
- A request log: `kube.requests` (a list of `RecordedRequest`: method, path, query as a dict of
  last values, content_type, body parsed from JSON (None when empty), raw text, authorization,
  user_agent, status). `mark()` / `requests_since(mark)` slice it.

What it does not model: real field ownership (no conflicts except `claim_field`, no per-field
managedFields, lists are atomic: no merge of containers or ports by key, and an Update-style
write such as PUT owns nothing), protobuf request bodies (415: kubectl's typed generators such
as `kubectl create namespace X` send them; `kubectl create -f` sends JSON), strategic merge
patch, JSON patch and merge patch
(415: so `kubectl rollout undo`, `scale`, `annotate`, `edit` and client-side `apply` of an
existing object do not work), subresource writes, Pods and Events (rollout status does not
need them), Secrets (on purpose: the deploy must not create any), admission webhooks, RBAC
(one token can do everything), quotas, finalizers and graceful deletion, schema validation
beyond the rules above, aggregated discovery, protobuf, Table output (kubectl falls back to
its default NAME/AGE columns), watch bookmarks other than the initial-events one, resource
version expiry (410), the real rolling-update pacing (maxSurge/maxUnavailable only decide
Available), and any time that passes at real speed.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import hashlib
import heapq
import itertools
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

JSON = dict[str, Any]

MODES = ("ok", "stuck", "deadline")
CSI_GROUP = "secrets-store.csi.x-k8s.io"
REVISION = "deployment.kubernetes.io/revision"
DEFAULT_MINOR = 32
GCLOUD_SDK_BIN = Path("/usr/lib/google-cloud-sdk/bin")
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    """One kind the stand-in serves."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else "/api/v1"

    @property
    def qualified(self) -> str:
        """`deployments.apps`, `services`: how error messages name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "namespaces", "Namespace", namespaced=False, short_names=("ns",),
             subresources=("status",)),
    Resource("", "v1", "services", "Service", short_names=("svc",), categories=("all",),
             subresources=("status",)),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    Resource("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    Resource("apps", "v1", "deployments", "Deployment", short_names=("deploy",),
             categories=("all",), subresources=("status", "scale")),
    Resource("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",),
             categories=("all",), subresources=("status", "scale")),
    Resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
             short_names=("hpa",), categories=("all",), subresources=("status",)),
    Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget",
             short_names=("pdb",), subresources=("status",)),
    Resource("coordination.k8s.io", "v1", "leases", "Lease"),
    Resource(CSI_GROUP, "v1", "secretproviderclasses", "SecretProviderClass"),
    Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions",
             "CustomResourceDefinition", namespaced=False, short_names=("crd", "crds"),
             subresources=("status",)),
)

# Top-level fields each kind declares (fieldValidation=Strict rejects others).
TOP_LEVEL = {
    "Namespace": {"spec", "status"}, "Service": {"spec", "status"},
    "ServiceAccount": {"secrets", "imagePullSecrets", "automountServiceAccountToken"},
    "ConfigMap": {"data", "binaryData", "immutable"}, "Deployment": {"spec", "status"},
    "ReplicaSet": {"spec", "status"}, "HorizontalPodAutoscaler": {"spec", "status"},
    "PodDisruptionBudget": {"spec", "status"}, "Lease": {"spec"},
    "SecretProviderClass": {"spec", "status"}, "CustomResourceDefinition": {"spec", "status"},
}
METADATA_FIELDS = {"name", "generateName", "namespace", "labels", "annotations",
                   "ownerReferences", "finalizers", "uid", "resourceVersion", "generation",
                   "creationTimestamp", "managedFields", "selfLink", "deletionTimestamp",
                   "deletionGracePeriodSeconds"}
SERVER_METADATA = ("uid", "creationTimestamp", "resourceVersion", "generation", "managedFields")


def installed_kubectl_minors() -> list[int]:
    """Minor versions N with a `kubectl.1.N` next to the kubectl dispatcher."""
    folders = [GCLOUD_SDK_BIN]
    found = shutil.which("kubectl")
    if found:
        folders.insert(0, Path(os.path.realpath(found)).parent)
    minors = set()
    for folder in folders:
        for path in folder.glob("kubectl.1.*"):
            suffix = path.name.removeprefix("kubectl.1.")
            if suffix.isdigit() and os.access(path, os.X_OK):
                minors.add(int(suffix))
    return sorted(minors)


def pick_kubectl_minor(preferred: int = DEFAULT_MINOR) -> int:
    """PREFERRED when its kubectl.1.N is installed, else the newest installed, else PREFERRED."""
    minors = installed_kubectl_minors()
    if preferred in minors or not minors:
        return preferred
    return minors[-1]


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_body(code: int, reason: str, message: str, details: JSON | None = None) -> JSON:
    body: JSON = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


class ApiError(Exception):
    """An answer with a Kubernetes Status body."""

    def __init__(self, code: int, reason: str, message: str, details: JSON | None = None):
        super().__init__(message)
        self.code = code
        self.body = status_body(code, reason, message, details)


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{res.qualified} "{name}" not found',
                    {"name": name, "group": res.group, "kind": res.plural})


def invalid(res: Resource, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 with kubectl's wording: `Deployment.apps "x" is invalid: FIELD: MESSAGE`."""
    text = "; ".join(f"{field}: {message}" for field, message in causes)
    if len(causes) > 1:
        text = "[" + ", ".join(f"{field}: {message}" for field, message in causes) + "]"
    kind = f"{res.kind}.{res.group}" if res.group else res.kind
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {text}',
                    {"name": name, "group": res.group, "kind": res.kind,
                     "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f}
                                for f, m in causes]})


# --- validation helpers ------------------------------------------------------------------

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def label_key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)):
        return "prefix part must be a lowercase RFC 1123 subdomain"
    if not name or len(name) > 63 or not LABEL_NAME.match(name):
        return ("name part must consist of alphanumeric characters, '-', '_' or '.', and must "
                "start and end with an alphanumeric character (at most 63 characters)")
    return None


def label_problems(labels: Any, where: str) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if labels is None:
        return problems
    if not isinstance(labels, dict):
        return [(where, "Invalid value: must be a map of strings")]
    for key, value in labels.items():
        key_problem = label_key_problem(str(key))
        if key_problem:
            problems.append((where, f'Invalid value: "{key}": {key_problem}'))
        if not isinstance(value, str):
            problems.append((f"{where}.{key}", "Invalid value: must be a string"))
        elif len(value) > 63 or not LABEL_VALUE.match(value):
            problems.append((where, f'Invalid value: "{value}": a valid label must be an empty '
                                    "string or consist of alphanumeric characters, '-', '_' "
                                    "or '.', and must start and end with an alphanumeric "
                                    "character (at most 63 characters)"))
    return problems


def parse_label_selector(text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """`a=b,c!=d,e in (f,g),!h,i` → [(key, op, values)]; ValueError when malformed."""
    requirements: list[tuple[str, str, tuple[str, ...]]] = []
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    for raw in parts:
        part = raw.strip()
        if not part:
            continue
        match = re.fullmatch(r"([^\s=!()]+)\s+(in|notin)\s+\(([^)]*)\)", part)
        if match:
            values = tuple(v.strip() for v in match.group(3).split(",") if v.strip())
            requirements.append((match.group(1), match.group(2), values))
            continue
        match = re.fullmatch(r"([^\s=!()]+)\s*(==|=|!=)\s*([^\s=!(),]*)", part)
        if match:
            op = "!=" if match.group(2) == "!=" else "="
            requirements.append((match.group(1), op, (match.group(3),)))
            continue
        match = re.fullmatch(r"(!?)\s*([^\s=!()]+)", part)
        if match:
            requirements.append((match.group(2), "!exists" if match.group(1) else "exists", ()))
            continue
        raise ValueError(f"unable to parse requirement: {part!r}")
    return requirements


Requirement = tuple[str, str, tuple[str, ...]]


def labels_match(labels: dict[str, str], selector: list[Requirement]) -> bool:
    for key, op, values in selector:
        present = key in labels
        value = labels.get(key)
        if op == "=" and value != values[0]:
            return False
        if op == "!=" and value == values[0]:
            return False
        if op == "in" and value not in values:
            return False
        if op == "notin" and present and value in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
    return True


def parse_field_selector(text: str) -> list[tuple[str, bool, str]]:
    """`metadata.name=x` → [(field, equal, value)]; only the fields every kind supports."""
    found: list[tuple[str, bool, str]] = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        match = re.fullmatch(r"([A-Za-z.]+)\s*(==|=|!=)\s*(.*)", part)
        if not match:
            raise ApiError(400, "BadRequest", f"invalid selector: '{text}'; can't understand "
                                              f"'{part}'")
        field, op, value = match.groups()
        if field not in ("metadata.name", "metadata.namespace"):
            raise ApiError(400, "BadRequest", f'field label not supported: "{field}"')
        found.append((field, op != "!=", value))
    return found


def selector_matches(selector: JSON | None, labels: dict[str, str]) -> bool:
    """A LabelSelector object (matchLabels + matchExpressions) against labels."""
    if not selector:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def percent_or_int(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%") and text[:-1].isdigit():
        scaled = int(text[:-1]) * total
        return -(-scaled // 100) if round_up else scaled // 100
    return int(text) if text.isdigit() else 0


def template_hash(template: JSON) -> str:
    """A stable 10-character pod-template-hash (the controller's safe-encoding alphabet)."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:10])


def fields_v1(obj: JSON) -> JSON:
    """Top-level `f:` keys (and metadata's labels/annotations keys) an applied object sets."""
    out: JSON = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata" and isinstance(value, dict):
            meta: JSON = {}
            for mkey in ("labels", "annotations"):
                if isinstance(value.get(mkey), dict):
                    meta[f"f:{mkey}"] = {f"f:{k}": {} for k in value[mkey]}
            out["f:metadata"] = meta
        elif isinstance(value, dict):
            out[f"f:{key}"] = {f"f:{k}": {} for k in value}
        else:
            out[f"f:{key}"] = {}
    return out


def dig(obj: Any, dotted: str) -> tuple[bool, Any]:
    """(present, value) of `.spec.replicas` in OBJ."""
    current = obj
    for part in [p for p in dotted.split(".") if p]:
        if not isinstance(current, dict) or part not in current:
            return False, None
        current = current[part]
    return True, current


def leaf_paths(obj: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Paths to the leaves of nested maps (a list or an empty map is a leaf)."""
    if not isinstance(obj, dict) or (not obj and prefix):
        return {prefix} if prefix else set()
    paths: set[tuple[str, ...]] = set()
    for key, value in obj.items():
        paths |= leaf_paths(value, (*prefix, str(key)))
    return paths


def delete_path(obj: JSON, path: tuple[str, ...]) -> None:
    """Remove PATH, and the maps it leaves empty."""
    parents = [obj]
    for part in path[:-1]:
        child = parents[-1].get(part)
        if not isinstance(child, dict):
            return
        parents.append(child)
    parents[-1].pop(path[-1], None)
    for depth in range(len(path) - 1, 0, -1):
        if not parents[depth]:
            parents[depth - 1].pop(path[depth - 1], None)


def deep_merge(target: JSON, source: JSON) -> None:
    """SOURCE over TARGET, map by map; any other value (lists too) replaces."""
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict) and value:
            deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def make_tls_files(folder: Path) -> tuple[Path, Path]:
    """A self-signed CA certificate for IP 127.0.0.1 (and localhost), made by openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl not found: the TLS stand-in makes its certificate with it")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        (openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=kube-standin",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
         "-keyout", str(key), "-out", str(cert)),
        check=True, capture_output=True, timeout=30)
    return cert, key


@dataclass
class RecordedRequest:
    """One request as the stand-in saw it (query values: the last one for each key)."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any
    raw: str
    authorization: str | None
    user_agent: str
    status: int = 0

    @property
    def watch(self) -> bool:
        return self.query.get("watch") in ("true", "1")

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in sorted(self.query.items()))
        return f"{self.method} {self.path}{'?' + query if query else ''} -> {self.status}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, standin: KubeStandIn) -> None:
        self.standin = standin
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that went away (a killed kubectl, a failed TLS handshake)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    server: _Server

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            try:
                self.request.do_handshake()
            except (OSError, ssl.SSLError):
                self.close_connection = True
        with self.server.connections_lock:
            self.server.open_connections.add(self.request)
        super().setup()

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.open_connections.discard(self.request)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self.server.standin._serve(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    # responses
    def send_json(self, code: int, body: Any, content_type: str = "application/json") -> None:
        data = body.data if isinstance(body, _Raw) else json.dumps(body).encode()
        content_type = body.content_type if isinstance(body, _Raw) else content_type
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class KubeStandIn:
    """A loopback Kubernetes API server for kubectl; see the module docstring."""

    def __init__(self, *, minor: int | None = None, tls: bool = False, token: str | None = None,
                 namespaces: tuple[str, ...] = ("default",), secret_store_csi: bool = True,
                 observe_delay: float = 0.05, ready_delay: float = 0.3,
                 deadline_after: float = 1.0, max_watch_seconds: float = 120.0) -> None:
        if token is not None and not tls:
            raise ValueError("kubectl never sends credentials over http: a token needs tls=True")
        self.minor = minor if minor is not None else pick_kubectl_minor()
        self.git_version = f"v1.{self.minor}.4-gke.1415000"
        self.tls = tls
        self.token = token
        self.observe_delay = observe_delay
        self.ready_delay = ready_delay
        self.deadline_after = deadline_after
        self.max_watch_seconds = max_watch_seconds
        self.default_mode = "ok"
        self.resources = tuple(r for r in RESOURCES if secret_store_csi or r.group != CSI_GROUP)
        self.requests: list[RecordedRequest] = []
        self.controller_errors: list[str] = []
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stopping = False
        self._rv = 1000
        self._objects: dict[tuple[str, str, str, str], JSON] = {}
        self._applied: dict[tuple[tuple[str, str, str, str], str], JSON] = {}
        self._events: list[tuple[int, str, str, str, JSON]] = []
        self._event_rvs: list[int] = []
        self._name_modes: dict[tuple[str | None, str], str] = {}
        self._image_modes: dict[str, str] = {}
        self._claims: dict[tuple[tuple[str, str, str, str], str], str] = {}
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = itertools.count()
        self._ips = itertools.count(10)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_pem = b""
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        for ns in namespaces:
            self.add_namespace(ns)
        if secret_store_csi:
            self._seed_crd(self.resource("SecretProviderClass"))

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> KubeStandIn:
        server = _Server(self)
        if self.tls:
            self._tmp = tempfile.TemporaryDirectory(prefix="kube-standin-")
            cert, key = make_tls_files(Path(self._tmp.name))
            self.ca_pem = cert.read_bytes()
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            context.set_alpn_protocols(["http/1.1"])
            server.socket = context.wrap_socket(server.socket, server_side=True,
                                                do_handshake_on_connect=False)
        self._server = server
        self._threads = [threading.Thread(target=server.serve_forever, kwargs={
                             "poll_interval": 0.1}, name="kube-standin", daemon=True),
                         threading.Thread(target=self._run_timers, name="kube-controller",
                                          daemon=True)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        server = self._server
        if server is not None:
            server.shutdown()
            with server.connections_lock:
                for conn in list(server.open_connections):
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        self._server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> KubeStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the stand-in first"
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        """`127.0.0.1:PORT`, what GKE's API returns as a cluster's `endpoint`."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.endpoint}"

    def write_kubeconfig(self, path: Path, namespace: str = "default",
                         context: str = "kube-standin") -> Path:
        """A kubeconfig for this server (http: no user; TLS: the CA and the token, if any)."""
        cluster: JSON = {"server": self.url}
        if self.tls:
            import base64

            cluster["certificate-authority-data"] = base64.b64encode(self.ca_pem).decode()
        user: JSON = {"token": self.token} if self.token else {}
        config = {"apiVersion": "v1", "kind": "Config", "preferences": {},
                  "clusters": [{"name": context, "cluster": cluster}],
                  "users": [{"name": context, "user": user}],
                  "contexts": [{"name": context, "context": {
                      "cluster": context, "user": context, "namespace": namespace}}],
                  "current-context": context}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=2) + "\n")
        path.chmod(0o600)
        return path

    # --- knobs and reading state -------------------------------------------------------

    def resource(self, kind: str) -> Resource:
        """By kind (`Deployment`), plural (`deployments`), singular or short name (`deploy`)."""
        low = kind.lower()
        for res in self.resources:
            if low in (res.kind.lower(), res.plural, *res.short_names):
                return res
        raise KeyError(f"the stand-in serves no kind {kind!r}")

    def set_mode(self, name: str, mode: str, namespace: str | None = None) -> None:
        """Deployment NAME (in NAMESPACE, or any) rolls out per MODE: ok, stuck or deadline."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        with self._lock:
            self._name_modes[(namespace, name)] = mode

    def image_mode(self, image: str, mode: str) -> None:
        """A template with IMAGE (a full reference, or a `sha256:...` digest it ends with)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        with self._lock:
            self._image_modes[image] = mode

    def claim_field(self, kind: str, name: str, field_path: str, manager: str = "kubectl-edit",
                    namespace: str = "default") -> None:
        """Another manager owns FIELD_PATH (`.spec.replicas`) of the object: applies conflict."""
        res = self.resource(kind)
        with self._lock:
            self._claims[(self._key(res, namespace, name), field_path)] = manager

    def add_namespace(self, name: str) -> None:
        res = self.resource("Namespace")
        with self._lock:
            if self._key(res, "", name) not in self._objects:
                obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
                self._create(res, "", obj, manager="standin", reason="seed")

    def _seed_crd(self, res: Resource) -> None:
        """The CRD object a cluster add-on installs (spec only as far as kubectl reads it)."""
        crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": res.qualified},
               "spec": {"group": res.group, "scope": "Namespaced",
                        "names": {"plural": res.plural, "singular": res.kind.lower(),
                                  "kind": res.kind, "listKind": f"{res.kind}List"},
                        "versions": [{"name": res.version, "served": True, "storage": True,
                                      "schema": {"openAPIV3Schema": {
                                          "type": "object",
                                          "x-kubernetes-preserve-unknown-fields": True}}}]},
               "status": {"conditions": [{"type": "Established", "status": "True"}],
                          "acceptedNames": {"plural": res.plural, "kind": res.kind}}}
        with self._lock:
            self._create(self.resource("CustomResourceDefinition"), "", crd,
                         manager="standin", reason="seed")

    def get(self, kind: str, name: str, namespace: str = "default") -> JSON | None:
        res = self.resource(kind)
        with self._lock:
            obj = self._objects.get(self._key(res, namespace if res.namespaced else "", name))
            return copy.deepcopy(obj)

    def objects(self, kind: str, namespace: str | None = "default") -> list[JSON]:
        res = self.resource(kind)
        with self._lock:
            return [copy.deepcopy(obj) for key, obj in sorted(self._objects.items())
                    if key[:2] == (res.group, res.plural)
                    and (namespace is None or not res.namespaced or key[2] == namespace)]

    def replicasets(self, deployment: str, namespace: str = "default") -> list[JSON]:
        """The ReplicaSets the Deployment owns, oldest revision first."""
        dep = self.get("Deployment", deployment, namespace)
        if dep is None:
            return []
        owned = [rs for rs in self.objects("ReplicaSet", namespace)
                 if any(ref.get("uid") == dep["metadata"]["uid"] and ref.get("controller")
                        for ref in rs["metadata"].get("ownerReferences", []))]
        return sorted(owned, key=lambda rs: int(rs["metadata"]["annotations"][REVISION]))

    def mark(self) -> int:
        with self._lock:
            return len(self.requests)

    def requests_since(self, mark: int) -> list[RecordedRequest]:
        with self._lock:
            return list(self.requests[mark:])

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.1))
        return True

    def call(self, method: str, path: str, body: Any = None,
             content_type: str = "application/json",
             token: str | None = None) -> tuple[int, Any]:
        """One request with http.client (TLS verified against `ca_pem`): (status, JSON)."""
        import http.client

        headers = {"Accept": "application/json"}
        token = token if token is not None else self.token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = content_type
        conn: http.client.HTTPConnection
        if self.tls:
            context = ssl.create_default_context(cadata=self.ca_pem.decode())
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30,
                                               context=context)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            text = response.read().decode()
        finally:
            conn.close()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text

    # --- storage -----------------------------------------------------------------------

    @staticmethod
    def _key(res: Resource, namespace: str, name: str) -> tuple[str, str, str, str]:
        return (res.group, res.plural, namespace if res.namespaced else "", name)

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _put(self, res: Resource, obj: JSON, event: str) -> JSON:
        meta = obj["metadata"]
        meta["resourceVersion"] = self._next_rv()
        key = self._key(res, meta.get("namespace", ""), meta["name"])
        if event == "DELETED":
            self._objects.pop(key, None)
        else:
            self._objects[key] = copy.deepcopy(obj)
        self._events.append((self._rv, f"{res.group}/{res.plural}", key[2], event,
                             copy.deepcopy(obj)))
        self._event_rvs.append(self._rv)
        self._changed.notify_all()
        return obj

    def _create(self, res: Resource, namespace: str, obj: JSON, manager: str,
                reason: str = "Update") -> JSON:
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            meta["namespace"] = namespace
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        meta["generation"] = 1
        self._default(res, obj, None)
        if reason != "seed":
            meta["managedFields"] = [self._managed_entry(manager, "Update", res, obj)]
        return self._put(res, obj, "ADDED")

    @staticmethod
    def _managed_entry(manager: str, operation: str, res: Resource, applied: JSON,
                       subresource: str | None = None) -> JSON:
        entry = {"manager": manager, "operation": operation, "apiVersion": res.api_version,
                 "time": now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": fields_v1(applied)}
        if subresource:
            entry["subresource"] = subresource
        return entry

    # --- HTTP --------------------------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        raw = _read_body(handler).decode("utf-8", "replace")
        content_type = (handler.headers.get("Content-Type") or "").split(";")[0].strip()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = _parse_yaml(raw)
        record = RecordedRequest(handler.command, split.path, query, content_type, body, raw,
                                 handler.headers.get("Authorization"),
                                 handler.headers.get("User-Agent") or "")
        with self._lock:
            self.requests.append(record)
        try:
            self._authorize(split.path, record)
            if content_type == "application/vnd.kubernetes.protobuf":
                raise ApiError(415, "UnsupportedMediaType", "the stand-in reads JSON bodies "
                               "only; kubectl sends protobuf from its typed generators "
                               "(kubectl create namespace|secret|...): use a manifest")
            code, answer = self._route(handler, record)
        except ApiError as exc:
            code, answer = exc.code, exc.body
        except Exception as exc:  # a stand-in bug: answer 500 with the reason, keep serving
            code, answer = 500, status_body(500, "InternalError", f"stand-in error: {exc!r}")
        if answer is _STREAMED:
            return
        record.status = code
        try:
            handler.send_json(code, answer)
        except OSError:
            handler.close_connection = True

    def _authorize(self, path: str, record: RecordedRequest) -> None:
        if self.token is None or path in ("/version", "/healthz", "/livez", "/readyz"):
            return
        if record.authorization != f"Bearer {self.token}":
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _route(self, handler: _Handler, record: RecordedRequest) -> tuple[int, Any]:
        path = record.path.rstrip("/") or "/"
        if path == "/version":
            return 200, self._version()
        if path in ("/healthz", "/livez", "/readyz"):
            return 200, "ok"
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs":
                         [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.endpoint}]}
        if path == "/apis":
            return 200, {"kind": "APIGroupList", "apiVersion": "v1",
                         "groups": [self._group(g) for g in self._groups()]}
        if path == "/openapi/v2":
            # An empty protobuf openapi_v2.Document: no definitions, so kubectl's client-side
            # validation passes kinds it cannot find, and the mapping error follows.
            return 200, _Raw(b"", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
        if path == "/openapi/v3":
            return 200, {"paths": {gv.lstrip("/"): {"serverRelativeURL": f"/openapi/v3{gv}?hash="
                                                    f"{self._openapi_hash(gv)}"}
                                   for gv in self._group_version_prefixes()}}
        if path.startswith("/openapi/v3/"):
            prefix = path.removeprefix("/openapi/v3")
            if prefix in self._group_version_prefixes():
                return 200, self._openapi_doc(prefix)
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        match = re.fullmatch(r"/apis/([^/]+)", path)
        if match and match.group(1) in self._groups():
            return 200, {"kind": "APIGroup", "apiVersion": "v1", **self._group(match.group(1))}
        for prefix in self._group_version_prefixes():
            if path == prefix:
                return 200, self._resource_list(prefix)
            if path.startswith(prefix + "/"):
                return self._resource_request(handler, record, prefix,
                                              path[len(prefix) + 1:].split("/"))
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    # --- discovery and OpenAPI ---------------------------------------------------------

    def _version(self) -> JSON:
        return {"major": "1", "minor": str(self.minor), "gitVersion": self.git_version,
                "gitCommit": "0" * 40, "gitTreeState": "clean",
                "buildDate": "2025-05-01T00:00:00Z", "goVersion": "go1.23.8",
                "compiler": "gc", "platform": "linux/amd64"}

    def _groups(self) -> list[str]:
        return sorted({r.group for r in self.resources if r.group})

    def _group(self, group: str) -> JSON:
        version = next(r.version for r in self.resources if r.group == group)
        gv = {"groupVersion": f"{group}/{version}", "version": version}
        return {"name": group, "versions": [gv], "preferredVersion": gv}

    def _group_version_prefixes(self) -> list[str]:
        return sorted({r.prefix for r in self.resources})

    def _resource_list(self, prefix: str) -> JSON:
        items: list[JSON] = []
        group_version = ""
        for res in self.resources:
            if res.prefix != prefix:
                continue
            group_version = res.api_version
            entry: JSON = {"name": res.plural, "singularName": res.kind.lower(),
                           "namespaced": res.namespaced, "kind": res.kind, "verbs": VERBS}
            if res.short_names:
                entry["shortNames"] = list(res.short_names)
            if res.categories:
                entry["categories"] = list(res.categories)
            items.append(entry)
            for sub in res.subresources:
                sub_entry: JSON = {"name": f"{res.plural}/{sub}", "singularName": "",
                                   "namespaced": res.namespaced, "kind": res.kind,
                                   "verbs": ["get", "patch", "update"]}
                if sub == "scale":
                    sub_entry.update(group="autoscaling", version="v1", kind="Scale")
                items.append(sub_entry)
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
                "resources": items}

    def _openapi_doc(self, prefix: str) -> JSON:
        paths: JSON = {}
        for res in self.resources:
            if res.prefix != prefix:
                continue
            scope = "/namespaces/{namespace}" if res.namespaced else ""
            gvk = {"group": res.group, "version": res.version, "kind": res.kind}
            field_validation = {"name": "fieldValidation", "in": "query", "uniqueItems": True,
                                "schema": {"type": "string"}}
            paths[f"{prefix}{scope}/{res.plural}/{{name}}"] = {
                "parameters": [field_validation],
                "patch": {"operationId": f"patch{res.kind}", "x-kubernetes-action": "patch",
                          "x-kubernetes-group-version-kind": gvk,
                          "parameters": [field_validation],
                          "responses": {"200": {"description": "OK"}}}}
        return {"openapi": "3.0.0",
                "info": {"title": "Kubernetes", "version": self.git_version},
                "paths": paths, "components": {"schemas": {}}}

    def _openapi_hash(self, prefix: str) -> str:
        text = json.dumps(self._openapi_doc(prefix), sort_keys=True)
        return hashlib.sha512(text.encode()).hexdigest()[:128].upper()

    # --- objects -----------------------------------------------------------------------

    def _resource_request(self, handler: _Handler, record: RecordedRequest, prefix: str,
                          parts: list[str]) -> tuple[int, Any]:
        by_plural = {r.plural: r for r in self.resources if r.prefix == prefix}
        namespace = ""
        if (parts[0] == "namespaces" and len(parts) >= 3 and parts[2] in by_plural
                and by_plural[parts[2]].namespaced):
            namespace, parts = parts[1], parts[2:]
        res = by_plural.get(parts[0])
        if res is None or len(parts) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = parts[1] if len(parts) > 1 else ""
        sub = parts[2] if len(parts) > 2 else ""
        method = record.method
        if sub and sub not in res.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if sub and method != "GET":
            raise ApiError(405, "MethodNotAllowed",
                           f"the stand-in does not model {method} on {res.plural}/{sub}")
        with self._lock:
            if not name:
                if method == "GET" and record.watch:
                    record.status = 200
                    self._watch(handler, res, namespace, record.query)
                    return 200, _STREAMED
                if method == "GET":
                    return 200, self._list(res, namespace, record.query)
                if method == "POST":
                    return self._post(res, namespace, record)
                raise ApiError(405, "MethodNotAllowed", f"{method} on a collection")
            if method in ("GET", "HEAD"):
                obj = self._objects.get(self._key(res, namespace, name))
                if obj is None:
                    raise not_found(res, name)
                return 200, copy.deepcopy(obj)
            if method == "PATCH":
                return self._patch(res, namespace, name, record)
            if method == "PUT":
                return self._replace(res, namespace, name, record)
            if method == "DELETE":
                return self._delete(res, namespace, name, record)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported")

    def _list(self, res: Resource, namespace: str, query: dict[str, str]) -> JSON:
        matches = self._matcher(res, namespace, query)
        items = []
        for key, obj in sorted(self._objects.items()):
            if key[:2] == (res.group, res.plural) and matches(obj):
                item = copy.deepcopy(obj)
                item.pop("kind", None)
                item.pop("apiVersion", None)
                items.append(item)
        return {"kind": f"{res.kind}List", "apiVersion": res.api_version,
                "metadata": {"resourceVersion": str(self._rv)}, "items": items}

    def _matcher(self, res: Resource, namespace: str,
                 query: dict[str, str]) -> Callable[[JSON], bool]:
        try:
            labels = parse_label_selector(query.get("labelSelector", ""))
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {exc}") from exc
        fields = parse_field_selector(query.get("fieldSelector", ""))

        def matches(obj: JSON) -> bool:
            meta = obj["metadata"]
            if res.namespaced and namespace and meta.get("namespace") != namespace:
                return False
            for field, equal, value in fields:
                actual = meta.get(field.split(".")[1], "")
                if (actual == value) != equal:
                    return False
            return labels_match(meta.get("labels") or {}, labels)

        return matches

    def _watch(self, handler: _Handler, res: Resource, namespace: str,
               query: dict[str, str]) -> None:
        """A chunked stream of watch events; called with the lock held, released to write."""
        matches = self._matcher(res, namespace, query)
        kind_key = f"{res.group}/{res.plural}"
        timeout = min(float(query.get("timeoutSeconds") or self.max_watch_seconds),
                      self.max_watch_seconds)
        deadline = time.monotonic() + timeout
        since = query.get("resourceVersion", "")
        send_initial = query.get("sendInitialEvents") == "true"
        pending: list[JSON] = []
        if since in ("", "0") or send_initial:
            pending = [{"type": "ADDED", "object": copy.deepcopy(obj)}
                       for key, obj in sorted(self._objects.items())
                       if key[:2] == (res.group, res.plural) and matches(obj)]
            start = self._rv
        else:
            start = int(since) if since.isdigit() else self._rv
        if send_initial:
            pending.append({"type": "BOOKMARK", "object": {
                "kind": res.kind, "apiVersion": res.api_version,
                "metadata": {"resourceVersion": str(self._rv), "annotations": {
                    "k8s.io/initial-events-end": "true"}}}})
        cursor = bisect.bisect_right(self._event_rvs, start)
        first, done = True, False
        try:
            while True:
                self._lock.release()
                try:
                    if first:
                        handler.send_response(200)
                        handler.send_header("Content-Type", "application/json")
                        handler.send_header("Transfer-Encoding", "chunked")
                        handler.send_header("Cache-Control", "no-cache, private")
                        handler.end_headers()
                        first = False
                    for event in pending:
                        data = json.dumps(event).encode() + b"\n"
                        handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    if done:
                        handler.wfile.write(b"0\r\n\r\n")
                    handler.wfile.flush()
                finally:
                    self._lock.acquire()
                if done:
                    return
                pending = []
                while (cursor >= len(self._events) and not self._stopping
                       and time.monotonic() < deadline):
                    self._changed.wait(max(0.0, min(deadline - time.monotonic(), 1.0)))
                for _rv, key, _ns, event_type, obj in self._events[cursor:]:
                    if key == kind_key and matches(obj):
                        pending.append({"type": event_type, "object": copy.deepcopy(obj)})
                cursor = len(self._events)
                done = self._stopping or time.monotonic() >= deadline
        except OSError:
            handler.close_connection = True

    def _check_namespace(self, res: Resource, namespace: str) -> None:
        if res.namespaced and self._key(self.resource("Namespace"), "", namespace) \
                not in self._objects:
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found',
                           {"name": namespace, "kind": "namespaces"})

    def _check_body(self, res: Resource, namespace: str, name: str | None, body: Any,
                    strict: bool) -> JSON:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        if body.get("apiVersion") != res.api_version or body.get("kind") != res.kind:
            raise ApiError(400, "BadRequest", f"the API version in the data "
                           f"({body.get('apiVersion')}) does not match the expected API version "
                           f"({res.api_version}) or kind ({body.get('kind')} vs {res.kind})")
        meta = body.get("metadata")
        if not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata is required")
        if name is not None and meta.get("name") != name:
            raise ApiError(400, "BadRequest", f"the name of the object ({meta.get('name')}) "
                                              f"does not match the name on the URL ({name})")
        if res.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise ApiError(400, "BadRequest", "the namespace of the provided object does not "
                                              "match the namespace sent on the request")
        if strict:
            unknown = sorted(set(body) - {"apiVersion", "kind", "metadata"}
                             - TOP_LEVEL.get(res.kind, set()))
            unknown += sorted(f"metadata.{k}" for k in set(meta) - METADATA_FIELDS)
            if unknown:
                raise ApiError(400, "BadRequest", ", ".join(
                    f".{field}: field not declared in schema" for field in unknown))
        return copy.deepcopy(body)

    def _patch(self, res: Resource, namespace: str, name: str,
               record: RecordedRequest) -> tuple[int, JSON]:
        if record.content_type != "application/apply-patch+yaml":
            raise ApiError(415, "UnsupportedMediaType",
                           f"the stand-in models only server-side apply, not PATCH with "
                           f"{record.content_type or 'no content type'}")
        manager = record.query.get("fieldManager", "")
        if not manager:
            raise ApiError(400, "BadRequest", "PATCH with apply content type requires the "
                                              "fieldManager query parameter")
        self._check_namespace(res, namespace)
        strict = record.query.get("fieldValidation", "Strict") == "Strict"
        applied = self._check_body(res, namespace, name, record.body, strict)
        key = self._key(res, namespace, name)
        force = record.query.get("force") == "true"
        conflicts = [(path, owner) for (ckey, path), owner in self._claims.items()
                     if ckey == key and owner != manager and dig(applied, path)[0]]
        if conflicts and not force:
            text = ", ".join(f"{p}" for p, _ in conflicts)
            owners = sorted({o for _, o in conflicts})
            noun = "conflict" if len(conflicts) == 1 else "conflicts"
            raise ApiError(409, "Conflict", f"Apply failed with {len(conflicts)} {noun}: "
                           + "; ".join(f'conflict with "{o}" using {res.api_version}: {text}'
                                       for o in owners),
                           {"causes": [{"reason": "FieldManagerConflict", "field": p,
                                        "message": f'conflict with "{o}" using '
                                                   f"{res.api_version}"}
                                       for p, o in conflicts]})
        dry_run = "dryRun" in record.query
        existing = self._objects.get(key)
        if existing is None:
            obj = copy.deepcopy(applied)
            obj["metadata"]["namespace"] = namespace
            if not res.namespaced:
                obj["metadata"].pop("namespace")
            self._default(res, obj, None)
            self._validate(res, obj, None)
            meta = obj["metadata"]
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta["generation"] = 1
            meta["managedFields"] = [self._managed_entry(manager, "Apply", res, applied)]
            code = 201
        else:
            obj = self._merge_apply(res, key, existing, applied, manager)
            self._default(res, obj, existing)
            self._validate(res, obj, existing)
            entries = [e for e in existing["metadata"].get("managedFields", [])
                       if not (e["manager"] == manager and e["operation"] == "Apply")]
            entries.insert(0, self._managed_entry(manager, "Apply", res, applied))
            obj["metadata"]["managedFields"] = entries
            if obj.get("spec") != existing.get("spec"):
                obj["metadata"]["generation"] = existing["metadata"].get("generation", 1) + 1
            code = 200
            if not dry_run and self._same(obj, existing):
                self._applied[(key, manager)] = applied
                return code, copy.deepcopy(existing)
        if dry_run:
            if existing is not None:
                obj["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
            return code, obj
        if force:
            for claim in [c for c in self._claims if c[0] == key and dig(applied, c[1])[0]]:
                del self._claims[claim]
        self._applied[(key, manager)] = applied
        self._put(res, obj, "ADDED" if existing is None else "MODIFIED")
        self._after_write(res, obj, existing)
        return code, copy.deepcopy(obj)

    @staticmethod
    def _same(new: JSON, old: JSON) -> bool:
        def strip(obj: JSON) -> JSON:
            out = copy.deepcopy(obj)
            for entry in out["metadata"].get("managedFields", []):
                entry.pop("time", None)
            return out

        return strip(new) == strip(old)

    def _merge_apply(self, res: Resource, key: tuple[str, str, str, str], existing: JSON,
                     applied: JSON, manager: str) -> JSON:
        """SSA, approximated per path: the applied config merged over the live object.

        A path (through maps; a list is one value) this manager applied before and leaves
        out now is removed, unless another manager's applied config has it too. Everything
        else on the live object stays: server metadata, status, defaults, controller
        annotations, fields other managers (or writes) set.
        """
        mine = copy.deepcopy(applied)
        for field in SERVER_METADATA:
            mine["metadata"].pop(field, None)
        mine.pop("status", None)
        previous = self._applied.get((key, manager), {})
        others = [cfg for (k, m), cfg in self._applied.items() if k == key and m != manager]
        obj = copy.deepcopy(existing)
        for path in leaf_paths(previous) - leaf_paths(mine):
            if path[0] not in ("apiVersion", "kind") and not any(
                    path in leaf_paths(other) for other in others):
                delete_path(obj, path)
        deep_merge(obj, mine)
        return obj

    def _post(self, res: Resource, namespace: str, record: RecordedRequest) -> tuple[int, JSON]:
        self._check_namespace(res, namespace)
        strict = record.query.get("fieldValidation", "Strict") == "Strict"
        obj = self._check_body(res, namespace, None, record.body, strict)
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        name = meta.get("name")
        if not name:
            raise invalid(res, "", [("metadata.name", "Required value: name or generateName "
                                                      "is required")])
        key = self._key(res, namespace, name)
        if key in self._objects:
            raise ApiError(409, "AlreadyExists", f'{res.qualified} "{name}" already exists',
                           {"name": name, "group": res.group, "kind": res.plural})
        for field in SERVER_METADATA:
            meta.pop(field, None)
        obj.pop("status", None)
        self._default(res, obj, None)
        self._validate(res, obj, None)
        if "dryRun" in record.query:
            return 201, obj
        created = self._create(res, namespace, obj,
                               manager=record.query.get("fieldManager") or _agent(record))
        self._after_write(res, created, None)
        return 201, copy.deepcopy(created)

    def _replace(self, res: Resource, namespace: str, name: str,
                 record: RecordedRequest) -> tuple[int, JSON]:
        strict = record.query.get("fieldValidation", "Strict") == "Strict"
        obj = self._check_body(res, namespace, name, record.body, strict)
        key = self._key(res, namespace, name)
        existing = self._objects.get(key)
        if existing is None:
            raise not_found(res, name)
        meta, old_meta = obj["metadata"], existing["metadata"]
        sent_rv = meta.get("resourceVersion")
        if (sent_rv and sent_rv != old_meta["resourceVersion"]) or \
                (meta.get("uid") and meta["uid"] != old_meta["uid"]):
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.qualified} '
                           f'"{name}": the object has been modified; please apply your changes '
                           "to the latest version and try again",
                           {"name": name, "group": res.group, "kind": res.plural})
        if res.namespaced:
            meta["namespace"] = namespace
        for field in ("uid", "creationTimestamp", "generation"):
            meta[field] = old_meta[field]
        if "status" in res.subresources:
            obj.pop("status", None)
            if "status" in existing:
                obj["status"] = copy.deepcopy(existing["status"])
        self._default(res, obj, existing)
        self._validate(res, obj, existing)
        if obj.get("spec") != existing.get("spec"):
            meta["generation"] = old_meta.get("generation", 1) + 1
        manager = record.query.get("fieldManager") or _agent(record)
        entries = [e for e in old_meta.get("managedFields", [])
                   if not (e["manager"] == manager and e["operation"] == "Update")]
        entries.append(self._managed_entry(manager, "Update", res, obj))
        meta["managedFields"] = entries
        if "dryRun" in record.query:
            meta["resourceVersion"] = old_meta["resourceVersion"]
            return 200, obj
        self._put(res, obj, "MODIFIED")
        self._after_write(res, obj, existing)
        return 200, copy.deepcopy(obj)

    def _delete(self, res: Resource, namespace: str, name: str,
                record: RecordedRequest) -> tuple[int, JSON]:
        key = self._key(res, namespace, name)
        existing = self._objects.get(key)
        if existing is None:
            raise not_found(res, name)
        options = record.body if isinstance(record.body, dict) else {}
        pre = options.get("preconditions") or {}
        meta = existing["metadata"]
        if (pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]) \
                or (pre.get("uid") and pre["uid"] != meta["uid"]):
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.qualified} '
                           f'"{name}": the object has been modified; please apply your changes '
                           "to the latest version and try again")
        details = {"name": name, "group": res.group, "kind": res.plural, "uid": meta["uid"]}
        if "dryRun" in record.query:
            return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                         "status": "Success", "details": details}
        self._remove(res, existing)
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                     "details": details}

    def _remove(self, res: Resource, obj: JSON) -> None:
        meta = obj["metadata"]
        key = self._key(res, meta.get("namespace", ""), meta["name"])
        self._put(res, copy.deepcopy(obj), "DELETED")
        for applied_key in [k for k in self._applied if k[0] == key]:
            del self._applied[applied_key]
        if res.kind == "Namespace":
            for other_key, other in list(self._objects.items()):
                if other_key[2] == meta["name"]:
                    other_res = next(r for r in self.resources
                                     if (r.group, r.plural) == other_key[:2])
                    self._remove(other_res, other)
        else:
            for other_key, other in list(self._objects.items()):
                if other_key[2] == key[2] and any(
                        ref.get("uid") == meta["uid"]
                        for ref in other["metadata"].get("ownerReferences", [])):
                    other_res = next(r for r in self.resources
                                     if (r.group, r.plural) == other_key[:2])
                    self._remove(other_res, other)

    # --- defaults and validation -------------------------------------------------------

    def _default(self, res: Resource, obj: JSON, existing: JSON | None) -> None:
        spec = obj.get("spec")
        if res.kind == "Deployment":
            spec = obj.setdefault("spec", {})
            if "replicas" not in spec:
                spec["replicas"] = self._hpa_min(obj) or 1
            spec.setdefault("progressDeadlineSeconds", 600)
            spec.setdefault("revisionHistoryLimit", 10)
            strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
            if strategy.get("type", "RollingUpdate") == "RollingUpdate":
                strategy["type"] = "RollingUpdate"
                rolling = strategy.setdefault("rollingUpdate", {})
                rolling.setdefault("maxSurge", "25%")
                rolling.setdefault("maxUnavailable", "25%")
            obj.setdefault("status", {})
        elif res.kind == "Service":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            if "clusterIP" not in spec and spec["type"] != "ExternalName":
                number = next(self._ips)
                spec["clusterIP"] = f"10.96.{number // 250}.{number % 250 + 1}"
            if "clusterIP" in spec:
                spec.setdefault("clusterIPs", [spec["clusterIP"]])
            for port in spec.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")
                    if "port" in port:
                        port.setdefault("targetPort", port["port"])
            obj.setdefault("status", {"loadBalancer": {}})
        elif res.kind == "HorizontalPodAutoscaler":
            spec = obj.setdefault("spec", {})
            spec.setdefault("minReplicas", 1)
        elif res.kind == "Namespace":
            labels = obj["metadata"].setdefault("labels", {})
            labels.setdefault("kubernetes.io/metadata.name", obj["metadata"]["name"])
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
        elif res.kind == "PodDisruptionBudget":
            obj.setdefault("status", {"currentHealthy": 0, "desiredHealthy": 0,
                                      "disruptionsAllowed": 0, "expectedPods": 0})
        del spec

    def _hpa_min(self, deployment: JSON) -> int | None:
        hpa = self._hpa_for(deployment)
        return int(hpa["spec"].get("minReplicas", 1)) if hpa else None

    def _hpa_for(self, deployment: JSON) -> JSON | None:
        meta = deployment["metadata"]
        for key, obj in self._objects.items():
            if key[:2] != ("autoscaling", "horizontalpodautoscalers"):
                continue
            target = obj.get("spec", {}).get("scaleTargetRef", {})
            if (key[2] == meta.get("namespace") and target.get("kind") == "Deployment"
                    and target.get("name") == meta["name"]):
                return obj
        return None

    def _validate(self, res: Resource, obj: JSON, existing: JSON | None) -> None:
        meta = obj["metadata"]
        name = str(meta.get("name", ""))
        problems: list[tuple[str, str]] = []
        pattern, what = ((DNS_1035, "a DNS-1035 label") if res.kind == "Service"
                         else (DNS_LABEL, "a lowercase RFC 1123 label")
                         if res.kind == "Namespace"
                         else (DNS_SUBDOMAIN, "a lowercase RFC 1123 subdomain"))
        limit = 253 if pattern is DNS_SUBDOMAIN else 63
        if not pattern.match(name) or len(name) > limit:
            problems.append(("metadata.name", f'Invalid value: "{name}": must be {what}'))
        problems += label_problems(meta.get("labels"), "metadata.labels")
        annotations = meta.get("annotations")
        if annotations is not None and (not isinstance(annotations, dict) or not all(
                isinstance(v, str) for v in annotations.values())):
            problems.append(("metadata.annotations", "Invalid value: must be a map of strings"))
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        if res.kind in ("Deployment", "ReplicaSet"):
            problems += self._validate_workload(spec, existing)
        elif res.kind == "Service":
            ports = spec.get("ports") or []
            if spec.get("type") != "ExternalName" and not ports:
                problems.append(("spec.ports", "Required value"))
            for i, port in enumerate(ports):
                number = port.get("port") if isinstance(port, dict) else None
                if not isinstance(number, int) or not 0 < number < 65536:
                    problems.append((f"spec.ports[{i}].port", f"Invalid value: {number}: must "
                                                              "be between 1 and 65535"))
        elif res.kind == "HorizontalPodAutoscaler":
            target = spec.get("scaleTargetRef") or {}
            if not target.get("kind") or not target.get("name"):
                problems.append(("spec.scaleTargetRef", "Required value: kind and name"))
            low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
            if not isinstance(high, int) or high < 1:
                problems.append(("spec.maxReplicas", f"Invalid value: {high}: must be greater "
                                                     "than or equal to 1"))
            elif not isinstance(low, int) or low < 1 or low > high:
                problems.append(("spec.minReplicas", f"Invalid value: {low}: must be between 1 "
                                                     "and maxReplicas"))
        elif res.kind == "PodDisruptionBudget" and (
                ("minAvailable" in spec) == ("maxUnavailable" in spec)):
            problems.append(("spec", "Invalid value: minAvailable and maxUnavailable "
                                         "cannot be both set (set exactly one)"))
        if problems:
            raise invalid(res, name, problems)

    @staticmethod
    def _validate_workload(spec: JSON, existing: JSON | None) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        selector = spec.get("selector")
        template = spec.get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        problems += label_problems(labels, "spec.template.metadata.labels")
        if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
            problems.append(("spec.selector", "Required value"))
        elif not selector_matches(selector, labels):
            problems.append(("spec.template.metadata.labels", f"Invalid value: {labels}: "
                                                              "`selector` does not match "
                                                              "template `labels`"))
        if existing is not None and selector != existing.get("spec", {}).get("selector"):
            problems.append(("spec.selector", f"Invalid value: {selector}: field is immutable"))
        replicas = spec.get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            problems.append(("spec.replicas", f"Invalid value: {replicas}: must be greater "
                                              "than or equal to 0"))
        containers = (template.get("spec") or {}).get("containers") or []
        if not containers:
            problems.append(("spec.template.spec.containers", "Required value"))
        for i, container in enumerate(containers):
            if not isinstance(container, dict):
                problems.append((f"spec.template.spec.containers[{i}]", "Invalid value"))
                continue
            cname = container.get("name")
            if not isinstance(cname, str) or not DNS_LABEL.match(cname):
                problems.append((f"spec.template.spec.containers[{i}].name",
                                 f'Invalid value: "{cname}": must be a lowercase RFC 1123 '
                                 "label"))
            if not container.get("image"):
                problems.append((f"spec.template.spec.containers[{i}].image", "Required value"))
        return problems

    # --- controllers -------------------------------------------------------------------

    def _after_write(self, res: Resource, obj: JSON, existing: JSON | None) -> None:
        if res.kind == "Deployment":
            generation = obj["metadata"]["generation"]
            if existing is None or generation != existing["metadata"].get("generation"):
                ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
                self._schedule(self.observe_delay,
                               lambda: self._reconcile(ns, name, generation))
        elif res.kind == "HorizontalPodAutoscaler":
            self._hpa_sync(obj)

    def _hpa_sync(self, hpa: JSON) -> None:
        spec = hpa["spec"]
        target = spec.get("scaleTargetRef", {})
        ns = hpa["metadata"]["namespace"]
        dep_res = self.resource("Deployment")
        dep = self._objects.get(self._key(dep_res, ns, str(target.get("name"))))
        current = None
        if dep is not None and target.get("kind") == "Deployment":
            dep = copy.deepcopy(dep)
            current = dep["spec"]["replicas"]
            wanted = min(max(current, spec.get("minReplicas", 1)), spec["maxReplicas"])
            if wanted != current:
                dep["spec"]["replicas"] = wanted
                dep["metadata"]["generation"] += 1
                self._put(dep_res, dep, "MODIFIED")
                self._after_write(dep_res, dep, {"metadata": {"generation": -1}})
                current = wanted
        status = {"currentReplicas": current or 0, "desiredReplicas": current or 0}
        if hpa.get("status") != status:
            hpa = copy.deepcopy(hpa)
            hpa["status"] = status
            self._put(self.resource("HorizontalPodAutoscaler"), hpa, "MODIFIED")

    def _schedule(self, delay: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._timer_seq), action))
        self._changed.notify_all()

    def _run_timers(self) -> None:
        with self._changed:
            while not self._stopping:
                now = time.monotonic()
                if self._timers and self._timers[0][0] <= now:
                    _, _, action = heapq.heappop(self._timers)
                    try:
                        action()
                    except Exception as exc:  # a stand-in bug: kept for the tests to see
                        self.controller_errors.append(repr(exc))
                    continue
                wait = self._timers[0][0] - now if self._timers else 1.0
                self._changed.wait(min(wait, 1.0))

    def _mode_for(self, dep: JSON) -> str:
        pod_spec = dep["spec"]["template"].get("spec") or {}
        images = [c.get("image", "") for c in (pod_spec.get("containers") or [])
                  + (pod_spec.get("initContainers") or [])]
        for ref, mode in self._image_modes.items():
            if any(image == ref or image.endswith("@" + ref) for image in images):
                return mode
        meta = dep["metadata"]
        return (self._name_modes.get((meta["namespace"], meta["name"]))
                or self._name_modes.get((None, meta["name"])) or self.default_mode)

    def _owned_replicasets(self, dep: JSON) -> list[JSON]:
        uid = dep["metadata"]["uid"]
        return [rs for key, rs in self._objects.items()
                if key[:3] == ("apps", "replicasets", dep["metadata"]["namespace"])
                and any(ref.get("uid") == uid and ref.get("controller")
                        for ref in rs["metadata"].get("ownerReferences", []))]

    def _reconcile(self, ns: str, name: str, generation: int) -> None:
        dep_res, rs_res = self.resource("Deployment"), self.resource("ReplicaSet")
        current = self._objects.get(self._key(dep_res, ns, name))
        if current is None or current["metadata"]["generation"] != generation:
            return
        dep = copy.deepcopy(current)
        spec = dep["spec"]
        desired = spec["replicas"]
        mode = self._mode_for(dep)
        pod_hash = template_hash(spec["template"])
        owned = self._owned_replicasets(dep)
        revisions = [int(rs["metadata"].get("annotations", {}).get(REVISION, "0"))
                     for rs in owned]
        top = max(revisions, default=0)
        new_rs = next((rs for rs in owned
                       if rs["metadata"]["labels"].get("pod-template-hash") == pod_hash), None)
        if new_rs is None:
            template = copy.deepcopy(spec["template"])
            template.setdefault("metadata", {}).setdefault("labels", {})
            template["metadata"]["labels"]["pod-template-hash"] = pod_hash
            selector = copy.deepcopy(spec["selector"])
            selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
            new_rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
                "name": f"{name}-{pod_hash}", "namespace": ns,
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {REVISION: str(top + 1)},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": name, "uid": dep["metadata"]["uid"],
                                     "controller": True, "blockOwnerDeletion": True}]},
                "spec": {"replicas": desired, "selector": selector, "template": template},
                "status": {"replicas": 0}}
            new_rs = self._create(rs_res, ns, new_rs, manager="kube-controller-manager")
        else:
            new_rs = copy.deepcopy(new_rs)
            annotations = new_rs["metadata"].setdefault("annotations", {})
            if int(annotations.get(REVISION, "0")) != top:
                annotations[REVISION] = str(top + 1)
        new_rs["spec"]["replicas"] = desired
        ready = min(self._rs_ready(new_rs), desired) if mode == "ok" else 0
        new_rs["status"] = self._rs_status(desired, ready, new_rs["metadata"]["generation"])
        self._put(rs_res, new_rs, "MODIFIED")
        revision = new_rs["metadata"]["annotations"][REVISION]
        dep["metadata"].setdefault("annotations", {})[REVISION] = revision
        self._set_status(dep, new_rs, "ReplicaSetUpdated",
                         f'ReplicaSet "{new_rs["metadata"]["name"]}" is progressing.')
        rs_name = new_rs["metadata"]["name"]
        if mode == "ok":
            self._schedule(self.ready_delay, lambda: self._become_ready(ns, name, generation))
        elif mode == "deadline":
            after = min(self.deadline_after, float(spec.get("progressDeadlineSeconds", 600)))
            self._schedule(after, lambda: self._exceed(ns, name, generation, rs_name))

    @staticmethod
    def _rs_ready(rs: JSON) -> int:
        return int(rs.get("status", {}).get("readyReplicas", 0))

    @staticmethod
    def _rs_status(replicas: int, ready: int, generation: int) -> JSON:
        status: JSON = {"replicas": replicas, "fullyLabeledReplicas": replicas,
                        "observedGeneration": generation}
        if ready:
            status.update(readyReplicas=ready, availableReplicas=ready)
        return status

    def _set_status(self, dep: JSON, new_rs: JSON, reason: str, message: str,
                    progressing: str = "True") -> None:
        """Deployment status from its ReplicaSets; the Progressing condition as given."""
        owned = self._owned_replicasets(dep)
        total = sum(rs["status"].get("replicas", 0) for rs in owned)
        ready = sum(rs["status"].get("readyReplicas", 0) for rs in owned)
        available = sum(rs["status"].get("availableReplicas", 0) for rs in owned)
        desired = dep["spec"]["replicas"]
        rolling = dep["spec"].get("strategy", {}).get("rollingUpdate", {})
        max_unavailable = percent_or_int(rolling.get("maxUnavailable", "25%"), desired, False)
        stamp = now_rfc3339()
        old = {c["type"]: c for c in dep.get("status", {}).get("conditions", [])}

        def condition(kind: str, status: str, why: str, text: str) -> JSON:
            before = old.get(kind, {})
            since = before.get("lastTransitionTime", stamp)
            if before.get("status") != status:
                since = stamp
            return {"type": kind, "status": status, "lastUpdateTime": stamp,
                    "lastTransitionTime": since, "reason": why, "message": text}

        minimum = available >= desired - max_unavailable
        status: JSON = {"observedGeneration": dep["metadata"]["generation"], "replicas": total,
                        "updatedReplicas": new_rs["status"].get("replicas", 0),
                        "readyReplicas": ready, "availableReplicas": available}
        if total - available > 0:
            status["unavailableReplicas"] = total - available
        status = {k: v for k, v in status.items() if v or k == "observedGeneration"}
        status["conditions"] = [
            condition("Available", "True" if minimum else "False",
                      "MinimumReplicasAvailable" if minimum else "MinimumReplicasUnavailable",
                      "Deployment has minimum availability." if minimum
                      else "Deployment does not have minimum availability."),
            condition("Progressing", progressing, reason, message)]
        dep["status"] = status
        managed = [e for e in dep["metadata"].get("managedFields", [])
                   if e.get("subresource") != "status"]
        managed.append({"manager": "kube-controller-manager", "operation": "Update",
                        "apiVersion": "apps/v1", "time": stamp, "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:status": {}}, "subresource": "status"})
        dep["metadata"]["managedFields"] = managed
        self._put(self.resource("Deployment"), dep, "MODIFIED")

    def _become_ready(self, ns: str, name: str, generation: int) -> None:
        rs_res = self.resource("ReplicaSet")
        dep = copy.deepcopy(self._objects.get(self._key(self.resource("Deployment"), ns, name)))
        if not dep or dep["metadata"]["generation"] != generation:
            return
        desired = dep["spec"]["replicas"]
        pod_hash = template_hash(dep["spec"]["template"])
        new_rs: JSON | None = None
        for rs in self._owned_replicasets(dep):
            rs = copy.deepcopy(rs)
            if rs["metadata"]["labels"].get("pod-template-hash") == pod_hash:
                rs["spec"]["replicas"] = desired
                rs["status"] = self._rs_status(desired, desired, rs["metadata"]["generation"])
                new_rs = rs
            else:
                rs["spec"]["replicas"] = 0
                rs["status"] = self._rs_status(0, 0, rs["metadata"]["generation"])
            self._put(rs_res, rs, "MODIFIED")
        if new_rs is not None:
            self._set_status(dep, new_rs, "NewReplicaSetAvailable",
                             f'ReplicaSet "{new_rs["metadata"]["name"]}" has successfully '
                             "progressed.")

    def _exceed(self, ns: str, name: str, generation: int, rs_name: str) -> None:
        dep = copy.deepcopy(self._objects.get(self._key(self.resource("Deployment"), ns, name)))
        rs = self._objects.get(self._key(self.resource("ReplicaSet"), ns, rs_name))
        if not dep or rs is None or dep["metadata"]["generation"] != generation:
            return
        self._set_status(dep, rs, "ProgressDeadlineExceeded",
                         f'ReplicaSet "{rs_name}" has timed out progressing.', "False")


@dataclass(frozen=True)
class _Raw:
    """An answer that is not JSON."""

    data: bytes
    content_type: str


class _Streamed:
    """The answer was streamed by the handler already."""


_STREAMED: Any = _Streamed()


def _agent(record: RecordedRequest) -> str:
    """The field manager the API server derives from the user agent (`kubectl`, ...)."""
    return record.user_agent.split("/")[0] or "unknown"


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, by Content-Length or chunked (`kubectl delete --raw -f` streams its
    DeleteOptions chunked; an API server reads both)."""
    if "chunked" not in (handler.headers.get("Transfer-Encoding") or "").lower():
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length else b""
    data = b""
    while True:
        size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while handler.rfile.readline().strip():  # trailers, up to the blank line
                pass
            return data
        data += handler.rfile.read(size)
        handler.rfile.readline()  # the CRLF after each chunk


def _parse_yaml(raw: str) -> Any:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return None
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return None


def iter_watch_events(lines: Iterator[bytes]) -> Iterator[JSON]:
    """Decode a watch stream's lines (for tests that read one with http.client)."""
    for line in lines:
        if line.strip():
            yield json.loads(line)
