"""Runs one stage's work for several services at once, with bounded concurrency.

Every service gets its chance (one failure does not cancel the others), then the first
failure is raised with the list of what failed and what succeeded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from shipyard.errors import ShipyardError

T = TypeVar("T")
R = TypeVar("R")


def default_jobs(count: int) -> int:
    return max(1, min(count, os.cpu_count() or 1))


def fan_out(work: Callable[[T], R], items: Sequence[T], names: Sequence[str], workers: int,
            on_result: Callable[[R], None] | None = None) -> list[R]:
    results: list[R] = []
    failures: list[tuple[str, ShipyardError]] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(work, item) for item in items]
        for name, future in zip(names, futures, strict=True):
            try:
                result = future.result()
            except ShipyardError as exc:
                failures.append((name, exc))
                continue
            results.append(result)
            if on_result is not None:
                on_result(result)
    if failures:
        raise _summarise(failures, [n for n in names if n not in dict(failures)])
    return results


def _summarise(failures: list[tuple[str, ShipyardError]], succeeded: list[str]) -> ShipyardError:
    name, first = failures[0]
    failed = ", ".join(n for n, _ in failures)
    first.message = (f"failed: {failed} (succeeded: {', '.join(succeeded) or 'none'}); "
                     f"{name}: {first.message}")
    return first
