"""The bench's own registry, and who sent each request to it."""

from __future__ import annotations

import re

from tests.support.registry import LocalRegistryProcess

from .basics import BenchError

ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d+) '
                         r'\S+ "[^"]*" "(?P<agent>[^"]*)"')


class BenchRegistry(LocalRegistryProcess):
    """The tests' registry process (a free loopback port, storage in a temp dir).

    Its access log (one line per request, with the User-Agent) tells shipyard's own API calls
    (Python-urllib) apart from the docker engine's.
    """

    def start(self) -> None:
        try:
            super().start()
        except RuntimeError as exc:
            raise BenchError(str(exc)) from None

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
