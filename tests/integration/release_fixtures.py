"""An app a user would release with `invoke release / deploy / rollback / status`, for the
end-to-end tests in test_release_*.py (import it explicitly; these are not auto-fixtures).

Two busybox services (alpha, beta) behind the local proxy, each needing secrets from a 0600
`.shipyard/secrets/local.env`; a `cloud` environment on the cloudrun target; and knobs a test
commits before a release: BREAK_HEALTH (alpha's /healthz is gone and it says so in its log).
Every request goes to 127.0.0.1. Cleanup: `invoke local-down`, then any container labelled with
this checkout's root is removed, and the images of the test registry are deleted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import GIT_IDENTITY, AppRepo, LocalRegistryProcess, Ran, free_port, invoke
from tests.integration.state_snapshot import snapshot

SERVICES = ("alpha", "beta")
SECRETS = {"alpha": ("CANARY_TOKEN", "ALPHA_DB_PASSWORD"), "beta": ("CANARY_TOKEN",)}
HEALTH_TIMEOUT = 5

CONFIG = """\
[project]
name = "demo"

[services.alpha]
context = "alpha"
port = 8080
secrets = ["CANARY_TOKEN", "ALPHA_DB_PASSWORD"]
build_args = {{ BREAK_HEALTH = "{break_health}" }}

[services.alpha.env]
GREETING = "hello"

[services.beta]
context = "beta"
port = 8080
secrets = ["CANARY_TOKEN"]

[scan]
scanners = ["secret", "misconfig"]

[environments.local]
target = "local"
registry_port = {registry}
keep_revisions = 3
health_timeout = {health_timeout}
proxy_ports = {{ alpha = {alpha}, beta = {beta} }}

[environments.cloud]
target = "cloudrun"
project = "demo-project"
region = "europe-west1"
repository = "demo"
"""

# The service prints a start-up line with its version and (as careless apps do) a secret,
# which shipyard must mask wherever it shows the log. BREAK_HEALTH=yes leaves out /healthz.
DOCKERFILE = """\
FROM shipyard/busybox:1
ARG VERSION=dev
ARG BREAK_HEALTH=no
RUN mkdir -p /www && echo "$VERSION" > /www/version && \\
    if [ "$BREAK_HEALTH" != yes ]; then echo ok > /www/healthz; fi
COPY content.txt /www/content.txt
USER 65534
CMD ["sh", "-c", "echo \\"$(cat /www/version) starting, healthz: \
$(cat /www/healthz 2>/dev/null || echo MISSING), token=$CANARY_TOKEN\\" >&2; \
exec httpd -f -p 8080 -h /www"]
"""

# A pre-receive hook that holds every push to the remote until the test opens the gate.
GATE_HOOK = """\
#!/bin/sh
touch "{waiting}"
i=0
while [ ! -e "{gate}" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
exit 0
"""


def docker(*args: str, check: bool = True) -> str:
    done = subprocess.run(("docker", *args), capture_output=True, text=True, timeout=120,
                          check=False)
    if check:
        assert done.returncode == 0, done.stderr
    return done.stdout


def http_get(port: int, path: str = "/version", timeout: float = 5) -> tuple[int, str]:
    """GET http://127.0.0.1:PORT/PATH, with no proxy settings from the environment."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}{path}", timeout=timeout) as answer:
            return answer.status, answer.read().decode().strip()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace").strip()


@dataclass
class ReleaseApp:
    repo: AppRepo
    registry: LocalRegistryProcess
    ports: dict[str, int]
    canary: str
    password: str

    @property
    def work(self) -> Path:
        return self.repo.work

    @property
    def state(self) -> Path:
        return self.work / ".shipyard"

    @property
    def secrets_file(self) -> Path:
        return self.state / "secrets" / "local.env"

    def invoke(self, *args: str, timeout: float = 300) -> Ran:
        return invoke(self.work, *args, timeout=timeout)

    def ok(self, *args: str) -> Ran:
        ran = self.invoke(*args)
        assert ran.code == 0, f"invoke {' '.join(args)} exited {ran.code}:\n{ran.text}"
        assert "Traceback" not in ran.text, ran.text
        return ran

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """`invoke ARGS` in its own process group (so a test can kill the whole tree)."""
        env = {**os.environ, **GIT_IDENTITY, "NO_COLOR": "1", "COLUMNS": "200"}
        return subprocess.Popen((sys.executable, "-m", "invoke", *args), cwd=self.work, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)

    # ------------------------------------------------------------ changing the app --

    def write_config(self, *, break_health: bool = False) -> None:
        (self.work / "shipyard.toml").write_text(CONFIG.format(
            registry=self.registry.port, health_timeout=HEALTH_TIMEOUT,
            break_health="yes" if break_health else "no", **self.ports))

    def change(self, message: str) -> str:
        """A real change to both services, committed and pushed: the next release differs."""
        for name in SERVICES:
            path = self.work / name / "content.txt"
            path.write_text(path.read_text() + f"{message}\n")
        return self.commit(message)

    def break_health(self) -> str:
        self.write_config(break_health=True)
        return self.commit("alpha: lose /healthz")

    def commit(self, message: str) -> str:
        self.repo.git("add", "-A")
        self.repo.git("commit", "-q", "-m", message)
        self.repo.git("push", "-q", "origin", "main")
        return self.repo.git("rev-parse", "HEAD")

    def hold_pushes(self) -> tuple[Path, Path]:
        """Every push to the remote waits until the returned gate file exists.
        Returns (waiting, gate): `waiting` appears when a push is being held."""
        waiting, gate = self.work.parent / "push-waiting", self.work.parent / "push-gate"
        hook = self.repo.remote / "hooks" / "pre-receive"
        hook.write_text(GATE_HOOK.format(waiting=waiting, gate=gate))
        hook.chmod(0o755)
        return waiting, gate

    # ---------------------------------------------------------------- looking at it --

    def version(self, service: str) -> str:
        status, body = http_get(self.ports[service])
        return body if status == 200 else f"HTTP {status}: {body}"

    def versions(self) -> dict[str, str]:
        return {name: self.version(name) for name in SERVICES}

    def record(self, version: str) -> dict[str, object]:
        return dict(json.loads((self.state / "releases" / f"{version}.json").read_text()))

    def audit(self) -> list[dict[str, object]]:
        lines = (self.state / "audit.log").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def containers(self, *, running_only: bool = False) -> list[str]:
        args = ["ps", "--format", "{{.Names}}", f"--filter=label=dev.shipyard.root={self.work}"]
        if not running_only:
            args.append("--all")
        return sorted(docker(*args).split())

    def remote_tag(self, tag: str) -> tuple[str, str, str]:
        """(object type, tag object, commit it points at) of TAG on the bare remote."""
        remote = self.repo.remote
        obj = self.repo.git("ls-remote", "origin", f"refs/tags/{tag}").split()[0]
        kind = subprocess.run(("git", "cat-file", "-t", obj), cwd=remote, check=True,
                              capture_output=True, text=True).stdout.strip()
        commit = subprocess.run(("git", "rev-parse", f"{obj}^{{commit}}"), cwd=remote,
                                check=True, capture_output=True, text=True).stdout.strip()
        return kind, obj, commit

    def snapshot(self) -> dict[str, object]:
        """Everything a run could change (state_snapshot.snapshot); the command log by its
        presence only, as runs that are refused still log the read-only queries they made."""
        return snapshot(self.work, self.repo.remote, self.registry.port, command_log=False)


def write_secrets(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("# test secrets\n" + "".join(f"{k}={v}\n" for k, v in values.items()))


@contextmanager
def release_app(repo: AppRepo, registry: LocalRegistryProcess) -> Iterator[ReleaseApp]:
    """`images_app` made releasable; everything it starts is stopped and removed after."""
    app = ReleaseApp(repo, registry, {name: free_port() for name in SERVICES},
                     canary=f"canary-{uuid.uuid4().hex}", password=f"pw-{uuid.uuid4().hex}")
    for name in SERVICES:
        (repo.work / name / "Dockerfile").write_text(DOCKERFILE)
    app.write_config()
    app.commit("releasable: secrets, health checks, a cloud environment")
    write_secrets(app.secrets_file, {"CANARY_TOKEN": app.canary,
                                     "ALPHA_DB_PASSWORD": app.password})
    try:
        yield app
    finally:
        clean_up(app)


def clean_up(app: ReleaseApp) -> None:
    invoke(app.work, "local-down", timeout=120)
    left = app.containers()
    if left:
        docker("rm", "--force", *left, check=False)
    refs = docker("images", "--format", "{{.ID}}", "--filter",
                  f"reference=127.0.0.1:{app.registry.port}/demo/*", check=False).split()
    if refs:
        docker("rmi", "--force", *sorted(set(refs)), check=False)


# ------------------------------------------------------------------------ processes --

def kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the process and everything it started (its own session/process group)."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@dataclass
class Lines:
    """A background reader of a Popen's stream, so the test can wait for a line."""

    stream: object
    lines: list[str] = field(default_factory=list)
    seen: threading.Condition = field(default_factory=threading.Condition)
    closed: bool = False

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.stream:  # type: ignore[attr-defined]
            with self.seen:
                self.lines.append(line)
                self.seen.notify_all()
        with self.seen:
            self.closed = True
            self.seen.notify_all()

    def wait_for(self, needle: str, timeout: float = 120) -> str | None:
        deadline = time.monotonic() + timeout
        with self.seen:
            while True:
                for line in self.lines:
                    if needle in line:
                        return line
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    return None
                self.seen.wait(left)

    @property
    def text(self) -> str:
        with self.seen:
            return "".join(self.lines)


# --------------------------------------------------------------------------- load --

class Load:
    """Bounded GET /version loops through the proxy ports (127.0.0.1 only), one thread per
    port; each stops by itself after `cap` requests or `seconds`, whichever comes first."""

    def __init__(self, ports: list[int], cap: int = 3000, seconds: float = 90,
                 pause: float = 0.01) -> None:
        self.answers: dict[int, list[str]] = {port: [] for port in ports}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(p, cap, seconds, pause),
                                         daemon=True) for p in ports]

    def _loop(self, port: int, cap: int, seconds: float, pause: float) -> None:
        deadline = time.monotonic() + seconds
        for _ in range(cap):
            if self.stop.is_set() or time.monotonic() > deadline:
                return
            try:
                status, body = http_get(port)
                self.answers[port].append(body if status == 200 else f"FAILED: {status} {body}")
            except OSError as exc:
                self.answers[port].append(f"FAILED: {exc}")
            time.sleep(pause)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        time.sleep(0.3)  # some answers before the change
        return self

    def __exit__(self, *exc: object) -> None:
        counts = {port: len(a) for port, a in self.answers.items()}
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(
                len(a) < counts[p] + 5 for p, a in self.answers.items()):
            time.sleep(0.02)  # some answers after the change
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def everything(self) -> list[str]:
        return [a for answers in self.answers.values() for a in answers]

    def failures(self) -> list[str]:
        return [a for a in self.everything() if a.startswith("FAILED")]

    def last(self) -> list[str]:
        return [answers[-1] if answers else "" for answers in self.answers.values()]


# ------------------------------------------------------------------------- output --

def table(text: str, title: str) -> dict[str, list[str]]:
    """The rows of the summary table titled TITLE (its first cell → the other cells)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 1:]:
        if line.startswith("└"):
            break
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if cells and not line.startswith(("┏", "┃", "┡")):
            rows[cells[0]] = cells[1:]
    return rows


def commands(text: str, tool: str) -> list[str]:
    """The state-changing command lines shipyard echoed (`→ ...`) whose program is TOOL."""
    found = []
    for line in text.splitlines():
        if line.startswith(("→ ", "[dry-run] ")):
            argv = line.split(" ", 1)[1].split()
            if argv and Path(argv[0]).name == tool:
                found.append(" ".join(argv))
    return found
