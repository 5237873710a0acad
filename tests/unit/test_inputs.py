"""The input digest: what decides whether a service's image is rebuilt or reused."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import MappingProxyType

import pytest
from docker.utils.build import exclude_paths

from shipyard.build.inputs import build_args, context_paths, input_digest, untracked_context_files
from shipyard.config import Service
from shipyard.exec.runner import Runner


def service(context: Path, **args: str) -> Service:
    return Service("api", context, context / "Dockerfile", 8080,
                   build_args=MappingProxyType(dict(args)))


@pytest.fixture
def context(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "src" / "deep").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM scratch\nCOPY . /app\n")
    (root / "src" / "main.sh").write_text("echo hi\n")
    (root / "src" / "deep" / "data.txt").write_text("data\n")
    (root / "empty").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("not in the context\n")
    os.symlink(tmp_path / "outside", root / "linked-folder")
    os.symlink("src/main.sh", root / "linked-file")
    return root


def digest(svc: Service) -> str:
    return input_digest(svc, dict(svc.build_args))


def test_without_dockerignore_the_paths_are_the_ones_docker_sends(context: Path) -> None:
    # The docker SDK implements docker's context rules; without patterns both must agree.
    expected = set(exclude_paths(str(context), [], "Dockerfile"))
    assert context_paths(context, "Dockerfile") == expected
    assert "linked-folder/secret.txt" not in expected  # links to folders are not followed


def test_a_comment_only_dockerignore_excludes_nothing(context: Path) -> None:
    before = context_paths(context, "Dockerfile")
    (context / ".dockerignore").write_text("# nothing ignored yet\n\n")
    assert context_paths(context, "Dockerfile") == before | {".dockerignore"}


def test_ignored_files_do_not_change_the_digest(context: Path) -> None:
    (context / ".dockerignore").write_text("src/deep\n*.log\n!keep.log\n")
    first = digest(service(context))
    (context / "src" / "deep" / "data.txt").write_text("changed\n")
    (context / "debug.log").write_text("noise\n")
    assert digest(service(context)) == first
    (context / "keep.log").write_text("re-included by !keep.log\n")
    assert digest(service(context)) != first


def test_contents_mode_dockerfile_and_args_each_change_the_digest(context: Path) -> None:
    seen = {digest(service(context))}
    (context / "src" / "main.sh").write_text("echo bye\n")
    seen.add(digest(service(context)))
    (context / "src" / "main.sh").chmod(0o755)
    seen.add(digest(service(context)))
    (context / "Dockerfile").write_text("FROM scratch\nCOPY src /app\n")
    seen.add(digest(service(context)))
    seen.add(digest(service(context, FLAVOR="b")))
    os.remove(context / "linked-file")
    os.symlink("src/deep/data.txt", context / "linked-file")
    seen.add(digest(service(context)))
    assert len(seen) == 6


def test_the_same_tree_elsewhere_has_the_same_digest(context: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(context, copy, symlinks=True)  # links copied as links, not followed
    assert digest(service(copy)) == digest(service(context))


def test_version_is_a_build_arg_only_when_the_dockerfile_declares_it(context: Path) -> None:
    assert build_args(service(context), "v1.1.0") == {}
    (context / "Dockerfile").write_text("FROM scratch\narg VERSION=dev\n")
    assert build_args(service(context, A="1"), "v1.1.0") == {"A": "1", "VERSION": "v1.1.0"}


def git_repo(root: Path) -> Path:
    """A git work tree with one service context, `svc`: Dockerfile and app.sh committed."""
    (root / "svc").mkdir(parents=True)
    (root / "svc" / "Dockerfile").write_text("FROM scratch\nCOPY . /app\n")
    (root / "svc" / "app.sh").write_text("echo hi\n")
    (root / ".gitignore").write_text("*.env\nbuild/\n")
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-q", "-m", "svc")):
        subprocess.run(("git", *args), cwd=root, check=True, capture_output=True)
    return root


def test_untracked_context_files_lists_ignored_and_untracked_files(tmp_path: Path) -> None:
    root = git_repo(tmp_path / "repo")
    svc = service(root / "svc")
    assert untracked_context_files(svc, root, Runner()) == []
    (root / "svc" / "local.env").write_text("SECRET=1\n")  # ignored by .gitignore
    (root / "svc" / "build").mkdir()
    (root / "svc" / "build" / "out.bin").write_text("artefact\n")  # in an ignored folder
    (root / "svc" / "notes.txt").write_text("untracked\n")
    (root / "elsewhere.env").write_text("outside the context\n")
    assert untracked_context_files(svc, root, Runner()) == [
        "svc/build/out.bin", "svc/local.env", "svc/notes.txt"]


def test_untracked_files_that_dockerignore_excludes_are_fine(tmp_path: Path) -> None:
    root = git_repo(tmp_path / "repo")
    (root / "svc" / ".dockerignore").write_text("*.env\nbuild\n")  # itself untracked: sent
    (root / "svc" / "local.env").write_text("SECRET=1\n")
    (root / "svc" / "build").mkdir()
    (root / "svc" / "build" / "out.bin").write_text("artefact\n")
    assert untracked_context_files(service(root / "svc"), root, Runner()) == ["svc/.dockerignore"]


def test_an_untracked_dockerfile_outside_the_context_counts(tmp_path: Path) -> None:
    root = git_repo(tmp_path / "repo")
    (root / "docker").mkdir()
    (root / "docker" / "svc.Dockerfile").write_text("FROM scratch\n")
    svc = Service("api", root / "svc", root / "docker" / "svc.Dockerfile", 8080)
    assert untracked_context_files(svc, root, Runner()) == ["docker/svc.Dockerfile"]
