"""Scratch directories, the snapshot of shipyard's sources, and removing what the bench made."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import images

from .app import App
from .basics import ROOT, BenchError, log


def remove_images(apps: list[App]) -> None:
    for app in apps:
        left = images.remove_images(app.image_filter)
        if left:
            log(f"warning: {len(left)} image(s) of {app.project} could not be removed")


def snapshot_sources(base: Path) -> Path:
    """A copy of src/ taken now, put first on PYTHONPATH for every invocation.

    The editable install would otherwise pick up other people's edits mid-run (a half-written
    module fails the import, a new one changes what is measured). The copy must import.
    """
    target = base / "src"
    for attempt in range(1, 7):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(ROOT / "src" / "shipyard", target / "shipyard",
                        ignore=shutil.ignore_patterns("__pycache__"))
        done = subprocess.run((sys.executable, "-c", "import shipyard.tasks, shipyard; "
                               "print(shipyard.__file__)"), env={**os.environ,
                              "PYTHONPATH": str(target)}, capture_output=True, text=True,
                              check=False)
        if done.returncode == 0 and done.stdout.strip().startswith(str(target)):
            # Bytecode now, as an install has it: with PYTHONDONTWRITEBYTECODE set (it is on
            # some machines) every measured process would compile shipyard again (~0.1 s).
            subprocess.run((sys.executable, "-m", "compileall", "-q", str(target)),
                           capture_output=True, check=False)
            return target
        log(f"the sources do not import yet (attempt {attempt}): "
            f"{(done.stderr.strip().splitlines() or ['?'])[-1]}")
        time.sleep(5)
    raise BenchError("src/shipyard does not import; fix it (or wait for whoever edits it)")


def prune_build_cache(marker: str) -> None:
    """Drop this run's BuildKit cache records (about DATA_MB per build): the RUN steps that carry
    `marker` and the COPY nonce steps under them. Nobody else's cache is touched."""
    import docker  # the SDK shipyard depends on; only for the engine's cache listing

    try:
        records = docker.from_env().df().get("BuildCache") or []
    except docker.errors.DockerException as exc:
        log(f"warning: could not list the build cache ({exc}); it keeps this run's layers")
        return
    by_id = {r["ID"]: r for r in records}
    ours = [r["ID"] for r in records if marker in (r.get("Description") or "")]
    ours += [by_id[i]["Parent"] for i in ours
             if by_id.get(by_id[i].get("Parent") or "", {}).get("Description") == "fileop target"]
    for start in range(0, len(ours), 50):  # the engine matches `id` as a regular expression
        chunk = "|".join(ours[start:start + 50])
        subprocess.run(("docker", "builder", "prune", "--force", "--filter", f"id=^({chunk})$"),
                       capture_output=True, check=False)


@contextmanager
def scratch(keep: bool) -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="shipyard-bench-"))
    try:
        yield base
    finally:
        if keep:
            log(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
