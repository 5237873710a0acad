"""The Cloud Run Admin API (Knative serving v1), called from shipyard's own process for what
needs no revision template: reading services and revisions, and moving traffic.

Why not gcloud for these: every gcloud process costs about 1 s of CPU before it sends a
request, so N services side by side on a small machine took about N/2 × one call; here a
traffic move is one GET and one PUT, then GETs until Cloud Run says the route is Ready, all
from one process. Deploys stay with `gcloud run deploy` (it builds the revision from flags).

The requests are the ones gcloud sends for the same commands (../shared/TOOLING-FACTS.md,
"Cloud Run requests, as seen"):
- endpoint `https://REGION-run.googleapis.com/`, or gcloud's own override
  `CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN`, whose host gets the region prefixed as gcloud does;
- gcloud's proxy settings `CLOUDSDK_PROXY_TYPE=http`, `_ADDRESS`, `_PORT`, else the usual
  `HTTPS_PROXY`/`HTTP_PROXY`;
- the access token of the identity that deploys (`CLOUDSDK_AUTH_ACCESS_TOKEN` when set, as
  gcloud honours it, else `gcloud auth print-access-token`, once per run, masked), never over
  plain http unless it came from the environment (a test stand-in).
Each request goes to the command log as `API METHOD URL` with its status and seconds, never
its body. The User-Agent says `command/shipyard.NAME`, as gcloud's says `command/gcloud.X`.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from shipyard.errors import ShipyardError, UsageError
from shipyard.targets.gcloud_auth import TOKEN_ENV

Json = dict[str, Any]
KNATIVE = "apis/serving.knative.dev/v1/namespaces"
ENDPOINT_ENV = "CLOUDSDK_API_ENDPOINT_OVERRIDES_RUN"
TIMEOUT = 30.0  # one request
CONFLICT_ATTEMPTS = 3  # a PUT refused because the service changed since the GET: read again
POLL_FIRST, POLL_MAX = 0.1, 1.0  # seconds between GETs while a route becomes Ready


class ApiError(ShipyardError):
    def __init__(self, status: int, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


def endpoint(environ: Mapping[str, str], region: str) -> str:
    """`scheme://REGION-HOST[:PORT]/` as gcloud would call it."""
    value = environ.get(ENDPOINT_ENV)
    if not value:
        return f"https://{region}-run.googleapis.com/"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{ENDPOINT_ENV}={value!r} is not an endpoint URL",
                         hint="write scheme://HOST[:PORT]/, as gcloud takes it")
    return f"{parts.scheme}://{region}-{parts.netloc}{parts.path or '/'}"


def proxies(environ: Mapping[str, str]) -> dict[str, str] | None:
    """gcloud's own proxy settings as urllib takes them; None: urllib's usual *_PROXY."""
    kind, address = environ.get("CLOUDSDK_PROXY_TYPE"), environ.get("CLOUDSDK_PROXY_ADDRESS")
    if not kind or not address:
        return None
    if kind.lower() != "http":
        raise UsageError(f"CLOUDSDK_PROXY_TYPE={kind!r}: shipyard's Cloud Run client speaks "
                         "to http proxies only", hint="use an http proxy, or HTTPS_PROXY")
    port = environ.get("CLOUDSDK_PROXY_PORT")
    url = f"http://{address}{':' + port if port else ''}"
    return {"http": url, "https": url}


class RunApi:
    """One project and region. `token` gives the access token (called at most once);
    `record(entry)` logs one request."""

    def __init__(self, project: str, region: str, environ: Mapping[str, str],
                 token: Callable[[], str], record: Callable[[Json], None] | None = None) -> None:
        self.project, self.region = project, region
        self.base = endpoint(environ, region)
        self._env_token = environ.get(TOKEN_ENV)
        self._token_source = token
        self._token: str | None = None
        self._record = record or (lambda entry: None)
        found = proxies(environ)
        handler = urllib.request.ProxyHandler(found) if found is not None \
            else urllib.request.ProxyHandler()
        self._opener = urllib.request.build_opener(handler)

    # --------------------------------------------------------------------- reads --

    def service(self, name: str) -> Json | None:
        """The Service as Cloud Run has it now; None when there is none."""
        try:
            return self._call("GET", f"{KNATIVE}/{self.project}/services/{name}",
                              command="services.describe")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def revisions(self, name: str) -> list[Json]:
        selector = quote(f"serving.knative.dev/service = {name}", safe="")
        answer = self._call("GET", f"{KNATIVE}/{self.project}/revisions?labelSelector={selector}",
                            command="revisions.list")
        return list(answer.get("items") or [])

    # -------------------------------------------------------------------- writes --

    def move_traffic(self, name: str, revision: str, *, timeout: float = 600.0) -> Json:
        """All of `name`'s traffic to `revision`, its tags kept (as `update-traffic
        --to-revisions REV=100` does), then wait until Cloud Run serves it. ApiError with
        Cloud Run's own message when it refuses the move or the route does not become Ready."""
        for attempt in range(CONFLICT_ATTEMPTS):
            current = self.service(name)
            if current is None:
                raise ApiError(404, f"cannot find service {name} in {self.region}")
            spec = current.setdefault("spec", {})
            tags = [{k: t[k] for k in ("revisionName", "latestRevision", "tag") if k in t}
                    for t in spec.get("traffic") or [] if t.get("tag")]
            spec["traffic"] = [{"revisionName": revision, "percent": 100}, *tags]
            try:
                written = self._call("PUT", f"{KNATIVE}/{self.project}/services/{name}",
                                     current, command="services.update-traffic")
            except ApiError as exc:
                if exc.status == 409 and attempt + 1 < CONFLICT_ATTEMPTS:
                    continue  # changed between our GET and PUT: read it again
                raise
            return self.wait_ready(name, written, timeout=timeout)
        raise AssertionError("unreachable")  # pragma: no cover

    def wait_ready(self, name: str, written: Json, *, timeout: float) -> Json:
        """GET until the status is of the written generation and Ready is decided; the
        Service when it is True, ApiError with the condition's message when it is False."""
        generation = (written.get("metadata") or {}).get("generation")
        deadline, pause, current = time.monotonic() + timeout, POLL_FIRST, written
        while True:
            status = current.get("status") or {}
            fresh = generation is None or status.get("observedGeneration") in (None, generation)
            ready: Json = next((c for c in status.get("conditions") or []
                          if c.get("type") == "Ready"), {})
            if fresh and ready.get("status") == "True":
                return current
            if fresh and ready.get("status") == "False":
                raise ApiError(0, f"{name}: {ready.get('message') or 'not Ready'}")
            if time.monotonic() > deadline:
                raise ApiError(0, f"{name}: not Ready after {timeout:.0f} s",
                               hint=f"gcloud run services describe {name} "
                                    f"--region {self.region} --project {self.project}")
            time.sleep(pause)
            pause = min(pause * 2, POLL_MAX)
            found = self.service(name)
            if found is None:
                raise ApiError(404, f"{name}: the service was deleted while traffic moved")
            current = found

    # ----------------------------------------------------------------- internals --

    def _bearer(self) -> str | None:
        if self._env_token:
            return self._env_token
        if self.base.startswith("http://"):
            return None  # a real token never travels unencrypted
        if self._token is None:
            self._token = self._token_source().strip()
        return self._token

    def _call(self, method: str, path: str, body: Json | None = None, *, command: str) -> Json:
        url = self.base + path
        headers = {"Accept": "application/json",
                   "User-Agent": f"shipyard command/shipyard.run.{command}"}
        bearer = self._bearer()
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        started, status = time.monotonic(), 0
        try:
            with self._opener.open(request, timeout=TIMEOUT) as response:
                status = int(response.status)
                raw = response.read()
        except urllib.error.HTTPError as exc:
            status = exc.code
            raise ApiError(exc.code, _message(exc.read(), exc.code, method, path)) from None
        except OSError as exc:
            raise ApiError(0, f"Cloud Run API did not answer {method} {url}: {exc}",
                           hint="check the network, proxy and region") from None
        finally:
            self._record({"request": f"API {method} {url}", "status": status,
                          "seconds": round(time.monotonic() - started, 3)})
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            raise ApiError(status, f"Cloud Run API answered {method} {path} with no JSON"
                           ) from None
        return answer if isinstance(answer, dict) else {}


def _message(raw: bytes, status: int, method: str, path: str) -> str:
    """Google's error message ({"error": {"message": ...}}), else the status line."""
    try:
        error = json.loads(raw or b"{}").get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    text = error.get("message") if isinstance(error, dict) else None
    return str(text or f"Cloud Run API answered {status} to {method} {path}")
