"""An app a user would release with `invoke release / deploy / rollback / status`, for the
end-to-end tests in test_release_*.py (import it explicitly; these are not auto-fixtures).

Two busybox services (alpha, beta) behind the local proxy, each needing secrets from a 0600
`.shipyard/secrets/local.env`; a `cloud` environment on the cloudrun target; and knobs a test
commits before a release (`write_config(alpha={...}, beta={...})`, build args of the image):

- BREAK_HEALTH=yes: /healthz is gone (and the start-up log line says so);
- STALE_VERSION=yes: the version path (a CGI script, /cgi-bin/version) answers the version on
  its first request only, then `v0.0.0-stale`: healthy and right on its own port when shipyard
  checks it, wrong through the proxy after the switch;
- BAKED_VERSION=vX: the image answers vX whatever it is released as;
- CRASH=yes: the container logs one line and exits 3 at once;
- START_DELAY=N: the server starts N seconds after the container;
- BLOB_MB=N: an N MiB layer of random bytes (a push that takes a while).

Every image also serves /cgi-bin/slow?SECONDS: the version, after SECONDS.
Every request goes to 127.0.0.1. Cleanup: `invoke local-down`, then any container labelled with
this checkout's root is removed, and the images of the test registry are deleted.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import signal
import socket
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
from tests.support.apps import write_secrets
from tests.support.images import remove_images

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
version_path = "/cgi-bin/version"
build_args = {alpha_args}

[services.alpha.env]
GREETING = "hello"

[services.beta]
context = "beta"
port = 8080
secrets = ["CANARY_TOKEN"]
build_args = {beta_args}

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

[environments.cloud.secrets]
CANARY_TOKEN = "canary-token"
ALPHA_DB_PASSWORD = "alpha-db-password"
"""

# The service prints a start-up line with its version and (as careless apps do) a secret,
# which shipyard must mask wherever it shows the log. The knobs are described above.
DOCKERFILE = """\
FROM shipyard/busybox:1
ARG VERSION=dev
ARG BREAK_HEALTH=no
ARG STALE_VERSION=no
ARG BAKED_VERSION=
ARG CRASH=no
ARG START_DELAY=0
ARG BLOB_MB=0
COPY cgi-bin /www/cgi-bin
RUN chmod 755 /www/cgi-bin/* && echo "${BAKED_VERSION:-$VERSION}" > /www/version && \\
    echo "$START_DELAY" > /start-delay && \\
    if [ "$BREAK_HEALTH" != yes ]; then echo ok > /www/healthz; fi && \\
    if [ "$STALE_VERSION" = yes ]; then touch /stale; fi && \\
    if [ "$CRASH" = yes ]; then touch /crash; fi && \\
    if [ "$BLOB_MB" != 0 ]; then dd if=/dev/urandom of=/blob bs=1048576 count="$BLOB_MB" \\
    2>/dev/null; fi
COPY content.txt /www/content.txt
USER 65534
CMD ["sh", "-c", "if [ -e /crash ]; then echo \\"$(cat /www/version) cannot reach its database \\
(token=$CANARY_TOKEN), exiting\\" >&2; exit 3; fi; sleep \\"$(cat /start-delay)\\"; \\
echo \\"$(cat /www/version) starting, healthz: \\
$(cat /www/healthz 2>/dev/null || echo MISSING), token=$CANARY_TOKEN\\" >&2; \\
exec httpd -f -p 8080 -h /www"]
"""

# busybox httpd CGI scripts (they run as nobody; /tmp is theirs to count in).
CGI_VERSION = """\
#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
if [ -e /stale ]; then
  n=$(cat /tmp/version-count 2>/dev/null || echo 0)
  echo $((n + 1)) > /tmp/version-count
  if [ "$n" -ge 1 ]; then echo v0.0.0-stale; exit 0; fi
fi
cat /www/version
"""
CGI_SLOW = """\
#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
sleep "${QUERY_STRING:-1}"
cat /www/version
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

    def invoke(self, *args: str, timeout: float = 300, env: dict[str, str] | None = None
               ) -> Ran:
        return invoke(self.work, *args, timeout=timeout, env=env)

    def ok(self, *args: str, env: dict[str, str] | None = None) -> Ran:
        ran = self.invoke(*args, env=env)
        assert ran.code == 0, f"invoke {' '.join(args)} exited {ran.code}:\n{ran.text}"
        assert "Traceback" not in ran.text, ran.text
        return ran

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """`invoke ARGS` in its own process group (kill it with kill_tree)."""
        env = {**os.environ, **GIT_IDENTITY, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
        return subprocess.Popen((sys.executable, "-m", "invoke", *args), cwd=self.work, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)

    # ------------------------------------------------------------ changing the app --

    def write_config(self, *, alpha: dict[str, str] | None = None,
                     beta: dict[str, str] | None = None) -> None:
        """shipyard.toml with these knobs (build args, see the module docstring) per service."""
        def args(knobs: dict[str, str] | None) -> str:
            return "{ " + ", ".join(f'{k} = "{v}"' for k, v in (knobs or {}).items()) + " }"

        (self.work / "shipyard.toml").write_text(CONFIG.format(
            registry=self.registry.port, health_timeout=HEALTH_TIMEOUT, alpha_args=args(alpha),
            beta_args=args(beta), **self.ports))

    def knobs(self, message: str, **services: dict[str, str]) -> str:
        """Commit a config with these knobs: the next release's images have them."""
        self.write_config(**services)
        return self.commit(message)

    def change(self, message: str) -> str:
        """A real change to both services, committed and pushed: the next release differs."""
        for name in SERVICES:
            path = self.work / name / "content.txt"
            path.write_text(path.read_text() + f"{message}\n")
        return self.commit(message)

    def break_health(self) -> str:
        return self.knobs("alpha: lose /healthz", alpha={"BREAK_HEALTH": "yes"})

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

    def history(self) -> list[dict[str, object]]:
        """.shipyard/history/local.json's deploys, oldest first."""
        path = self.state / "history" / "local.json"
        return list(json.loads(path.read_text())["deploys"]) if path.exists() else []

    def audit(self) -> list[dict[str, object]]:
        lines = (self.state / "audit.log").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def containers(self, *, running_only: bool = False, paused_only: bool = False
                   ) -> list[str]:
        """Names of this checkout's containers: all, or those running (not paused), or the
        paused ones (docker's own `ps` lists a paused container as up)."""
        args = ["ps", "--format", "{{.Names}}", f"--filter=label=dev.shipyard.root={self.work}"]
        if running_only or paused_only:
            args.append(f"--filter=status={'running' if running_only else 'paused'}")
        else:
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


def write_service(folder: Path) -> None:
    """DOCKERFILE and its CGI scripts in a service's build context."""
    (folder / "Dockerfile").write_text(DOCKERFILE)
    cgi = folder / "cgi-bin"
    cgi.mkdir(exist_ok=True)
    for script, text in (("version", CGI_VERSION), ("slow", CGI_SLOW)):
        (cgi / script).write_text(text)
        (cgi / script).chmod(0o755)


@contextmanager
def release_app(repo: AppRepo, registry: LocalRegistryProcess) -> Iterator[ReleaseApp]:
    """`images_app` made releasable; everything it starts is stopped and removed after."""
    app = ReleaseApp(repo, registry, {name: free_port() for name in SERVICES},
                     canary=f"canary-{uuid.uuid4().hex}", password=f"pw-{uuid.uuid4().hex}")
    for name in SERVICES:
        write_service(repo.work / name)
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
    remove_images(f"reference=127.0.0.1:{app.registry.port}/demo/*")


# ------------------------------------------------------------------------ processes --

def descendants(pid: int) -> set[int]:
    """Every live descendant of PID, by the parent-pid chain in /proc: also those in a session
    or process group of their own (the runner starts each command that way)."""
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat[stat.rfind(")") + 2:].split()[:2]
        if state != "Z":
            kids.setdefault(int(ppid), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for kid in kids.get(todo.pop(), []):
            if kid not in found:
                found.add(kid)
                todo.append(kid)
    return found


def cmdline(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}") / "cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace").strip()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"


def kill_tree(proc: subprocess.Popen[str]) -> list[str]:
    """SIGKILL the process and everything it started, as a crash or `kill -9` of the whole
    tree would: first every process of the tree is frozen (SIGSTOP, again until no new one
    appears, so none escapes by forking meanwhile), then all are killed at once, then this
    waits (bounded) until none of them lives. Returns their command lines."""
    frozen: set[int] = set()
    for _ in range(50):
        tree = ({proc.pid} | descendants(proc.pid) | set().union(
            *(descendants(p) for p in frozen))) - frozen
        if not tree:
            break
        for pid in tree:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        frozen |= tree
    killed = [cmdline(pid) for pid in sorted(frozen)]
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in frozen:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in frozen):
        time.sleep(0.05)
    left = [cmdline(pid) for pid in frozen if alive(pid)]
    assert left == [], f"still alive after SIGKILL: {left}"
    return killed


def kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the process and its whole tree (see kill_tree)."""
    if proc.poll() is None:
        kill_tree(proc)


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

@dataclass(frozen=True)
class Answer:
    """One request of a Load: which port and client, when it was sent and when it ended
    (time.monotonic()), and the body (the version), or `FAILED: ...`."""

    port: int
    client: str  # fresh | keepalive | slow
    start: float
    end: float
    body: str

    @property
    def failed(self) -> bool:
        return self.body.startswith("FAILED")


# A request on a reused connection that the server closed as it was sent: no byte came back.
STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
VERSION_ANSWER = re.compile(r"v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?")


def closed_by_server(conn: http.client.HTTPConnection) -> bool:
    """True when the server has closed this idle connection (urllib3's check before reuse)."""
    if conn.sock is None:
        return True
    readable, _, _ = select.select([conn.sock], [], [], 0)
    if not readable:
        return False
    try:
        return conn.sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class Load:
    """Bounded GET loops through the proxy ports (127.0.0.1 only), several threads per port:

    - `fresh` threads open a new connection for every request;
    - `keepalive` threads reuse one HTTP/1.1 connection. Like a pooled client (urllib3,
      a browser) they reconnect when the server said `Connection: close`, or closed the idle
      connection since the last answer (as an old nginx worker does with its idle keep-alive
      connections at a reload; counted in `closed_idle`). When the worker closes it in the
      instant the next request is sent, that request gets no answer at all (`STALE_CONNECTION`
      errors): with `retry_stale` it is sent once more on a new connection, as RFC 9112
      section 9.3.1 allows for an idempotent request and browsers do. Such an attempt is
      recorded as `STALE: ...` (see `stale()`), never dropped; without `retry_stale` it is a
      failure like any other. No other request is ever retried;
    - `slow` threads (when `slow_path` is given, e.g. /cgi-bin/slow?0.8) keep one long request
      in flight most of the time, so a switch always finds requests the old revision must
      finish.

    Every exception a request raises is an answer `FAILED: <type>: <text>` (not only HTTP and
    socket errors), and so is any status but 200, and a 200 whose body is not a version (a
    response cut short); the loop goes on after it. A thread that
    ends for any other reason is listed in `crashed`. Each loop stops by itself after `cap`
    requests or `seconds`, whichever comes first.
    """

    def __init__(self, ports: list[int], *, path: str = "/version", fresh: int = 2,
                 keepalive: int = 2, slow: int = 0, slow_path: str = "/cgi-bin/slow?1.5",
                 pause: float = 0.002, cap: int = 20000, seconds: float = 120,
                 warmup: int = 10, retry_stale: bool = True) -> None:
        self.retry_stale = retry_stale
        self.ports, self.path, self.slow_path = ports, path, slow_path
        self.pause, self.cap, self.seconds, self.warmup = pause, cap, seconds, warmup
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        self.crashed: list[str] = []
        self.closed_idle = 0
        self.stop = threading.Event()
        kinds = ["fresh"] * fresh + ["keepalive"] * keepalive + ["slow"] * slow
        self.threads = [threading.Thread(target=self._run, args=(port, kind), daemon=True,
                                         name=f"load-{kind}-{port}-{i}")
                        for port in ports for i, kind in enumerate(kinds)]

    def _run(self, port: int, kind: str) -> None:
        try:
            self._loop(port, kind)
        except BaseException as exc:  # noqa: BLE001 - a lost loop must show, whatever ended it
            with self._lock:
                self.crashed.append(f"{kind} loop on {port}: {type(exc).__name__}: {exc}")

    def _loop(self, port: int, kind: str) -> None:
        deadline = time.monotonic() + self.seconds
        path = self.slow_path if kind == "slow" else self.path
        timeout = 30.0 if kind == "slow" else 10.0
        conn: http.client.HTTPConnection | None = None
        for _ in range(self.cap):
            if self.stop.is_set() or time.monotonic() > deadline:
                break
            if conn is not None and closed_by_server(conn):
                with self._lock:
                    self.closed_idle += 1
                conn.close()
                conn = None
            reused = conn is not None
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            start = time.monotonic()
            try:
                body, keep = self._get(conn, path)
            except STALE_CONNECTION as exc:
                conn.close()
                conn = None
                if not (reused and self.retry_stale):
                    body, keep = f"FAILED: {type(exc).__name__}: {exc}", True
                else:  # the request never reached a worker that would answer it: resend once
                    with self._lock:
                        self._answers.append(Answer(port, kind, start, time.monotonic(),
                                                    f"STALE: {type(exc).__name__}: {exc}"))
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
                    start = time.monotonic()
                    try:
                        body, keep = self._get(conn, path)
                    except Exception as again:  # every exception is a failed request
                        body, keep = f"FAILED: {type(again).__name__}: {again}", False
            except Exception as exc:  # every exception is a failed request
                body, keep = f"FAILED: {type(exc).__name__}: {exc}", False
            with self._lock:
                self._answers.append(Answer(port, kind, start, time.monotonic(), body))
            if conn is not None and (not keep or kind != "keepalive"):
                conn.close()
                conn = None
            if kind != "slow":
                time.sleep(self.pause)
        if conn is not None:
            conn.close()

    @staticmethod
    def _get(conn: http.client.HTTPConnection, path: str) -> tuple[str, bool]:
        """(body or FAILED: ..., whether the connection may be reused)."""
        conn.request("GET", path)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace").strip()
        if response.status != 200:
            body = f"FAILED: HTTP {response.status} {text[:80]}"
        elif not VERSION_ANSWER.fullmatch(text):  # e.g. a response cut short
            body = f"FAILED: HTTP 200 with {text[:80]!r}, not a version"
        else:
            body = text
        return body, not response.will_close

    def _count(self, port: int) -> int:
        with self._lock:
            return sum(1 for a in self._answers if a.port == port and a.client != "slow")

    def _wait_for_more(self, than: dict[int, int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(
                self._count(p) < than[p] + self.warmup for p in self.ports):
            time.sleep(0.02)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        self._wait_for_more({p: 0 for p in self.ports}, 10)  # some answers before the change
        time.sleep(0.2)
        self.began = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ended = time.monotonic()
        time.sleep(0.2)
        self._wait_for_more({p: self._count(p) for p in self.ports}, 10)  # and after it
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=40)
        self.stuck = [t.name for t in self.threads if t.is_alive()]

    # ------------------------------------------------------------------ reading it --

    @property
    def answers(self) -> list[Answer]:
        with self._lock:
            return sorted(self._answers, key=lambda a: a.start)

    def everything(self) -> list[str]:
        """Every answer's body, STALE attempts left out (their retry is there)."""
        return [a.body for a in self.answers if not a.body.startswith("STALE")]

    def failures(self) -> list[str]:
        return [f"{a.client}@{a.port}: {a.body}" for a in self.answers if a.failed]

    def stale(self) -> list[Answer]:
        """Requests sent on a keep-alive connection the server closed in that instant."""
        return [a for a in self.answers if a.body.startswith("STALE")]

    def last(self) -> list[str]:
        """Per port, the answer of the request that ended last."""
        return [max((a for a in self.answers if a.port == port), key=lambda a: a.end).body
                for port in self.ports]

    def rate(self) -> float:
        """Requests per second while the `with` block ran."""
        inside = [a for a in self.answers if self.began <= a.end <= self.ended]
        return len(inside) / max(self.ended - self.began, 1e-9)

    def check_switch(self, old: str, new: str, reload_window: float = 0.3) -> None:
        """The switch from OLD to NEW under this load lost no request, and the loop really ran
        through it: on every port, OLD answers before it, NEW ones after it, requests during
        it; and both ports flipped at one instant (one reload), give or take `reload_window`
        s: the time an old nginx worker may go on answering after the new one has started,
        until it handles its shutdown signal (measured at 0.06-0.08 s under this load on 2
        cores). A request is answered by the nginx worker that accepted its connection, so on
        each port the flip lies after the start of the last OLD answer (less the window) and
        before the end of the first NEW one. Switching the services in two reloads instead
        puts the drain of the first between them, which the slow requests make long."""
        answers = [a for a in self.answers if not a.body.startswith("STALE")]
        assert self.crashed == [] and self.stuck == [], (self.crashed, self.stuck)
        keepalive = sum(1 for t in self.threads if "keepalive" in t.name)
        stale = self.stale()
        assert len(stale) <= keepalive, f"more stale keep-alive connections than one per " \
                                        f"connection and reload: {stale}"
        failed = self.failures()
        assert failed == [], f"{len(failed)} of {len(answers)} requests failed: {failed[:5]}"
        assert {a.body for a in answers} == {old, new}, {a.body for a in answers}
        lows, highs = [], []
        for port in self.ports:
            mine = [a for a in answers if a.port == port]
            before = [a.body for a in mine if a.end < self.began]
            after = [a.body for a in mine if a.start > self.ended]
            during = [a for a in mine if self.began <= a.start <= self.ended]
            assert before and set(before) == {old}, (port, set(before))
            assert after and set(after) == {new}, (port, set(after))
            assert {a.client for a in during} >= {"fresh", "keepalive"}, (port, len(during))
            quick = [a for a in mine if a.client != "slow"]  # a slow answer spans the switch
            lows.append(max((a for a in quick if a.body == old), key=lambda a: a.start))
            highs.append(min((a for a in quick if a.body == new), key=lambda a: a.end))
        last_old = max(lows, key=lambda a: a.start)
        first_new = min(highs, key=lambda a: a.end)
        gap = last_old.start - first_new.end
        assert gap <= reload_window, (
            f"the ports did not flip in the same reload: {first_new} ended {gap:.3f}s before "
            f"{last_old} started (switch at +{first_new.end - self.began:.3f}s)")

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
