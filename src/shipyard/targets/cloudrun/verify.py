"""Verifying a Cloud Run revision or service through a URL: the health path answers 200 and the
version path answers the version, retried briefly while a new revision warms up."""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable

ATTEMPTS_SECONDS = 30.0


def get(url: str, token: str | None = None, timeout: float = 10.0) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}
                                     if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), response.read(4096).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (OSError, http.client.HTTPException) as exc:
        return 0, f"no answer ({type(exc).__name__})"


def check(base: str, health: str, version_path: str, version: str,
          token: Callable[[], str | None], within: float = ATTEMPTS_SECONDS) -> str | None:
    """None when BASE answers as VERSION; else what it answered last."""
    deadline = time.monotonic() + within
    problem = "no answer"
    while True:
        bearer = token()
        status, _ = get(base.rstrip("/") + health, bearer)
        if status == 200:
            status, body = get(base.rstrip("/") + version_path, bearer)
            if status == 200 and body.strip() == version:
                return None
            problem = f"{version_path} answered {status} {body.strip()[:40]!r}, not {version}"
            if status == 200:
                return problem  # a revision that answers a wrong version will not change
        else:
            problem = f"{health} answered {status or 'nothing'}"
        if time.monotonic() > deadline:
            return problem
        time.sleep(0.5)
