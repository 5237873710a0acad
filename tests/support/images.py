"""Docker images by filter: listed, and removed."""

from __future__ import annotations

import subprocess


def listed(*filters: str, shown: str = "{{.ID}}") -> list[str]:
    """`docker images` that match every `--filter` given, as `shown` (a Go template), sorted."""
    argv = ["docker", "images", "--no-trunc", "--format", shown]
    for spec in filters:
        argv += ["--filter", spec]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    return sorted({line for line in done.stdout.split() if not line.endswith(":<none>")})


def remove_images(*filters: str) -> list[str]:
    """`docker rmi --force` the images that match `filters`, by id: every tag of each goes, so
    only for images nobody else can have built (unique contents); the ids of those still there.
    """
    return removed(filters, "{{.ID}}")


def remove_tags(*filters: str) -> list[str]:
    """`docker rmi --force` the names that match `filters`, by name: an image built the same
    elsewhere (the same id under another name) keeps its other names; the names still there."""
    return removed(filters, "{{.Repository}}:{{.Tag}}")


def removed(filters: tuple[str, ...], shown: str) -> list[str]:
    """`docker rmi --force` what `listed` shows; what it shows afterwards."""
    found = listed(*filters, shown=shown)
    if not found:
        return []
    subprocess.run(("docker", "rmi", "--force", *found), capture_output=True, timeout=300,
                   check=False)
    return listed(*filters, shown=shown)
