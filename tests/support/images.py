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
    """`docker rmi --force` the images that match `filters`, by id: every tag of each goes, so
    only for images nobody else can have built (unique contents); the ids of those still there.
    """
    ids = image_ids(*filters)
    if not ids:
        return []
    subprocess.run(("docker", "rmi", "--force", *ids), capture_output=True, timeout=300,
                   check=False)
    return image_ids(*filters)


def tags(*filters: str) -> list[str]:
    """The REPOSITORY:TAG names of the images that match every filter, sorted."""
    argv = ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"]
    for spec in filters:
        argv += ["--filter", spec]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    return sorted({name for name in done.stdout.split() if not name.endswith(":<none>")})


def remove_tags(*filters: str) -> list[str]:
    """`docker rmi --force` the names that match `filters`, by name: an image built the same
    elsewhere (the same id under another name) keeps its other names; the names still there."""
    names = tags(*filters)
    if not names:
        return []
    subprocess.run(("docker", "rmi", "--force", *names), capture_output=True, timeout=300,
                   check=False)
    return tags(*filters)
