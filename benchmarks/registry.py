"""The bench's own registry, and who sent each request to it."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

from .basics import BenchError, free_port

ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d+) '
                         r'\S+ "[^"]*" "(?P<agent>[^"]*)"')


class BenchRegistry:
    """`docker-registry serve` on a free loopback port, filesystem storage in a temp dir.

    Its access log (one line per request, with the User-Agent) tells shipyard's own API calls
    (Python-urllib) apart from the docker engine's.
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.log_path = home / "registry.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {self.home / 'data'}\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n"
        )
        with self.log_path.open("ab") as sink:
            self.proc = subprocess.Popen(("docker-registry", "serve", str(config)),
                                         stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v2/", timeout=1).close()
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise BenchError(f"the registry did not start on 127.0.0.1:{self.port}; "
                         f"see {self.log_path}")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def mark(self) -> int:
        return self.log_path.stat().st_size

    def hits_since(self, mark: int) -> list[tuple[str, str, str]]:
        """(agent, method, path) of every request logged after `mark`."""
        with self.log_path.open("rb") as stream:
            stream.seek(mark)
            text = stream.read().decode(errors="replace")
        hits = []
        for line in text.splitlines():
            found = ACCESS_LINE.search(line)
            if found:
                agent = "shipyard" if found["agent"].startswith("Python-urllib") else "docker"
                hits.append((agent, found["method"], found["path"]))
        return hits
