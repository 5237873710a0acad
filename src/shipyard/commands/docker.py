"""docker argv builders for images: build, tag, push, inspect. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

Argv = tuple[str, ...]


def client_version(docker: str) -> Argv:
    return (docker, "version", "--format", "{{.Client.Version}}")


def server_version(docker: str) -> Argv:
    return (docker, "version", "--format", "{{.Server.Version}}")


def buildx_version(docker: str) -> Argv:
    return (docker, "buildx", "version")


def build(
    docker: str,
    *,
    image: str,
    context: Path,
    dockerfile: Path,
    labels: Mapping[str, str],
    build_args: Mapping[str, str],
    cache_from: Sequence[str] = (),
    iidfile: Path | None = None,
    buildkit: bool = False,
) -> Argv:
    argv = [docker, "build", "--file", str(dockerfile), "--tag", image]
    for key in sorted(labels):
        argv += ["--label", f"{key}={labels[key]}"]
    args = dict(build_args)
    if buildkit:
        # Inline cache metadata makes this image usable as --cache-from for the next release.
        args.setdefault("BUILDKIT_INLINE_CACHE", "1")
    for key in sorted(args):
        argv += ["--build-arg", f"{key}={args[key]}"]
    for ref in cache_from:
        argv += ["--cache-from", ref]
    if iidfile is not None:
        argv += ["--iidfile", str(iidfile)]
    argv.append(str(context))
    return tuple(argv)


def tag(docker: str, source: str, target: str) -> Argv:
    return (docker, "tag", source, target)


def push(docker: str, image: str) -> Argv:
    return (docker, "push", image)


def pull(docker: str, image: str) -> Argv:
    return (docker, "pull", "--quiet", image)


def inspect_images(docker: str, refs: Sequence[str]) -> Argv:
    return (docker, "image", "inspect", *refs)


def images_with_label(docker: str, label: str, value: str) -> Argv:
    return (docker, "images", "--quiet", "--no-trunc", "--filter", f"label={label}={value}")
