"""Docker images by filter: listed, and removed."""

from __future__ import annotations

import subprocess


def image_ids(*filters: str) -> list[str]:
    """The full ids of the images that match every `docker images --filter` given, sorted."""
    argv = ["docker", "images", "--quiet", "--no-trunc"]
    for spec in filters:
        argv += ["--filter", spec]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    return sorted(set(done.stdout.split()))


def remove_images(*filters: str) -> list[str]:
    """`docker rmi --force` the images that match `filters`; the ids of those still there."""
    ids = image_ids(*filters)
    if not ids:
        return []
    subprocess.run(("docker", "rmi", "--force", *ids), capture_output=True, timeout=300,
                   check=False)
    return image_ids(*filters)
