"""Paths, the error type, logging and small helpers shared by every part of the bench."""

from __future__ import annotations

import os
import shlex
import socket
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "shipyard bench",
    "GIT_AUTHOR_EMAIL": "bench@shipyard.invalid",
    "GIT_COMMITTER_NAME": "shipyard bench",
    "GIT_COMMITTER_EMAIL": "bench@shipyard.invalid",
}


class BenchError(Exception):
    """Something the bench cannot measure around; reported as one line, exit 1."""


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_text(argv: Sequence[str], cwd: Path | None = None) -> str:
    done = subprocess.run(tuple(argv), cwd=cwd, env={**os.environ, **GIT_IDENTITY},
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"{shlex.join(argv)} failed (exit {done.returncode}): "
                         f"{done.stderr.strip()[-400:]}")
    return done.stdout.strip()


def fmt(seconds: float) -> str:
    return f"{seconds:.2f}"
