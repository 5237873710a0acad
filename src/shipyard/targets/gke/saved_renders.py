"""The renders a release applied, kept under `.shipyard/renders/ENV/VERSION.yaml` (with a
.json of what made it): a rollback re-applies one as it was, not `rollout undo`."""

from __future__ import annotations

import os
from pathlib import Path

from shipyard.state.records import write_json
from shipyard.state.workspace import state_dir, state_path
from shipyard.version import Version


class SavedRenders:
    def __init__(self, root: Path, env: str, overlay: str) -> None:
        self.root, self.overlay = root, overlay
        self.folder = state_path(root) / "renders" / env

    def path(self, version: Version) -> Path:
        return self.folder / f"{version}.yaml"

    def save(self, version: Version, text: str, *, dry_run: bool) -> Path:
        """Where the render of `version` is (a dry run writes nothing)."""
        path = self.path(version)
        if dry_run:
            return path
        state_dir(self.root)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)  # a crash never leaves half a render to roll back to
        write_json(path.with_suffix(".json"), {"version": str(version),
                                               "overlay": self.overlay})
        return path
