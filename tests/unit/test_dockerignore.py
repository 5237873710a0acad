"""The .dockerignore rules loaded without the docker SDK's start-up: the SDK's own answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from docker.utils.build import exclude_paths as sdk_exclude_paths

from shipyard.build import dockerignore

PATTERNS = ["**/*.log", "!keep/*.log", "build", "src/*/tmp", "/node_modules", "*.md", "!README.md",
            "a?c", "**/.cache"]


def test_the_light_rules_answer_what_the_sdk_answers(tmp_path: Path) -> None:
    for rel in ("x.log", "keep/y.log", "keep/z.txt", "deep/er/q.log", "build/out.bin",
                "src/one/tmp/t", "src/one/keep", "node_modules/m/i.js", "NOTES.md", "README.md",
                "abc", "abbc", "sub/.cache/c", "Dockerfile", "app/main.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    light = dockerignore.exclude_paths()
    assert light.__module__.startswith(dockerignore.PRIVATE)  # not the plain import
    for dockerfile in ("Dockerfile", None):
        assert light(str(tmp_path), PATTERNS, dockerfile) == \
            sdk_exclude_paths(str(tmp_path), PATTERNS, dockerfile)


def test_loading_the_rules_does_not_load_the_sdk() -> None:
    code = ("import sys; from shipyard.build import dockerignore; dockerignore.exclude_paths(); "
            "print(sorted(m for m in ('docker', 'requests', 'urllib3') if m in sys.modules))")
    out = subprocess.run((sys.executable, "-c", code), capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
