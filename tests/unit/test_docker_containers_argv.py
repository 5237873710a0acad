"""docker container argv builders: exact command lines."""

from __future__ import annotations

from shipyard.commands import docker_containers as dc

DOCKER = "/usr/bin/docker"
IMAGE = "127.0.0.1:5000/demo/alpha@sha256:" + "ab" * 32


def test_run_publishes_on_loopback_only_with_labels_and_env_names() -> None:
    argv = dc.run(DOCKER, name="shipyard-demo-local-alpha-v1.0.0-abab", image=IMAGE,
                  container_port=8080, labels={"dev.shipyard.service": "alpha",
                                               "dev.shipyard.env": "local"},
                  env_names=["RUNWAYML_API_KEY", "DATABASE_URL"])
    assert argv == (
        DOCKER, "run", "--detach", "--init", "--name", "shipyard-demo-local-alpha-v1.0.0-abab",
        "--restart", "no", "--publish", "127.0.0.1::8080",
        "--label", "dev.shipyard.env=local", "--label", "dev.shipyard.service=alpha",
        "--env", "DATABASE_URL", "--env", "RUNWAYML_API_KEY", IMAGE)


def test_run_without_env_and_never_an_env_value_on_argv() -> None:
    argv = dc.run(DOCKER, name="n", image=IMAGE, container_port=3000, labels={})
    assert argv == (DOCKER, "run", "--detach", "--init", "--name", "n", "--restart", "no",
                    "--publish", "127.0.0.1::3000", IMAGE)
    assert not {"-e", "--env"} & set(argv)


def test_label_values_stay_one_argument() -> None:
    argv = dc.run(DOCKER, name="n", image=IMAGE, container_port=80,
                  labels={"dev.shipyard.root": "/home/a b/app; rm -rf /"})
    assert "dev.shipyard.root=/home/a b/app; rm -rf /" in argv


def test_start_stop_remove() -> None:
    assert dc.start(DOCKER, ["a", "b"]) == (DOCKER, "start", "a", "b")
    assert dc.stop(DOCKER, ["a", "b"]) == (DOCKER, "stop", "--time", "10", "a", "b")
    assert dc.stop(DOCKER, ["a"], timeout=3) == (DOCKER, "stop", "--time", "3", "a")
    assert dc.remove(DOCKER, ["a"]) == (DOCKER, "rm", "a")
    assert dc.remove(DOCKER, ["a", "b"], force=True) == (DOCKER, "rm", "--force", "a", "b")


def test_pause_unpause() -> None:
    assert dc.pause(DOCKER, ["a", "b"]) == (DOCKER, "pause", "a", "b")
    assert dc.unpause(DOCKER, ["a"]) == (DOCKER, "unpause", "a")


def test_inspect_says_whether_a_container_is_paused() -> None:
    assert '"paused":{{json .State.Paused}}' in dc.INSPECT_FORMAT


def test_ps_filters_on_every_label_sorted() -> None:
    assert dc.ps(DOCKER, {"dev.shipyard.project": "demo", "dev.shipyard.env": "local"}) == (
        DOCKER, "ps", "--all", "--quiet", "--no-trunc",
        "--filter", "label=dev.shipyard.env=local",
        "--filter", "label=dev.shipyard.project=demo")


def test_port_logs_inspect() -> None:
    assert dc.port(DOCKER, "n", 8080) == (DOCKER, "port", "n", "8080/tcp")
    assert dc.logs(DOCKER, "n") == (DOCKER, "logs", "--tail", "40", "n")
    assert dc.logs(DOCKER, "n", tail=5) == (DOCKER, "logs", "--tail", "5", "n")
    assert dc.inspect(DOCKER, ["a", "b"], "{{.Id}}") == (
        DOCKER, "container", "inspect", "--format", "{{.Id}}", "a", "b")


def test_default_inspect_format_leaves_the_environment_out() -> None:
    argv = dc.inspect(DOCKER, ["a"])
    assert argv[:4] == (DOCKER, "container", "inspect", "--format")
    assert ".Config.Labels" in argv[4] and "Env" not in argv[4]
