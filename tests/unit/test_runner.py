"""The one place that runs commands, exercised with real tiny processes."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shipyard.errors import CommandError
from shipyard.exec import runner as runner_mod
from shipyard.exec.redaction import Redactor
from shipyard.exec.runner import Runner

PY = sys.executable
SECRET = "s3cr3t-Value-42"


def py(code: str, *args: str) -> tuple[str, ...]:
    return (PY, "-c", code, *args)


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# --- dry run ---------------------------------------------------------------------------------

def test_dry_run_prints_mutating_commands_and_runs_none(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "created by the command"
    argv = py("import sys; open(sys.argv[1], 'w').close()", str(target))
    runner = Runner(dry_run=True)
    result = runner.run(argv)
    assert capsys.readouterr().out == f"[dry-run] {shlex.join(argv)}\n"
    assert not target.exists()
    assert result.dry_run and result.ok
    assert runner.planned == [argv]


def test_dry_run_still_runs_read_only_commands(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "read-only query ran"
    result = Runner(dry_run=True).run(
        py("import sys; open(sys.argv[1], 'w').close(); print('hello')", str(target)),
        mutates=False)
    assert target.exists()
    assert result.stdout == "hello\n" and not result.dry_run
    assert "[dry-run]" not in capsys.readouterr().out


def test_dry_run_masks_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    runner = Runner(dry_run=True, redactor=Redactor([SECRET]))
    runner.run(("deploy", f"--token={SECRET}", "--name", "api"))
    assert capsys.readouterr().out == "[dry-run] deploy '--token=***' --name api\n"


def test_secrets_that_shell_quoting_would_split_are_still_masked(
        capsys: pytest.CaptureFixture[str]) -> None:
    secret = "pa'ss-W0rd"
    Runner(dry_run=True, redactor=Redactor([secret])).run(("login", f"--password={secret}"))
    out = capsys.readouterr().out
    assert "ss-W0rd" not in out and "pa'" not in out
    assert "***" in out


def test_echo_shows_mutating_commands_only() -> None:
    shown: list[str] = []
    runner = Runner(echo=shown.append, redactor=Redactor([SECRET]))
    runner.run(("true", SECRET))
    runner.run(("true", "query"), mutates=False)
    assert shown == ["true '***'"]


# --- secrets ---------------------------------------------------------------------------------

def test_command_error_masks_secrets_in_message_and_stderr_tail() -> None:
    runner = Runner(redactor=Redactor([SECRET]))
    with pytest.raises(CommandError) as info:
        runner.run(py("import sys; sys.stderr.write('bad token ' + sys.argv[1]); sys.exit(3)",
                      SECRET))
    err = info.value
    assert err.returncode == 3
    assert err.message.startswith("command failed (exit 3): ")
    assert SECRET not in err.message and "***" in err.message
    assert err.stderr_tail == "bad token ***"
    assert SECRET not in " ".join(err.argv)


def test_secrets_are_masked_in_streamed_lines() -> None:
    lines: list[str] = []
    Runner(redactor=Redactor([SECRET])).run(
        py("import sys; print('one'); print('key=' + sys.argv[1])", SECRET), on_line=lines.append)
    assert lines == ["one", "key=***"]


def test_log_file_records_commands_as_json_without_secrets(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "commands.log"
    runner = Runner(redactor=Redactor([SECRET]), log_path=log)
    runner.run(("true", f"--token={SECRET}"))
    runner.run(("false",), check=False)
    text = log.read_text()
    assert SECRET not in text
    entries = [json.loads(line) for line in text.splitlines()]
    assert [(e["argv"], e["exit"]) for e in entries] == [("true '--token=***'", 0), ("false", 1)]
    assert all(isinstance(e["seconds"], float) and e["at"].endswith("Z") for e in entries)


def test_env_reaches_the_child_without_appearing_in_argv(tmp_path: Path) -> None:
    log = tmp_path / "commands.log"
    code = ("import json, os; print(json.dumps({'token': os.environ['TOKEN'], "
            "'cmdline': open('/proc/self/cmdline').read(), 'path': os.environ.get('PATH')}))")
    result = Runner(log_path=log).run(py(code), env={"TOKEN": SECRET}, mutates=False)
    seen = json.loads(result.stdout)
    assert seen["token"] == SECRET
    assert SECRET not in seen["cmdline"]
    assert seen["path"]  # the rest of the environment is inherited
    assert SECRET not in " ".join(result.argv)
    assert SECRET not in log.read_text()


# --- failures --------------------------------------------------------------------------------

def test_failure_without_check_returns_the_result() -> None:
    result = Runner().run(py("import sys; print('out'); sys.exit(4)"), check=False)
    assert (result.ok, result.returncode, result.stdout) == (False, 4, "out\n")


def test_stdin_is_passed_to_the_child() -> None:
    result = Runner().run(py("import sys; print(sys.stdin.read().upper())"), stdin="hello")
    assert result.stdout == "HELLO\n"


def test_stderr_tail_keeps_only_the_last_lines() -> None:
    code = "import sys\nfor i in range(30): print(f'line {i}', file=sys.stderr)\nsys.exit(1)"
    with pytest.raises(CommandError) as info:
        Runner().run(py(code), hint="try again")
    # the last 12 lines
    assert info.value.stderr_tail.splitlines() == [f"line {i}" for i in range(18, 30)]
    assert info.value.hint == "try again"


def test_stdout_is_the_tail_when_stderr_is_empty() -> None:
    with pytest.raises(CommandError) as info:
        Runner().run(py("import sys; print('only on stdout'); sys.exit(1)"))
    assert info.value.stderr_tail == "only on stdout"


def test_missing_binary_is_command_not_found_with_a_hint() -> None:
    with pytest.raises(CommandError) as info:
        Runner().run(("shipyard-no-such-tool", "--help"))
    assert info.value.message == "shipyard-no-such-tool: command not found"
    assert info.value.hint == "install shipyard-no-such-tool"
    assert info.value.returncode is None
    with pytest.raises(CommandError) as known:
        Runner().run(("/nonexistent/bin/docker", "ps"))
    assert known.value.message == "docker: command not found"
    assert known.value.hint == ("run scripts/bootstrap.sh (installs docker.io and starts the "
                                "engine)")


def test_missing_working_directory_is_not_reported_as_a_missing_command(tmp_path: Path) -> None:
    with pytest.raises(CommandError) as info:
        Runner().run(("true",), cwd=tmp_path / "gone")
    assert "command not found" not in info.value.message
    assert str(tmp_path / "gone") in info.value.message


def test_a_file_that_is_not_executable_is_a_command_error(tmp_path: Path) -> None:
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o644)
    with pytest.raises(CommandError) as info:
        Runner().run((str(tool),))
    assert info.value.message.startswith("tool: ")


def test_timeout_kills_the_child_and_its_children_quickly(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    code = ("import os, subprocess, sys, time\n"
            "child = subprocess.Popen(['sleep', '60'])\n"
            "open(sys.argv[1], 'w').write(f'{os.getpid()} {child.pid}')\n"
            "print('started', file=sys.stderr, flush=True)\n"
            "time.sleep(60)\n")
    started = time.monotonic()
    with pytest.raises(CommandError) as info:
        Runner().run(py(code, str(pids)), timeout=1.5)
    assert time.monotonic() - started < 10
    assert info.value.message.startswith("timed out after 1.5s: ")
    assert info.value.returncode is None
    assert info.value.hint
    parent, child = map(int, pids.read_text().split())
    deadline = time.monotonic() + 5
    while (alive(parent) or alive(child)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(parent)
    assert not alive(child)


# --- retries ---------------------------------------------------------------------------------

FLAKY = ("import pathlib, sys\n"
         "p = pathlib.Path(sys.argv[1])\n"
         "n = int(p.read_text()) if p.exists() else 0\n"
         "p.write_text(str(n + 1))\n"
         "sys.exit(0 if n >= 2 else 1)\n")


def test_retries_until_success(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    result = Runner(backoff=0.01).run(py(FLAKY, str(counter)), retries=2)
    assert result.ok
    assert counter.read_text() == "3"


def test_gives_up_after_the_retries(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    with pytest.raises(CommandError) as info:
        Runner(backoff=0.01).run(py(FLAKY, str(counter)), retries=1)
    assert info.value.returncode == 1
    assert counter.read_text() == "2"


def test_no_retry_by_default(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    with pytest.raises(CommandError):
        Runner(backoff=0.01).run(py(FLAKY, str(counter)))
    assert counter.read_text() == "1"


def logged(log: Path) -> list[tuple[str, int | None, bool]]:
    """(argv, exit, timed out) of each line of a command log."""
    lines = log.read_text().splitlines() if log.exists() else []
    entries = [json.loads(line) for line in lines]
    return [(e["argv"], e["exit"], e.get("timed_out", False)) for e in entries]


def test_every_attempt_is_a_line_of_the_command_log(tmp_path: Path) -> None:
    counter, log = tmp_path / "count", tmp_path / "commands.log"
    argv = py(FLAKY, str(counter))
    Runner(backoff=0.01, log_path=log).run(argv, retries=2)
    shown = shlex.join(argv)
    assert logged(log) == [(shown, 1, False), (shown, 1, False), (shown, 0, False)]


def test_a_timed_out_attempt_is_a_line_of_the_command_log(tmp_path: Path) -> None:
    log = tmp_path / "commands.log"
    argv = py("import time; time.sleep(60)")
    with pytest.raises(CommandError):
        Runner(backoff=0.01, log_path=log).run(argv, timeout=0.5, retries=1)
    shown = shlex.join(argv)
    assert logged(log) == [(shown, -9, True), (shown, -9, True)]  # SIGKILLed, twice


# --- argv only -------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    (), ("echo", "a\x00b"), ("echo", Path("x")), ("echo", 1), "echo hello", ["true", None]])
def test_only_non_empty_argv_of_plain_strings_is_accepted(argv: object, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Runner().run(argv)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Runner(dry_run=True).run(argv)  # type: ignore[arg-type]
    with pytest.raises(ValueError):  # daemons too, in both modes
        Runner().spawn(argv, log=tmp_path / "daemon.log")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Runner(dry_run=True).spawn(argv, log=tmp_path / "daemon.log")  # type: ignore[arg-type]
    assert not (tmp_path / "daemon.log").exists()


def test_commands_are_never_run_through_a_shell(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, dict[str, object]]] = []
    real = subprocess.Popen

    def spy(args: object, **kwargs: object) -> subprocess.Popen[str]:
        calls.append((args, kwargs))
        return real(args, **kwargs)  # type: ignore[call-overload,no-any-return]

    monkeypatch.setattr(runner_mod.subprocess, "Popen", spy)
    marker = tmp_path / "pwned"
    result = Runner().run(("echo", f"$(touch {marker}); `touch {marker}`"), cwd=tmp_path)
    assert result.stdout == f"$(touch {marker}); `touch {marker}`\n"
    assert not marker.exists()
    (args, kwargs), = calls
    assert isinstance(args, tuple) and all(isinstance(a, str) for a in args)
    assert not kwargs.get("shell")


def test_a_multi_line_secret_cut_by_the_tail_is_still_masked() -> None:
    secret = "-----BEGIN KEY-----\nTOP-HALF-abc\nBOTTOM-HALF-xyz\n-----END KEY-----"
    code = ("import sys\nsys.stderr.write(sys.argv[1] + '\\n')\n"
            "for i in range(10): print(i, file=sys.stderr)\n"  # 14 lines: the last 12 of them
            "sys.exit(1)")                                        # start inside the key
    with pytest.raises(CommandError) as info:
        Runner(redactor=Redactor([secret])).run(py(code, secret))
    assert info.value.stderr_tail == "\n".join(["***", *(str(i) for i in range(10))])
