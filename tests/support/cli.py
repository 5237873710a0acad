"""`invoke` run as a user runs it, with this interpreter's shipyard."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.git import GIT_IDENTITY


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def line(self, prefix: str) -> str:
        """The one stderr line that starts with PREFIX ("error: ", "hint: "), without it."""
        found = [line for line in self.err.splitlines() if line.startswith(prefix)]
        assert len(found) == 1, f"{len(found)} lines start with {prefix!r}:\n{self.text}"
        return found[0][len(prefix):]


def invoke(cwd: Path, *args: str, env: dict[str, str] | None = None,
           timeout: float | None = 300, stdin: str | None = None) -> Ran:
    """Run `invoke ARGS` as a user would, in `cwd`, with this interpreter's shipyard;
    `stdin`: text piped in (else stdin is whatever the test runner's is)."""
    full_env = {**os.environ, **GIT_IDENTITY, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    done = subprocess.run((sys.executable, "-m", "invoke", *args), cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout, input=stdin)
    return Ran(done.returncode, done.stdout, done.stderr)
