"""A service's input digest: what decides whether its image must be rebuilt.

It covers the build context's files after .dockerignore (path, executable bit, content), the
Dockerfile and the build args. Labels are not inputs: a new commit that leaves a service's
files alone reuses its image.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from shipyard.build import dockerignore
from shipyard.commands import git as gitcmd
from shipyard.config import Service
from shipyard.errors import ShipyardError
from shipyard.exec.runner import Runner

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
        return set(dockerignore.exclude_paths()(str(context), patterns, dockerfile_rel))
    found: set[str] = set()
    for folder, dirs, files in os.walk(context):  # like docker: links to folders not followed
        rel = os.path.relpath(folder, context)
        found.update(name if rel == "." else os.path.join(rel, name) for name in dirs + files)
    return found


def _dockerfile_rel(service: Service) -> str | None:
    context, dockerfile = service.context, service.dockerfile
    return str(dockerfile.relative_to(context)) if dockerfile.is_relative_to(context) else None


def untracked_context_files(service: Service, root: Path, runner: Runner) -> list[str]:
    """Files git does not track (ignored ones included) that docker would send in the
    service's build context, or its Dockerfile when untracked: paths relative to `root`.

    The tag does not hold them, so an image built with them cannot be rebuilt from it."""
    context, dockerfile_rel = service.context, _dockerfile_rel(service)
    paths = ["."] if dockerfile_rel else [".", os.path.relpath(service.dockerfile, context)]
    found = runner.run(gitcmd.untracked_files(*paths), cwd=context, mutates=False, check=False,
                       timeout=120)
    if not found.ok:
        from shipyard.build.gitrepo import GitRepo  # only now: it names the exact problem

        GitRepo.open(context)  # raises when there is no work tree
        raise ShipyardError(f"cannot list the files git does not track in {context}",
                            hint=f"git ls-files says: {found.stderr.strip()[:200]}")
    untracked = [name.rstrip("/") for name in found.stdout.split("\0") if name]
    if not untracked:
        return []
    sent = context_paths(context, dockerfile_rel)
    return sorted(os.path.relpath(context / name, root) for name in untracked
                  if name in sent or name.startswith("../"))


def require_tracked_contexts(services: Sequence[Service], root: Path, runner: Runner) -> None:
    """Refuse when a build context holds files that git does not track."""
    found = {svc.name: untracked_context_files(svc, root, runner) for svc in services}
    listed = "; ".join(f"{name}: {', '.join(files[:5])}" + (" ..." if files[5:] else "")
                       for name, files in found.items() if files)
    if listed:
        raise ShipyardError(
            f"build contexts hold files git does not track, which the tag would not "
            f"reproduce ({listed})",
            hint="commit them, delete them, or exclude them in the context's .dockerignore; "
                 "then rerun")


def input_digest(service: Service, args: Mapping[str, str]) -> str:
    digest = hashlib.sha256()

    def feed(kind: str, name: str, data: bytes) -> None:
        digest.update(f"{kind}\0{name}\0{len(data)}\0".encode())
        digest.update(data)

    feed("dockerfile", service.dockerfile.name, service.dockerfile.read_bytes())
    for key in sorted(args):
        feed("arg", key, args[key].encode())
    context = service.context
    for rel in sorted(context_paths(context, _dockerfile_rel(service))):
        path = context / rel
        if path.is_symlink():
            feed("link", rel, str(path.readlink()).encode())
        elif path.is_file():
            mode = "x" if path.stat().st_mode & 0o111 else "-"
            feed(f"file{mode}", rel, path.read_bytes())
    return "sha256:" + digest.hexdigest()
