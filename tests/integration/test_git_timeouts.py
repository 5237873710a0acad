"""A git remote that accepts connections and never answers: every network git command gives
up after SHIPYARD_GIT_TIMEOUT seconds with an error naming the remote and its URL."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import AppRepo, Ran, git, invoke

pytestmark = pytest.mark.integration
TIMEOUT = 2
# No proxy may stand in for the silent server; the timeout is short for the test.
ENV = {"SHIPYARD_GIT_TIMEOUT": str(TIMEOUT), "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
FEATURE = "feature/x"
FETCH = "git fetch --quiet --prune --no-tags origin"


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte; stops by itself."""

    def __init__(self, seconds: float = 60) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/x.git"
        self.accepted: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(seconds,), daemon=True)
        self.thread.start()

    def _serve(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                self.accepted.append(self.sock.accept()[0])
            except TimeoutError:
                continue
        for conn in self.accepted:
            conn.close()
        self.sock.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def timed(cwd: Path, *args: str) -> tuple[Ran, float]:
    started = time.monotonic()
    ran = invoke(cwd, *args, env=ENV, timeout=60)
    return ran, time.monotonic() - started


def assert_gave_up(ran: Ran, seconds: float, server: SilentServer, command: str) -> None:
    assert ran.code == 1, ran.text
    assert "Traceback" not in ran.text
    assert ran.line("error: ") == \
        f"origin ({server.url}) did not answer within {TIMEOUT}s: {command}"
    assert ran.line("hint: ").startswith(f"check that {server.url} answers")
    assert len(server.accepted) == 1, "git reached the silent server once: no retry"
    assert TIMEOUT <= seconds < TIMEOUT + 10, f"took {seconds:.1f}s"  # one wait, no retries


def merged_feature(repo: AppRepo) -> None:
    repo.git("switch", "-q", "-c", FEATURE)
    repo.commit("feature.txt")
    repo.git("push", "-q", "origin", FEATURE)
    repo.git("switch", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "-m", "Merge feature", FEATURE)
    repo.git("push", "-q", "origin", "main")


def test_tag_fetch_gives_up(app_repo: AppRepo, silent: SilentServer) -> None:
    app_repo.git("remote", "set-url", "origin", silent.url)
    ran, seconds = timed(app_repo.work, "tag", "--version", "v1.0.0")
    assert_gave_up(ran, seconds, silent, FETCH)
    assert app_repo.git("tag", "-l") == ""


def test_tag_push_gives_up_and_a_rerun_resumes(app_repo: AppRepo, silent: SilentServer) -> None:
    app_repo.git("remote", "set-url", "--push", "origin", silent.url)  # fetches still answer
    ran, seconds = timed(app_repo.work, "tag", "--version", "v1.0.0")
    assert_gave_up(ran, seconds, silent, "git push origin refs/tags/v1.0.0:refs/tags/v1.0.0")
    assert "v1.0.0" not in app_repo.remote_refs()

    app_repo.git("config", "--unset", "remote.origin.pushurl")
    again = invoke(app_repo.work, "tag", "--version", "v1.0.0")
    assert again.code == 0, again.text
    assert again.err.strip().endswith("pushed v1.0.0 to origin")  # the local tag, not a new one


def test_tag_ls_remote_gives_up(app_repo: AppRepo, silent: SilentServer, tmp_path: Path) -> None:
    assert invoke(app_repo.work, "tag", "--version", "v1.0.0").code == 0
    clone = tmp_path / "ci"  # detached at the tag: the first network command is ls-remote
    git(tmp_path, "clone", "-q", "--branch", "v1.0.0", str(app_repo.remote), str(clone))
    git(clone, "remote", "set-url", "origin", silent.url)
    ran, seconds = timed(clone, "tag", "--version", "v1.0.0")
    assert_gave_up(ran, seconds, silent,
                   "git ls-remote --tags origin refs/tags/v1.0.0 'refs/tags/v1.0.0^{}'")


def test_cleanup_fetch_gives_up(app_repo: AppRepo, silent: SilentServer) -> None:
    merged_feature(app_repo)
    app_repo.git("remote", "set-url", "origin", silent.url)
    ran, seconds = timed(app_repo.work, "cleanup-branch", "--branch", FEATURE)
    assert_gave_up(ran, seconds, silent, FETCH)
    assert FEATURE in app_repo.git("branch", "--list")


def test_cleanup_push_delete_gives_up(app_repo: AppRepo, silent: SilentServer) -> None:
    merged_feature(app_repo)
    before = app_repo.remote_refs()
    app_repo.git("remote", "set-url", "--push", "origin", silent.url)
    ran, seconds = timed(app_repo.work, "cleanup-branch", "--branch", FEATURE)
    assert_gave_up(ran, seconds, silent, f"git push origin --delete refs/heads/{FEATURE}")
    assert app_repo.remote_refs() == before
    assert FEATURE in app_repo.git("branch", "--list")  # the remote branch goes first


@pytest.mark.parametrize("value", ["soon", "0", "-5"])
def test_a_bad_timeout_setting_exits_2(app_repo: AppRepo, value: str) -> None:
    ran = invoke(app_repo.work, "tag", "--version", "v1.0.0",
                 env={"SHIPYARD_GIT_TIMEOUT": value})
    assert ran.code == 2, ran.text
    assert ran.line("error: ") == f"SHIPYARD_GIT_TIMEOUT={value!r} is not a number of seconds"
    assert app_repo.git("tag", "-l") == ""
