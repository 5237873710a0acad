"""`shipyard init`: an existing app repo gets shipyard's files, written from its Dockerfiles.

Nothing that exists is overwritten without `force`; a file whose content would not change is
left alone either way. Each file is written whole (a temp file, then a rename), so a kill
leaves either the old file or the new one.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from shipyard.config import CONFIG_FILE
from shipyard.errors import UsageError
from shipyard.scaffold.discover import find_services, kebab
from shipyard.scaffold.render import all_files


@dataclass(frozen=True)
class Outcome:
    path: str
    action: str  # wrote, overwrote, unchanged, kept; in dry-run: would write, would overwrite


def current_branch(root: Path) -> str:
    """The checked-out branch, read from .git/HEAD (main when there is none)."""
    head = root / ".git" / "HEAD"
    text = head.read_text(encoding="utf-8").strip() if head.is_file() else ""
    prefix = "ref: refs/heads/"
    return text[len(prefix):] if text.startswith(prefix) else "main"


def plan(root: Path) -> dict[str, str]:
    services = find_services(root)
    if not services:
        raise UsageError(f"no Dockerfile found under {root}",
                         hint="run shipyard init in the app repo's top folder (node_modules, "
                              "vendor and dot-folders are not searched)")
    return all_files(kebab(root.name), current_branch(root), services, earlier_ports(root))


def earlier_ports(root: Path) -> dict[str, int]:
    """The local environment's ports in an existing shipyard.toml ({} when there is none
    or it does not parse): "" → registry_port, SERVICE → its proxy port."""
    try:
        local = tomllib.loads((root / CONFIG_FILE).read_text(encoding="utf-8"))[
            "environments"]["local"]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return {}
    ports = {"": local.get("registry_port")} | dict(local.get("proxy_ports") or {})
    return {k: v for k, v in ports.items() if isinstance(v, int) and 1 <= v <= 65535}


def init(root: Path, *, force: bool, dry_run: bool) -> list[Outcome]:
    outcomes = []
    for rel, text in plan(root).items():
        path = root / rel
        if path.is_file() and path.read_text(encoding="utf-8", errors="replace") == text:
            outcomes.append(Outcome(rel, "unchanged"))
            continue
        if path.exists() and not force:
            outcomes.append(Outcome(rel, "kept"))
            continue
        exists = path.exists()
        if dry_run:
            outcomes.append(Outcome(rel, "would overwrite" if exists else "would write"))
            continue
        _write(path, text)
        outcomes.append(Outcome(rel, "overwrote" if exists else "wrote"))
    return outcomes


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
