"""`invoke secrets-set / secrets-list / secrets-check --env local`, run as a user runs them, in
a copy of the sample app: the dotenv file they write, what they refuse, and where a value
never goes (any process's argv, any output, any record under .shipyard/ but the file itself).
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import stat
import sys
import threading
import time
from pathlib import Path

import pytest

from shipyard.secrets.dotenv import parse
from tests.support.apps import sample_copy
from tests.support.argv_watch import watching_argv
from tests.support.cli import Ran, invoke
from tests.support.git import GIT_IDENTITY

pytestmark = pytest.mark.integration

NAMES = ("DATABASE_URL", "RUNWAYML_API_KEY", "REDIS_URL")
DB = "postgres://meta:pw-7Qx#not-a-comment @db:5432/app"  # a " #" and a trailing space
KEY = "rk-'single' and \"double\" \\ quotes"
REDIS = "redis://cache:6379/0"
SECRETS = Path(".shipyard/secrets/local.env")


@pytest.fixture
def app(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    sample_copy(app, tmp_path / "remote.git")
    return app


def set_secret(app: Path, name: str, value: str, *args: str) -> Ran:
    return invoke(app, "secrets-set", name, "--env", "local", *args, stdin=value)


def everything_under(folder: Path, but: Path | None = None) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file() and p != but}


def test_a_value_on_stdin_reaches_the_file_and_nothing_else(app: Path) -> None:
    with watching_argv(DB, DB.strip()) as watch:
        ran = set_secret(app, "DATABASE_URL", DB + "\n")  # as `echo "$DB" |` sends it
    assert ran.code == 0, ran.text
    assert watch.saw("secrets-set") and watch.samples >= 2  # it sampled while the task ran
    assert watch.hits == []  # the value was in no process's command line
    assert DB not in ran.text and DB.strip() not in ran.text
    assert "DATABASE_URL set: .shipyard/secrets/local.env; used by api-server" in ran.out

    path = app / SECRETS
    assert parse(path.read_text(), str(path)) == {"DATABASE_URL": DB}  # one final newline less
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    others = everything_under(app / ".shipyard", but=path)
    assert [f for f, data in others.items() if DB.strip().encode() in data] == []
    audit = [json.loads(line) for line in (app / ".shipyard/audit.log").read_text().splitlines()]
    assert [(a["action"], a["env"], a["secret"], a["secret_version"]) for a in audit] == [
        ("secrets-set", "local", "DATABASE_URL", "current")]
    assert list(path.parent.glob("*.tmp")) == []  # no temp file left behind


def test_setting_every_name_keeps_the_others_and_satisfies_the_check(app: Path) -> None:
    path = app / SECRETS
    path.parent.mkdir(parents=True)
    path.touch(mode=0o600)
    path.write_text("# kept\nexport DATABASE_URL=old-value\nDATABASE_URL=older\nOTHER=kept-too\n")
    before = invoke(app, "secrets-check", "--env", "local")
    assert before.code == 1
    assert before.line("error: ").count("is not in .shipyard/secrets/local.env") == 2
    for name, value in zip(NAMES, (DB, KEY, REDIS), strict=True):
        assert set_secret(app, name, value).code == 0
    text = path.read_text()
    assert parse(text, "f") == {"DATABASE_URL": DB, "RUNWAYML_API_KEY": KEY,
                                "REDIS_URL": REDIS, "OTHER": "kept-too"}
    assert text.startswith("# kept\nexport DATABASE_URL=")  # in place, export kept, dup gone
    after = invoke(app, "secrets-check", "--env", "local", "--json")
    assert after.code == 0, after.text
    data = json.loads(after.out)
    assert data["ok"] and [c["name"] for c in data["checks"]] == [
        "secrets file", *(f"secret {n}" for n in NAMES)]
    listed = invoke(app, "secrets-list", "--env", "local", "--json")
    rows = json.loads(listed.out)["secrets"]
    assert [(r["name"], r["version"], r["services"], r["problem"]) for r in rows] == [
        (n, "current", ["api-server"], None) for n in NAMES]
    for value in (DB, KEY, REDIS):
        assert value not in listed.text + after.text


def test_what_secrets_set_refuses_changes_nothing(app: Path) -> None:
    path = app / SECRETS
    value = "s3cr3t-typed-in-the-wrong-place"
    cases = {
        ("REDIS_URL", "--value", value): 1,  # invoke: no such flag
        (f"REDIS_URL={value}",): 2,
        (value,): 2,  # a value where the name goes: not a known name, and not repeated back
        ("REDIS_URL", "--disable-previous"): 2,  # local keeps one value per name
    }
    for args, code in cases.items():
        ran = invoke(app, "secrets-set", *args, "--env", "local", stdin="redis://x:1/0")
        assert ran.code == code, (args, ran.text)
        assert not path.exists()
        assert value not in ran.text  # put on argv by hand, yet not echoed back
    unknown = invoke(app, "secrets-set", "NOPE", "--env", "local", stdin="redis://x:1/0")
    assert unknown.line("hint: ") == "the known names: DATABASE_URL, RUNWAYML_API_KEY, REDIS_URL"
    for bad, why in (("", "the input was empty"), ("\n", "the input was empty"),
                     ("abc", "too short"), ("two\nlines", "must fit on one line")):
        ran = set_secret(app, "REDIS_URL", bad)
        assert ran.code == 2 and why in ran.line("error: "), ran.text
        assert not path.exists()
    dry = set_secret(app, "REDIS_URL", REDIS, "--dry-run")
    assert dry.code == 0 and "[dry-run] would add REDIS_URL" in dry.err
    assert not path.exists()


def test_an_existing_file_with_a_loose_mode_is_refused_untouched(app: Path) -> None:
    path = app / SECRETS
    path.parent.mkdir(parents=True)
    path.write_text("REDIS_URL=redis://old:1/0\n")
    path.chmod(0o644)
    ran = set_secret(app, "REDIS_URL", REDIS)
    assert ran.code == 1 and ran.line("hint: ") == f"chmod 600 {path}"
    assert path.read_text() == "REDIS_URL=redis://old:1/0\n"
    check = invoke(app, "secrets-check", "--env", "local")
    assert check.code == 1 and "has mode 0644" in check.line("error: ")


def test_two_runs_at_once_both_land(app: Path) -> None:
    results: dict[str, Ran] = {}

    def run(name: str, value: str) -> None:
        results[name] = set_secret(app, name, value)

    threads = [threading.Thread(target=run, args=pair) for pair in
               zip(NAMES, (DB, KEY, REDIS), strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.code == 0 for r in results.values()), results
    assert parse((app / SECRETS).read_text(), "f") == {
        "DATABASE_URL": DB, "RUNWAYML_API_KEY": KEY, "REDIS_URL": REDIS}


def test_a_killed_writers_temp_file_is_removed_by_the_next_run(app: Path) -> None:
    path = app / SECRETS
    path.parent.mkdir(parents=True, mode=0o700)
    left = path.parent / ".local.env.abc123.tmp"  # what a kill -9 before the rename leaves
    left.write_text("REDIS_URL=half-written\n")
    assert invoke(app, "secrets-check", "--env", "local").code == 1  # a temp is not the file
    assert set_secret(app, "REDIS_URL", REDIS).code == 0
    assert not left.exists()
    assert parse(path.read_text(), "f") == {"REDIS_URL": REDIS}


def test_on_a_terminal_the_value_is_asked_for_and_not_echoed(app: Path) -> None:
    value = "typed-at-the-prompt-9f2"
    pid, fd = pty.fork()  # the child's controlling terminal is the pty, as in a real shell
    if pid == 0:
        os.chdir(app)
        env = {**os.environ, **GIT_IDENTITY, "NO_COLOR": "1"}
        os.execve(sys.executable, [sys.executable, "-m", "invoke", "secrets-set",
                                   "REDIS_URL", "--env", "local"], env)
    seen = b""
    try:
        seen += read_until(fd, b"(not shown): ")
        os.write(fd, value.encode() + b"\n")
        seen += read_until(fd, b"used by api-server")
        _, status = os.waitpid(pid, 0)
    finally:
        with_no_child(pid)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert b"value for REDIS_URL (not shown): " in seen
    assert value.encode() not in seen  # no echo
    assert parse((app / SECRETS).read_text(), "f") == {"REDIS_URL": value}


def read_until(fd: int, marker: bytes, timeout: float = 120) -> bytes:
    data, end = b"", time.monotonic() + timeout
    while marker not in data:
        ready, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            raise AssertionError(f"no {marker!r} in {data!r}")
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        data += chunk
    return data


def with_no_child(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def test_the_demo_sets_its_secrets_through_secrets_set(app: Path) -> None:
    # one writer of the file: scripts/demo.py pipes each value into the task
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    try:
        import demo
    finally:
        sys.path.pop(0)
    with watching_argv(*demo.DEMO_SECRETS.values()) as watch:
        demo.set_secrets(app)
    assert watch.saw("secrets-set") and watch.hits == []
    assert parse((app / SECRETS).read_text(), "f") == demo.DEMO_SECRETS
