"""The one place that executes external commands.

Argv tuples only (never a shell string). In dry-run mode every state-changing command is printed
exactly as it would run, shell-quoted, and none of them runs; read-only queries still run so the
plan reflects reality. Secret values are masked in everything printed or recorded.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from shipyard.errors import CommandError
from shipyard.exec import process
from shipyard.exec.redaction import Redactor

Argv = tuple[str, ...]
LineHandler = Callable[[str], None]
StartHandler = Callable[[int], None]

STDERR_TAIL_LINES = 12
DEFAULT_TIMEOUT = 600.0

@dataclass(frozen=True)
class Result:
    argv: Argv
    returncode: int
    stdout: str
    stderr: str
    duration: float
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass
class Runner:
    """Runs argv tuples; see the module docstring for the guarantees."""

    dry_run: bool = False
    redactor: Redactor = field(default_factory=Redactor)
    log_path: Path | None = None
    echo: Callable[[str], None] | None = None
    backoff: float = 1.0
    planned: list[Argv] = field(default_factory=list)

    def quote(self, argv: Sequence[str]) -> str:
        # Mask each argument before quoting: quoting a secret that holds a ' would split it.
        return self.redactor(shlex.join(self.masked(argv)))

    def masked(self, argv: Sequence[str]) -> Argv:
        return tuple(self.redactor(arg) for arg in argv)

    def run(
        self,
        argv: Sequence[str],
        *,
        mutates: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = 0,
        check: bool = True,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
        hint: str | None = None,
        on_line: LineHandler | None = None,
        on_start: StartHandler | None = None,
    ) -> Result:
        """`on_start` gets the pid (also the process group id) once the command started, so a
        caller that runs several at once can stop one (see cloudbuild/execute.py)."""
        argv = _checked(argv)
        if mutates and self.dry_run:
            self.planned.append(argv)
            _plan_line(f"[dry-run] {self.quote(argv)}")
            return Result(argv, 0, "", "", 0.0, dry_run=True)
        if mutates and self.echo:
            self.echo(self.quote(argv))

        def attempt() -> Result:
            # Passed only when asked for: subclasses (the tests' fakes) keep their signature.
            extra = {"on_start": on_start} if on_start is not None else {}
            result = self._execute(argv, timeout, cwd, env, stdin, on_line, hint, **extra)
            if check and not result.ok:
                raise self._failure(result, hint)
            return result

        retrying = Retrying(
            stop=stop_after_attempt(retries + 1),
            wait=wait_exponential(multiplier=self.backoff, max=30 * self.backoff),
            retry=retry_if_exception_type(CommandError),
            reraise=True,
        )
        for try_ in retrying:
            with try_:
                return attempt()
        raise AssertionError("unreachable")  # pragma: no cover

    def plan(self, text: str) -> None:
        """Dry-run: say what a write that is not a command (an API request) would do."""
        _plan_line(f"[dry-run] {self.redactor(text)}")

    def note(self, entry: Mapping[str, object]) -> None:
        """Log a request made without a process (an API call) next to the commands: its
        `request` line, status and seconds; never a body."""
        self._write_log({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                         **{k: self.redactor(v) if isinstance(v, str) else v
                            for k, v in entry.items()}})

    def spawn(self, argv: Sequence[str], *, log: Path, cwd: Path | None = None) -> int | None:
        """Start a long-running daemon in the background, its output appended to `log`.

        Returns its pid (None in dry-run). The daemon outlives shipyard, on purpose.
        """
        argv = _checked(argv)
        if self.dry_run:
            self.planned.append(argv)
            _plan_line(f"[dry-run] {self.quote(argv)} &")
            return None
        if self.echo:
            self.echo(self.quote(argv) + " &")
        pid = process.start_daemon(argv, log=log, cwd=cwd)
        self._record(Result(argv, 0, "", "", 0.0))
        return pid

    def _execute(
        self,
        argv: Argv,
        timeout: float,
        cwd: Path | None,
        env: Mapping[str, str] | None,
        stdin: str | None,
        on_line: LineHandler | None,
        hint: str | None,
        on_start: StartHandler | None = None,
    ) -> Result:
        started = time.monotonic()
        proc = process.start(argv, cwd=cwd, env=env, stdin=stdin is not None, hint=hint,
                             mask=self.masked)
        if on_start is not None:
            on_start(proc.pid)
        out: list[str] = []
        err: list[str] = []
        readers = [
            threading.Thread(target=self._pump, args=(proc.stdout, out, on_line), daemon=True),
            threading.Thread(target=self._pump, args=(proc.stderr, err, on_line), daemon=True),
        ]
        for reader in readers:
            reader.start()
        if stdin is not None and proc.stdin is not None:
            try:
                proc.stdin.write(stdin)
                proc.stdin.close()
            except BrokenPipeError:
                pass
        try:
            returncode = process.wait_for_exit(proc, timeout)
        except subprocess.TimeoutExpired:
            process.kill_group(proc)
            # A timed-out attempt ran too: it is a line of the command log like any other.
            self._record(Result(argv, proc.returncode, "", "", time.monotonic() - started),
                         timed_out=True)
            raise CommandError(
                f"timed out after {timeout:g}s: {self.quote(argv)}",
                argv=self.masked(argv),
                returncode=None,
                stderr_tail=self._tail("".join(err)),
                hint=hint or "the command hung; check the service it talks to, then rerun",
            ) from None
        for reader in readers:
            reader.join()
        result = Result(argv, returncode, "".join(out), "".join(err), time.monotonic() - started)
        self._record(result)
        return result

    def _pump(self, stream: object, sink: list[str], on_line: LineHandler | None) -> None:
        for line in stream:  # type: ignore[attr-defined]
            sink.append(line)
            if on_line is not None:
                on_line(self.redactor(line.rstrip("\n")))

    def _failure(self, result: Result, hint: str | None) -> CommandError:
        tail = self._tail(result.stderr or result.stdout)
        return CommandError(
            f"command failed (exit {result.returncode}): {self.quote(result.argv)}",
            argv=self.masked(result.argv),
            returncode=result.returncode,
            stderr_tail=tail,
            hint=hint,
        )

    def _tail(self, text: str) -> str:
        # Mask before cutting: a multi-line secret may straddle the first line of the tail.
        lines = [line for line in self.redactor(text).strip().splitlines() if line.strip()]
        return "\n".join(lines[-STDERR_TAIL_LINES:])

    def _record(self, result: Result, *, timed_out: bool = False) -> None:
        if self.log_path is None:
            return
        entry: dict[str, object] = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "argv": self.quote(result.argv),
            "exit": result.returncode,
            "seconds": round(result.duration, 3),
        }
        if timed_out:
            entry["timed_out"] = True
        self._write_log(entry)

    def _write_log(self, entry: Mapping[str, object]) -> None:
        if self.log_path is None:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")


_PLAN_LOCK = threading.Lock()


def _checked(argv: Sequence[str]) -> Argv:
    if isinstance(argv, str):  # tuple("git push") would run "g" with "i", "t", ...
        raise ValueError(f"argv must be a tuple of strings, not a string: {argv!r}")
    argv = tuple(argv)
    if not argv or any(not isinstance(a, str) or "\x00" in a for a in argv):
        raise ValueError(f"argv must be a non-empty tuple of strings: {argv!r}")
    return argv


def _plan_line(text: str) -> None:
    """One whole line at a time: stages plan services from several threads at once."""
    with _PLAN_LOCK:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
