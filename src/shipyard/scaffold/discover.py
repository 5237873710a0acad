"""What `shipyard init` reads from an app repo: its Dockerfiles, and for each a service.

A service's build context is the nearest folder, from the Dockerfile's own up to the repo
root, under which every COPY/ADD source of the Dockerfile exists (a Dockerfile in
`packages/api-server/server/` that copies `server/www/` builds from `packages/api-server`).
Its name is that folder's name in kebab-case; its port the first EXPOSE (else 8080); the
user the pods run as, the Dockerfile's numeric USER (else 65534, nobody).
"""

from __future__ import annotations

import glob
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# Folders that hold other people's code, tools' state, or what init itself writes.
SKIP_DIRS = frozenset({".git", "node_modules", "vendor", "third_party", ".venv", "venv",
                       ".tox", ".nox", ".shipyard", "__pycache__", ".mypy_cache",
                       ".pytest_cache", "site-packages", "k8s"})
DEFAULT_PORT = 8080
NOBODY = 65534
_INSTRUCTION = re.compile(r"^\s*(COPY|ADD|EXPOSE|USER)\s+(.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class FoundService:
    name: str
    context: str  # relative to the repo, posix
    dockerfile: str  # relative to the repo, posix
    port: int
    uid: int | None  # the numeric USER, when the Dockerfile names one


def kebab(text: str) -> str:
    """`Meta_Verse Visualizer` → `meta-verse-visualizer`; at most 63 characters."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return name[:63].rstrip("-") or "app"


def find_dockerfiles(root: Path) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        found += [Path(folder) / f for f in files if f == "Dockerfile"]
    return sorted(found)


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\r?\n", " ", text)
    lines = [line for line in joined.splitlines() if not line.lstrip().startswith("#")]
    return [(m.group(1).upper(), m.group(2).strip()) for line in lines
            if (m := _INSTRUCTION.match(line))]


def _sources(args: str) -> list[str]:
    """COPY/ADD sources that come from the build context (not --from=, not URLs)."""
    if args.startswith("["):
        import json
        try:
            parts = [str(p) for p in json.loads(args)]
        except ValueError:
            return []
    else:
        try:
            parts = shlex.split(args)
        except ValueError:
            return []
    if any(p.startswith("--from") for p in parts):
        return []
    parts = [p for p in parts if not p.startswith("--")]
    return [p for p in parts[:-1] if "://" not in p and not p.startswith("<<")]


def _context(root: Path, dockerfile: Path, sources: list[str]) -> Path:
    candidate = dockerfile.parent
    while True:
        if all(glob.glob(str(candidate / s.lstrip("/"))) for s in sources):
            return candidate
        if candidate == root:
            return dockerfile.parent
        candidate = candidate.parent


def describe(root: Path, dockerfile: Path) -> FoundService:
    instructions = _instructions(dockerfile.read_text(encoding="utf-8", errors="replace"))
    sources = [s for kind, args in instructions if kind in ("COPY", "ADD")
               for s in _sources(args)]
    context = _context(root, dockerfile, sources)
    ports = [int(m.group(1)) for kind, args in instructions if kind == "EXPOSE"
             if (m := re.match(r"(\d{1,5})", args))]
    users = [args.split(":")[0] for kind, args in instructions if kind == "USER"]
    uid = int(users[-1]) if users and users[-1].isdigit() else None
    rel = PurePosixPath(context.relative_to(root).as_posix())
    return FoundService(
        name=kebab(context.name if context != root else root.name),
        context=str(rel), dockerfile=dockerfile.relative_to(root).as_posix(),
        port=ports[0] if ports and 1 <= ports[0] <= 65535 else DEFAULT_PORT, uid=uid)


def find_services(root: Path) -> list[FoundService]:
    """One service per Dockerfile, sorted by name; two that would share a name are told
    apart by their paths."""
    found = [describe(root, d) for d in find_dockerfiles(root)]
    names = [s.name for s in found]
    unique = []
    for s in found:
        if names.count(s.name) > 1:
            s = FoundService(kebab(s.context.replace("/", "-")), s.context, s.dockerfile,
                             s.port, s.uid)
        unique.append(s)
    return sorted(unique, key=lambda s: s.name)
