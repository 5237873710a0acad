"""The app repo's `.shipyard/` folder: records, reports, logs and local state."""

from __future__ import annotations

from pathlib import Path

STATE_DIR = ".shipyard"


def state_path(root: Path) -> Path:
    """Where `.shipyard/` is, without creating it (for dry runs and readers)."""
    return root / STATE_DIR


def state_dir(root: Path) -> Path:
    """Create `.shipyard/` on first use; it ignores itself so git never sees it as a change."""
    path = state_path(root)
    path.mkdir(parents=True, exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# written by shipyard: records and local state stay out of git\n*\n")
    return path
