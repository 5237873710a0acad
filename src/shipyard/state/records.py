"""Release records: `.shipyard/releases/V.json` (for the default `local` environment; other
environments use `.shipyard/releases/ENV/V.json`). Written atomically; never holds a secret."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shipyard.errors import ShipyardError
from shipyard.state.workspace import state_dir, state_path
from shipyard.version import Version

DEFAULT_ENV = "local"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def releases_dir(root: Path, env: str) -> Path:
    base = state_path(root) / "releases"  # created by the first record saved, not by readers
    return base if env == DEFAULT_ENV else base / env


def write_json(path: Path, data: Any) -> None:
    """Atomic: a reader (or a crash) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2, sort_keys=True)
        out.write("\n")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ShipyardError(f"{path}: not a valid release record ({exc})",
                            hint="restore it from backup or delete it, then rerun") from None
    if not isinstance(data, dict):
        raise ShipyardError(f"{path}: not a valid release record (expected an object)",
                            hint="restore it from backup or delete it, then rerun")
    return data


class ReleaseRecord:
    def __init__(self, root: Path, path: Path, data: dict[str, Any], dry_run: bool = False
                 ) -> None:
        self.root, self.path = root, path
        self.data = data
        self.dry_run = dry_run  # a dry run reads records but never writes them

    @classmethod
    def open(cls, root: Path, version: Version, env: str, dry_run: bool = False
             ) -> ReleaseRecord:
        path = releases_dir(root, env) / f"{version}.json"
        if path.exists():
            return cls(root, path, read_json(path), dry_run)
        data = {"version": str(version), "env": env, "created": now(), "stages": {},
                "images": {}}
        return cls(root, path, data, dry_run)

    def save(self) -> None:
        if self.dry_run:
            return
        self.data["updated"] = now()
        state_dir(self.root)  # .shipyard/ and its .gitignore come before the first record
        write_json(self.path, self.data)

    @property
    def images(self) -> dict[str, dict[str, Any]]:
        return self.data.setdefault("images", {})  # type: ignore[no-any-return]

    def set_image(self, service: str, **fields: Any) -> None:
        self.images.setdefault(service, {}).update(fields)

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, Any]]:
        """Times a stage and records how it ended, even when it fails."""
        entry: dict[str, Any] = {"status": "running", "started": now()}
        self.data.setdefault("stages", {})[name] = entry
        started = time.monotonic()
        try:
            yield entry
        except BaseException:
            entry["status"] = "failed"
            raise
        else:
            entry["status"] = "done"
        finally:
            entry["ended"] = now()
            entry["seconds"] = round(time.monotonic() - started, 3)
            self.save()
