"""A small base for Google JSON API stand-ins: a threaded loopback HTTP server that routes
`METHOD /path` by regular expression to a method, answers JSON, Google's error shape on
failure, and keeps every request (method, path, query, parsed body) for tests to read.

A request no route models answers 404 and is listed in `unhandled`, so a test can assert
that gcloud sent nothing the stand-in ignored.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CHANGES = ("POST", "PUT", "PATCH", "DELETE")
STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          409: "ALREADY_EXISTS"}
Route = tuple[str, re.Pattern[str], Callable[..., Any]]


class ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


class JsonStandIn:
    """Subclasses fill `routes()`: (METHOD, path regex, handler(request_body, query, **groups))."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[Request] = []
        self.unhandled: list[Request] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def routes(self) -> list[Route]:
        raise NotImplementedError

    @property
    def changes(self) -> list[Request]:
        """Every request that may change state (POST, PUT, PATCH, DELETE)."""
        with self.lock:
            return [r for r in self.requests if r.method in CHANGES]

    @property
    def port(self) -> int:
        assert self._httpd, "start the stand-in first"
        return int(self._httpd.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> JsonStandIn:
        standin, routes = self, self.routes()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def handle_one(self) -> None:
                standin._serve(self, routes)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=2)

    def _serve(self, handler: BaseHTTPRequestHandler, routes: list[Route]) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode("utf-8", "replace") if length else ""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        code, answer, known = 404, None, False
        for method, pattern, action in routes:
            match = pattern.fullmatch(parts.path)
            if method == handler.command and match:
                known = True
                try:
                    with self.lock:
                        code, answer = 200, action(body, query, **match.groupdict())
                except ApiError as exc:
                    code, answer = exc.code, {"error": {
                        "code": exc.code, "message": exc.message,
                        "status": STATUS.get(exc.code, "UNKNOWN")}}
                break
        if not known:
            answer = {"error": {"code": 404, "message": f"unmodelled {handler.command} "
                                f"{parts.path}", "status": "NOT_FOUND"}}
        record = Request(handler.command, parts.path, query, body, code)
        with self.lock:
            self.requests.append(record)
            if not known:
                self.unhandled.append(record)
        payload = json.dumps(answer if answer is not None else {}).encode()
        handler.send_response(code)
        handler.send_header("Content-Type", "application/json; charset=UTF-8")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
