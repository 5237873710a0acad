"""Paths, the error type, logging and small helpers shared by every part of the bench."""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.support import cli

ROOT = Path(__file__).resolve().parents[1]


class BenchError(Exception):
    """Something the bench cannot measure around; reported as one line, exit 1."""


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def shipyard_first(pythonpath: str) -> dict[str, str]:
    """The environment that puts a snapshot of shipyard's sources (if any) first on PYTHONPATH."""
    if not pythonpath:
        return {}
    return {"PYTHONPATH": os.pathsep.join(filter(None, (pythonpath,
                                                       os.environ.get("PYTHONPATH"))))}


def invoke_ok(cwd: Path, args: Sequence[str], env: dict[str, str]) -> cli.Ran:
    """`python -m invoke ARGS` in `cwd` as a user runs it; BenchError when it fails."""
    done = cli.invoke(cwd, *args, env=env, timeout=None)
    if done.code != 0:
        raise BenchError(f"invoke {shlex.join(args)} failed in {cwd} (exit {done.code}):\n"
                         f"{done.out[-1500:]}{done.err[-1500:]}")
    return done


def run_text(argv: Sequence[str], cwd: Path | None = None) -> str:
    done = subprocess.run(tuple(argv), cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"{shlex.join(argv)} failed (exit {done.returncode}): "
                         f"{done.stderr.strip()[-400:]}")
    return done.stdout.strip()


def fmt(seconds: float) -> str:
    return f"{seconds:.2f}"
