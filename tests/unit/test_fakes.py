"""The fakes themselves: a FakeRunner that lied would make every test above worthless."""

from __future__ import annotations

import pytest

from shipyard.errors import CommandError
from tests.unit.fakes import FakeRunner, Reply


def test_an_argv_no_rule_answers_fails_the_test_loudly() -> None:
    runner = FakeRunner()
    runner.on(("docker", "images"), Reply(stdout="sha256:1\n"))
    with pytest.raises(AssertionError, match=r"^FakeRunner: no rule for docker rmi -f x$"):
        runner.run(("docker", "rmi", "-f", "x"))
    assert runner.run(("/usr/bin/docker", "images", "-q"), mutates=False).stdout == "sha256:1\n"


def test_env_names_are_recorded_never_their_values() -> None:
    runner = FakeRunner()
    runner.on(("docker", "build"))
    runner.run(("docker", "build", "."), env={"DOCKER_BUILDKIT": "1", "API_TOKEN": "s3cr3t-v"})
    assert [(c.argv, c.env_keys) for c in runner.executed] == [
        (("docker", "build", "."), ("API_TOKEN", "DOCKER_BUILDKIT"))]
    assert "s3cr3t-v" not in repr(runner.executed)


def test_a_dry_run_is_the_runners_own_mutating_commands_are_planned_not_executed() -> None:
    runner = FakeRunner(dry_run=True)
    runner.on(("docker",), Reply(stdout="answered\n"))
    planned = runner.run(("docker", "push", "r/x:v1"))
    queried = runner.run(("docker", "image", "inspect", "r/x:v1"), mutates=False)
    assert planned.dry_run and runner.planned == [("docker", "push", "r/x:v1")]
    assert runner.argvs == [("docker", "image", "inspect", "r/x:v1")]
    assert queried.stdout == "answered\n"


def test_scripted_failures_go_through_the_runners_checks_and_retries() -> None:
    runner = FakeRunner()
    runner.fail(("docker", "push"), "connection refused\n")
    with pytest.raises(CommandError) as caught:
        runner.run(("docker", "push", "r/x:v1"), retries=2)
    assert caught.value.stderr_tail == "connection refused"
    assert runner.argvs == [("docker", "push", "r/x:v1")] * 3
    runner.drop(("docker", "push"))
    runner.on(("docker", "push"))
    assert runner.run(("docker", "push", "r/x:v1")).ok
