"""A service's input digest: what decides whether its image must be rebuilt.

It covers the build context's files after .dockerignore (path, executable bit, content), the
Dockerfile and the build args. Labels are not inputs: a new commit that leaves a service's
files alone reuses its image.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path

from shipyard.config import Service

_ARG_LINE = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE | re.MULTILINE)


def declared_args(dockerfile: Path) -> set[str]:
    return set(_ARG_LINE.findall(dockerfile.read_text(encoding="utf-8", errors="replace")))


def build_args(service: Service, version: str) -> dict[str, str]:
    """Config build args, plus VERSION when the Dockerfile declares `ARG VERSION`."""
    args = dict(service.build_args)
    if "VERSION" in declared_args(service.dockerfile):
        args.setdefault("VERSION", version)
    return args


def _ignore_patterns(context: Path) -> list[str]:
    ignore = context / ".dockerignore"
    if not ignore.is_file():
        return []
    lines = ignore.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def context_paths(context: Path, dockerfile_rel: str | None) -> set[str]:
    """Every path docker sends as the build context (files, directories, links), relative."""
    patterns = _ignore_patterns(context)
    if patterns:
        # docker's own .dockerignore rules; imported only here as the SDK costs ~0.1 s to load.
        from docker.utils.build import exclude_paths

        return set(exclude_paths(str(context), patterns, dockerfile_rel))
    found: set[str] = set()
    for folder, dirs, files in os.walk(context):  # like docker: links to folders not followed
        rel = os.path.relpath(folder, context)
        found.update(name if rel == "." else os.path.join(rel, name) for name in dirs + files)
    return found


def input_digest(service: Service, args: Mapping[str, str]) -> str:
    digest = hashlib.sha256()

    def feed(kind: str, name: str, data: bytes) -> None:
        digest.update(f"{kind}\0{name}\0{len(data)}\0".encode())
        digest.update(data)

    feed("dockerfile", service.dockerfile.name, service.dockerfile.read_bytes())
    for key in sorted(args):
        feed("arg", key, args[key].encode())
    context = service.context
    dockerfile_rel = (str(service.dockerfile.relative_to(context))
                      if service.dockerfile.is_relative_to(context) else None)
    for rel in sorted(context_paths(context, dockerfile_rel)):
        path = context / rel
        if path.is_symlink():
            feed("link", rel, str(path.readlink()).encode())
        elif path.is_file():
            mode = "x" if path.stat().st_mode & 0o111 else "-"
            feed(f"file{mode}", rel, path.read_bytes())
    return "sha256:" + digest.hexdigest()
