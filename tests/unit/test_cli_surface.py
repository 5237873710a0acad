"""What `invoke --list` and `invoke --help TASK` show: every task and flag explained."""

from __future__ import annotations

import pytest
from invoke.tasks import Task

from shipyard.tasks import ns

TASKS = sorted(ns.task_names)


def task(name: str) -> Task:  # type: ignore[type-arg]
    return ns[name]  # type: ignore[no-any-return]


def test_the_tasks_the_launch_plan_needs_are_there() -> None:
    assert {"tag", "build", "scan", "push", "deploy", "rollback", "cleanup-branch", "release",
            "status", "local-up", "local-down"} <= set(TASKS)
    assert all(name == name.lower() and "_" not in name for name in TASKS)  # kebab-case


@pytest.mark.parametrize("name", TASKS)
def test_every_flag_has_help_and_every_task_takes_dry_run(name: str) -> None:
    arguments = task(name).get_arguments()
    assert [a.name for a in arguments if not a.help] == []
    assert "dry_run" in [a.name for a in arguments]


@pytest.mark.parametrize("name", TASKS)
def test_the_list_line_is_one_whole_sentence(name: str) -> None:
    # `invoke --list` shows the docstring's first line only: a sentence cut in two reads badly.
    first = (task(name).__doc__ or "").strip().splitlines()[0]
    assert first.endswith(".") and len(first) <= 100, first
