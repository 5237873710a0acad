"""A stand-in for the Cloud Build API (v1) that the real gcloud talks to.

Start it as a context manager (`CloudBuildStandIn(project=...)`; the contract fixture
`cloudbuild` does) and give gcloud `cloudbuild_env(tmp_path, standin)`: the hermetic settings
plus `CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDBUILD=http://127.0.0.1:PORT/` (Cloud Build's host
is global, so no proxy is needed; the location is in the path).

What gcloud 528 sends, recorded against a plain logging server before this was written:
- `builds submit --no-source --config F`: `POST /v1/projects/P/locations/L/builds` with the
  parsed file (file substitutions merged with `--substitutions`, not expanded); it waits for
  an Operation whose `metadata.build` holds the build, then `GET .../builds/ID` about once a
  second until a final status: SUCCESS → exit 0, anything else → exit 1 ("build ID completed
  with status "FAILURE""). `--async` stops after the POST. It prints `logUrl`.
- `builds triggers describe N`: `GET .../locations/L/triggers/N?triggerId=N`.
- `builds triggers create github ...`: `POST .../locations/L/triggers` with the BuildTrigger.
- `builds triggers import --source F`: for a trigger with a name and no id,
  `PATCH .../triggers/N?triggerId=N` with the whole trigger; on 404 it POSTs a create.
- `builds triggers list`: `GET .../locations/L/triggers`.
- `builds submit DIR` (source upload), with `CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE=
  http://127.0.0.1:PORT/storage/v1/`: `GET /storage/v1/b/P_cloudbuild` (404 → `POST
  /storage/v1/b?project=P` creating it), `GET /storage/v1/b?project=P&prefix=P_cloudbuild`
  (the bucket must be listed with `id` == its name, else gcloud says it belongs to another
  project), then `POST /upload/storage/v1/b/P_cloudbuild/o?uploadType=multipart&name=
  source/....tgz` (multipart/related: JSON metadata, then the tarball); the answer's
  `md5Hash` and `crc32c` must match the tarball or gcloud exits 1. The Build then carries
  `source.storageSource {bucket, object, generation}`.

What it models, as the API promises it:
- Builds: a create is validated first (steps present, each with a `name`; `waitFor` names
  earlier step ids or `-`; user substitution keys match `_[A-Z0-9_]+`; with
  `substitutionOption` MUST_MATCH, the default, a user substitution no step uses, or a
  `$_VAR`/`${_VAR}` in the steps that no substitution defines, is a 400, as on Cloud Build;
  `$$` is an escaped dollar; a `storageSource` must name an object, and generation, that was
  uploaded to the stand-in's storage). A build gets an id, QUEUED, `logUrl`, and
  moves one status per GET through its plan: WORKING, then SUCCESS by default. The test
  drives it: `outcome("FAILURE", detail)` for the next build, `hold()` keeps the next build
  WORKING until `finish(build_id, status)`.
- Triggers, per project and location: create (409 ALREADY_EXISTS when the name is taken; 400
  when the name is not 1-64 letters, digits or '-' starting with a letter, when no event
  source, build file or valid tag pattern is given, or `serviceAccount` is not
  `projects/P/serviceAccounts/EMAIL`); get and PATCH by name or id (404 when unknown; a PATCH
  replaces everything but the output-only `id`, `createTime`, `resourceName`); list; delete.
- Storage, just what a source upload needs: buckets per project (get, create with 409 when
  taken, list by prefix), multipart object uploads answered with the object's generation,
  size, `md5Hash` and `crc32c` (base64, as GCS). `source_files(build)` lists the tarball a
  build was given.
- The request log: `requests`, `writes()` (POST/PATCH/DELETE), `unhandled`.

Not modelled: other GCS calls (resumable uploads, downloads), log streaming, build steps
actually running, approvals (a build of an approval trigger is not created here: nothing runs
triggers), cancel, retry, worker pools, regional vs global trigger differences, IAM.
"""

from __future__ import annotations

import base64
import copy
import email.parser
import email.policy
import hashlib
import io
import json
import re
import tarfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.contract.cloudrun_standin import (
    ApiError,
    RecordedRequest,
    Unmodelled,
    _Handler,
    _Server,
)
from tests.contract.gcloud_env import hermetic
from tests.contract.secret_manager_standin import crc32c

BUILTINS = frozenset({
    "PROJECT_ID", "PROJECT_NUMBER", "BUILD_ID", "LOCATION", "TRIGGER_NAME", "COMMIT_SHA",
    "REVISION_ID", "SHORT_SHA", "REPO_NAME", "REPO_FULL_NAME", "BRANCH_NAME", "TAG_NAME",
    "REF_NAME", "TRIGGER_BUILD_CONFIG_PATH", "SERVICE_ACCOUNT_EMAIL", "SERVICE_ACCOUNT"})
USER_KEY = re.compile(r"_[A-Z0-9_]+")
VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))")
TRIGGER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")
SERVICE_ACCOUNT = re.compile(r"projects/[^/]+/serviceAccounts/[^/@]+@[^/]+")
PATH = re.compile(r"/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/"
                  r"(?P<kind>builds|triggers)(?:/(?P<id>[^/:]+))?")
STORAGE = re.compile(r"/storage/v1/b(?:/(?P<bucket>[^/]+))?")
UPLOAD = re.compile(r"/upload/storage/v1/b/(?P<bucket>[^/]+)/o")
FINAL = frozenset({"SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED"})


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def used_variables(value: Any) -> set[str]:
    """Every `$NAME` / `${NAME...}` in a JSON value's strings; `$$` escapes a dollar."""
    if isinstance(value, str):
        text = value.replace("$$", "")
        return {a or b for a, b in VARIABLE.findall(text)}
    if isinstance(value, list):
        return set().union(*(used_variables(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(used_variables(v) for v in value.values())) if value else set()
    return set()


@dataclass
class Build:
    body: dict[str, Any]
    plan: list[tuple[str, str]]  # (status, statusDetail) for each following GET
    held: bool = False


@dataclass
class CloudBuildStandIn:
    project: str = "shipyard-test"
    project_number: str = "123456789012"
    _builds: dict[str, Build] = field(default_factory=dict)
    _triggers: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _buckets: dict[str, str] = field(default_factory=dict)  # bucket → project
    _objects: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)
    _requests: list[RecordedRequest] = field(default_factory=list)
    _unhandled: list[RecordedRequest] = field(default_factory=list)
    _next: tuple[str, str] = ("SUCCESS", "")
    _hold_next: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: _Server | None = None

    def __enter__(self) -> CloudBuildStandIn:
        standin = self

        class Api(_Handler):
            def _handle(self) -> None:
                standin._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = _Server(Api)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server:
            self._server.stop()

    @property
    def port(self) -> int:
        assert self._server, "enter the stand-in first"
        return self._server.port

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    # -- what tests drive and read ---------------------------------------------------------

    def outcome(self, status: str, detail: str = "") -> None:
        """The final status of the next build created (one-shot)."""
        self._next = (status, detail)

    def hold(self) -> None:
        """The next build stays WORKING until `finish(build_id, status)`."""
        self._hold_next = True

    def finish(self, build_id: str, status: str, detail: str = "") -> None:
        with self._lock:
            build = self._builds[build_id]
            build.held, build.plan = False, [(status, detail)]

    @property
    def builds(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(b.body) for b in self._builds.values()]

    def trigger(self, name: str, location: str = "global") -> dict[str, Any] | None:
        with self._lock:
            found = self._triggers.get((location, name))
            return copy.deepcopy(found) if found else None

    def put_trigger(self, location: str, trigger: dict[str, Any]) -> None:
        """Out of band (a human in the console): store or overwrite a trigger as given."""
        with self._lock:
            self._triggers[(location, trigger["name"])] = copy.deepcopy(trigger)

    def source_files(self, build: dict[str, Any]) -> list[str]:
        """The member names of the source tarball `build` was given."""
        source = build["source"]["storageSource"]
        with self._lock:
            _, data = self._objects[(source["bucket"], source["object"])]
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            return sorted(m.name for m in tar.getmembers())

    def source_bytes(self, build: dict[str, Any]) -> bytes:
        """Every file of that tarball, concatenated (to look for what must not be there)."""
        source = build["source"]["storageSource"]
        with self._lock:
            _, data = self._objects[(source["bucket"], source["object"])]
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            return b"".join(f.read() for m in tar.getmembers() if m.isfile()
                            if (f := tar.extractfile(m)) is not None)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def unhandled(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._unhandled)

    def writes(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method in ("POST", "PATCH", "PUT", "DELETE")]

    # -- HTTP ------------------------------------------------------------------------------

    def _serve(self, h: _Handler) -> None:
        split = urlsplit(h.path)
        data = h._body()
        text = data.decode("utf-8", "replace")
        try:
            body = json.loads(text) if text.strip() else None
        except ValueError:
            body = None
        agent = h.headers.get("User-Agent") or ""
        command = next((p[len("command/"):] for p in agent.split() if p.startswith("command/")),
                       "")
        record = RecordedRequest(h.command, h.headers.get("Host") or "", split.path,
                                 dict(parse_qsl(split.query)), body, text, command,
                                 headers=dict(h.headers.items()))
        with self._lock:
            self._requests.append(record)
        try:
            query = dict(parse_qsl(split.query))
            if split.path.startswith(("/storage/", "/upload/storage/")):
                with self._lock:
                    answer = self._storage(h.command, split.path, query, body, data,
                                           h.headers.get("Content-Type") or "")
                code = 200
            else:
                code, answer = 200, self._dispatch(h.command, split.path, body)
        except ApiError as err:
            code, answer = err.code, err.body()
            if isinstance(err, Unmodelled):
                with self._lock:
                    self._unhandled.append(record)
        record.status = code
        h._send(code, json.dumps(answer).encode(), "application/json; charset=UTF-8")

    def _dispatch(self, method: str, path: str, body: Any) -> Any:
        match = PATH.fullmatch(path)
        if match is None:
            raise Unmodelled(404, f"the stand-in does not model {method} {path}")
        if match["project"] not in (self.project, self.project_number):
            raise ApiError(403, f"The caller does not have permission on {match['project']}")
        where, ident = match["location"], match["id"]
        with self._lock:
            if match["kind"] == "builds":
                if method == "POST" and ident is None:
                    return self._create_build(where, body)
                if method == "GET" and ident is not None:
                    return self._poll_build(ident)
            else:
                if method == "POST" and ident is None:
                    return self._create_trigger(where, body)
                if method == "GET" and ident is None:
                    return {"triggers": [copy.deepcopy(t) for (loc, _), t in
                                         sorted(self._triggers.items()) if loc == where]}
                if ident is not None and method in ("GET", "PATCH", "DELETE"):
                    key = self._trigger_key(where, ident)
                    if method == "GET":
                        return copy.deepcopy(self._triggers[key])
                    if method == "DELETE":
                        del self._triggers[key]
                        return {}
                    return self._patch_trigger(key, body)
        raise Unmodelled(404, f"the stand-in does not model {method} {path}")

    # -- builds ----------------------------------------------------------------------------

    def _create_build(self, location: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "a Build object is required")
        self._check_build(body)
        build_id = str(uuid.uuid4())
        build = copy.deepcopy(body)
        build.update(id=build_id, projectId=self.project, status="QUEUED", createTime=_now(),
                     name=f"projects/{self.project_number}/locations/{location}/builds/"
                          f"{build_id}",
                     logUrl=f"https://console.cloud.google.com/cloud-build/builds;region="
                            f"{location}/{build_id}?project={self.project_number}")
        self._builds[build_id] = Build(build, [("WORKING", ""), self._next], self._hold_next)
        self._next, self._hold_next = ("SUCCESS", ""), False
        return {"name": f"projects/{self.project_number}/locations/{location}/operations/"
                        f"{uuid.uuid4()}",
                "metadata": {"@type": "type.googleapis.com/google.devtools.cloudbuild.v1."
                                      "BuildOperationMetadata", "build": build}}

    def _check_build(self, body: dict[str, Any]) -> None:
        steps = body.get("steps")
        if not isinstance(steps, list) or not steps:
            raise ApiError(400, "invalid build: no build steps")
        ids: set[str] = set()
        for index, step in enumerate(steps):
            if not isinstance(step, dict) or not step.get("name"):
                raise ApiError(400, f"invalid build: step {index} has no name")
            for wanted in step.get("waitFor") or []:
                if wanted != "-" and wanted not in ids:
                    raise ApiError(400, f"invalid build: step {index} waits for unknown or "
                                        f"later step {wanted!r}")
            if step.get("id"):
                ids.add(step["id"])
        substitutions = body.get("substitutions") or {}
        for key in substitutions:
            if USER_KEY.fullmatch(key) is None:
                raise ApiError(400, f'invalid value for \'build.substitutions\': key "{key}" '
                                    "must begin with an underscore and use only A-Z, 0-9, _")
        source = (body.get("source") or {}).get("storageSource")
        if source:
            stored = self._objects.get((source.get("bucket"), source.get("object")))
            if stored is None or str(source.get("generation")) != stored[0]:
                raise ApiError(400, f"source object gs://{source.get('bucket')}/"
                                    f"{source.get('object')}#{source.get('generation')} not found")
        if (body.get("options") or {}).get("substitutionOption", "MUST_MATCH") != "MUST_MATCH":
            return
        template = {k: body.get(k) for k in ("steps", "images", "tags", "artifacts")}
        used = used_variables(template) | used_variables(substitutions)
        if undefined := sorted(used - BUILTINS - set(substitutions)):
            raise ApiError(400, f"invalid value for 'build.substitutions': key in the template "
                                f'"{undefined[0]}" is not a valid built-in substitution')
        if unused := sorted(set(substitutions) - used):
            raise ApiError(400, f"invalid value for 'build.substitutions': key "
                                f'"{unused[0]}" in the substitution data is not matched in the '
                                "template")

    def _poll_build(self, build_id: str) -> dict[str, Any]:
        build = self._builds.get(build_id)
        if build is None:
            raise ApiError(404, f"build {build_id} not found")
        body = build.body
        if build.held and body["status"] == "QUEUED":
            body.update(status="WORKING", startTime=_now())
        elif not build.held and build.plan and body["status"] not in FINAL:
            status, detail = build.plan.pop(0)
            body["status"] = status
            if status == "WORKING":
                body["startTime"] = _now()
            if status in FINAL:
                body["finishTime"] = _now()
                if detail:
                    body["statusDetail"] = detail
                    body["failureInfo"] = {"type": "USER_BUILD_STEP", "detail": detail}
        return copy.deepcopy(body)

    # -- triggers --------------------------------------------------------------------------

    def _trigger_key(self, location: str, ident: str) -> tuple[str, str]:
        for key, trigger in self._triggers.items():
            if key[0] == location and ident in (trigger["name"], trigger["id"]):
                return key
        raise ApiError(404, f"trigger {ident} not found in {location}")

    def _check_trigger(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "a BuildTrigger object is required")
        name = body.get("name") or ""
        if TRIGGER_NAME.fullmatch(name) is None:
            raise ApiError(400, f"invalid trigger name {name!r}")
        event = body.get("github") or body.get("repositoryEventConfig")
        if not isinstance(event, dict):
            raise ApiError(400, "a trigger needs an event source (github or a repository)")
        tag = (event.get("push") or {}).get("tag")
        try:
            re.compile(tag or "")
        except re.error as exc:
            raise ApiError(400, f"invalid tag pattern {tag!r}: {exc}") from None
        if not (body.get("filename") or body.get("build")):
            raise ApiError(400, "a trigger needs a build file or an inline build")
        account = body.get("serviceAccount")
        if account is not None and SERVICE_ACCOUNT.fullmatch(account) is None:
            raise ApiError(400, f"invalid service account {account!r}: expected "
                                "projects/PROJECT/serviceAccounts/EMAIL")
        return {k: v for k, v in copy.deepcopy(body).items()
                if k not in ("id", "createTime", "resourceName")}

    def _create_trigger(self, location: str, body: Any) -> dict[str, Any]:
        trigger = self._check_trigger(body)
        if (location, trigger["name"]) in self._triggers:
            raise ApiError(409, f"trigger {trigger['name']} already exists")
        ident = str(uuid.uuid4())
        trigger.update(id=ident, createTime=_now(), resourceName=f"projects/{self.project}/"
                       f"locations/{location}/triggers/{ident}")
        self._triggers[(location, trigger["name"])] = trigger
        return copy.deepcopy(trigger)

    def _patch_trigger(self, key: tuple[str, str], body: Any) -> dict[str, Any]:
        old = self._triggers[key]
        trigger = self._check_trigger(body)
        if trigger["name"] != old["name"] and (key[0], trigger["name"]) in self._triggers:
            raise ApiError(409, f"trigger {trigger['name']} already exists")
        trigger.update({k: old[k] for k in ("id", "createTime", "resourceName")})
        del self._triggers[key]
        self._triggers[(key[0], trigger["name"])] = trigger
        return copy.deepcopy(trigger)


    # -- storage, as a source upload uses it -----------------------------------------------

    def _storage(self, method: str, path: str, query: dict[str, str], body: Any,
                 data: bytes, content_type: str) -> Any:
        if (upload := UPLOAD.fullmatch(path)) and method == "POST":
            return self._upload(upload["bucket"], query, data, content_type)
        match = STORAGE.fullmatch(path)
        if match is None:
            raise Unmodelled(404, f"the stand-in does not model {method} {path}")
        bucket = match["bucket"]
        if bucket and method == "GET":
            if bucket not in self._buckets:
                raise ApiError(404, f"The specified bucket does not exist: {bucket}")
            return {"kind": "storage#bucket", "id": bucket, "name": bucket}
        if not bucket and method == "POST":
            name = (body or {}).get("name", "")
            if name in self._buckets:
                raise ApiError(409, f"bucket {name} already exists")
            self._buckets[name] = query.get("project", "")
            return {"kind": "storage#bucket", "id": name, "name": name}
        if not bucket and method == "GET":
            prefix, project = query.get("prefix", ""), query.get("project")
            return {"kind": "storage#buckets", "items": [
                {"id": b, "name": b} for b, p in sorted(self._buckets.items())
                if p == project and b.startswith(prefix)]}
        raise Unmodelled(404, f"the stand-in does not model {method} {path}")

    def _upload(self, bucket: str, query: dict[str, str], data: bytes,
                content_type: str) -> dict[str, Any]:
        if bucket not in self._buckets:
            raise ApiError(404, f"The specified bucket does not exist: {bucket}")
        if query.get("uploadType") != "multipart":
            raise Unmodelled(404, f"upload type {query.get('uploadType')} is not modelled")
        # gcloud quotes the boundary with single quotes; GCS takes that, Python's parser not.
        content_type = re.sub(r"boundary='([^']*)'", r'boundary="\1"', content_type)
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + data)
        parts = list(message.iter_parts())  # type: ignore[attr-defined]
        if len(parts) != 2:
            raise ApiError(400, "a multipart upload has metadata and media")
        media = parts[1].get_payload(decode=True)
        assert isinstance(media, bytes)
        name = query.get("name") or json.loads(parts[0].get_content()).get("name", "")
        generation = str(len(self._objects) + 1)
        self._objects[(bucket, name)] = (generation, media)
        return {"kind": "storage#object", "bucket": bucket, "name": name,
                "generation": generation, "size": str(len(media)),
                "md5Hash": base64.b64encode(hashlib.md5(media).digest()).decode(),
                "crc32c": base64.b64encode(crc32c(media).to_bytes(4, "big")).decode()}


def cloudbuild_env(tmp_path: Path, standin: CloudBuildStandIn) -> dict[str, str]:
    """gcloud hermetic, with Cloud Build (and the source upload's storage) calls sent to
    `standin`."""
    return {**hermetic(tmp_path / "gcloud-config", standin.project),
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDBUILD": standin.endpoint,
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE": f"{standin.endpoint}storage/v1/"}
