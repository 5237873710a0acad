"""The image look-ups on the engine's socket answer what `docker image inspect` answers, and the
CLI answers when the socket does not."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.exec import engine, tools
from shipyard.exec.runner import Runner
from tests.conftest import BASE_IMAGE, require_docker_engine
from tests.support.images import remove_images

pytestmark = pytest.mark.integration
LABEL = "dev.shipyard.test.engine"


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A tiny image of our own (a unique label, two tags): (label value, its id)."""
    docker = require_docker_engine("the engine look-ups")
    value = uuid.uuid4().hex
    context = tmp_path_factory.mktemp("engine")
    (context / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nLABEL {LABEL}={value}\n")
    tags = [f"shipyard-test-engine-{value[:12]}:{t}" for t in ("one", "two")]
    subprocess.run((docker, "build", "--quiet", "--tag", tags[0], "--tag", tags[1],
                    str(context)), capture_output=True, text=True, timeout=300, check=True)
    image_id = subprocess.run((docker, "image", "inspect", "--format", "{{.Id}}", tags[0]),
                              capture_output=True, text=True, check=True).stdout.strip()
    yield value, image_id
    remove_images(f"label={LABEL}={value}")


def cli_inspect(*refs: str) -> list[dict[str, object]]:
    done = subprocess.run(("docker", "image", "inspect", *refs), capture_output=True, text=True,
                          check=False)
    return list(json.loads(done.stdout or "[]"))


def fields(d: dict[str, object]) -> tuple[object, ...]:
    config = d.get("Config") or {}
    assert isinstance(config, dict)
    return (d["Id"], sorted(d.get("RepoTags") or []), d.get("Size"), config.get("Labels"))


def test_the_client_uses_the_socket_only_when_it_answers() -> None:
    require_docker_engine("the engine look-ups", base_image=False)
    client = tools.docker_client(Runner())
    assert client.socket_path == tools.engine_socket()
    assert client.socket_path is not None, "this machine's client uses the default socket"


def test_inspect_on_the_socket_is_the_clis_answer(labelled: tuple[str, str]) -> None:
    value, image_id = labelled
    client = tools.docker_client(Runner())
    assert client.socket_path is not None
    runner = Runner()
    tag = f"shipyard-test-engine-{value[:12]}:one"
    missing = f"shipyard-test-engine-{value[:12]}:absent"
    got = engine.inspect(client, runner, [image_id, tag, missing])
    want = cli_inspect(image_id, tag, missing)
    assert [fields(d) for d in got] == [fields(d) for d in want]
    assert len(got) == 2  # the missing tag is left out, as the CLI leaves it out


def test_images_by_label_on_the_socket_match_the_cli(labelled: tuple[str, str]) -> None:
    value, image_id = labelled
    client = tools.docker_client(Runner())
    got = engine.with_label(client, Runner(), LABEL, value)
    assert [fields(d) for d in got] == [fields(d) for d in cli_inspect(image_id)]


def test_a_socket_that_does_not_answer_leaves_the_answer_to_the_cli(
        labelled: tuple[str, str], tmp_path: Path) -> None:
    value, image_id = labelled
    client = tools.docker_client(Runner())
    dead = tools.DockerClient(client.path, client.version, client.buildkit,
                              socket_path=str(tmp_path / "no.sock"))
    log = tmp_path / "commands.log"
    runner = Runner(log_path=log)
    assert [d["Id"] for d in engine.with_label(dead, runner, LABEL, value)] == [image_id]
    assert [d["Id"] for d in engine.inspect(dead, runner, [image_id])] == [image_id]
    ran = [json.loads(line)["argv"] for line in log.read_text().splitlines()]
    assert [a.split()[1] for a in ran] == ["images", "image", "image"]
