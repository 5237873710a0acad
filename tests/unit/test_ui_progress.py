"""Per-service progress: live rows on a terminal, plain lines off one, and rich's live display
loaded only when there is a terminal to draw on."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from rich.console import Console

from shipyard import ui
from shipyard.ui import console


def test_off_a_terminal_the_task_modules_do_not_load_the_live_display() -> None:
    code = ("import sys, shipyard.tasks, shipyard.stages.build, shipyard.stages.push; "
            "print('rich.progress' in sys.modules)")
    done = subprocess.run((sys.executable, "-c", code), capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.stdout.strip() == "False"


def test_off_a_terminal_each_status_is_a_plain_line(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=sink, force_terminal=False, width=200))
    with ui.progress("build", ["api", "web"]) as tracker:
        tracker.say("api", "building (BuildKit)")
        tracker.update("api", "#5 RUN make")  # a build's own output: live rows only
        tracker.done("api", "built in 1.0s")
    assert sink.getvalue().splitlines() == ["[build] api: building (BuildKit)",
                                            "[build] api: built in 1.0s"]


def test_on_a_terminal_each_service_has_a_live_row(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=sink, force_terminal=True, width=120,
                                                color_system=None))
    with ui.progress("push", ["api", "web"]) as tracker:
        tracker.update("api", "pushing layer 1/2")
        tracker.done("api", "pushed in 0.5s")
        tracker.done("web", "already in the registry")
    text = sink.getvalue()
    assert "pushed in 0.5s" in text and "already in the registry" in text
    assert "[push]" not in text  # rows, not plain lines
