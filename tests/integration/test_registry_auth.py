"""A registry that wants a token, as Artifact Registry does: the real docker-registry with
htpasswd auth (user oauth2accesstoken, password the access token). shipyard's registry client
answers its challenge, and docker pushes through shipyard's credential helper: the token never
reaches argv, a file, or the user's ~/.docker/config.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.errors import ShipyardError
from shipyard.registries.auth import TokenLogin
from shipyard.registries.client import Registry
from tests.conftest import free_port, require_docker_engine, require_module, require_tool

pytestmark = pytest.mark.integration

TOKEN = "ya29.test-access-token-0123456789"
BASE = "shipyard/busybox:1"


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[str]:
    bcrypt = require_module("bcrypt", "htpasswd entries for the token registry",
                            "pip install -e '.[dev]' (bcrypt)")
    binary = require_tool("docker-registry", "the registry that wants a token")
    port = free_port()
    hashed = bcrypt.hashpw(TOKEN.encode(), bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "htpasswd").write_text(f"oauth2accesstoken:{hashed}\n")
    (tmp_path / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {tmp_path / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
        f"auth:\n  htpasswd:\n    realm: shipyard-test\n    path: {tmp_path / 'htpasswd'}\n")
    proc = subprocess.Popen((binary, "serve", str(tmp_path / "config.yml")),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
        except urllib.error.HTTPError:
            break  # 401: it answers
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    try:
        yield f"127.0.0.1:{port}/demo"
    finally:
        proc.kill()
        proc.wait()


def test_the_client_answers_the_challenge_and_a_wrong_token_is_refused(
        token_registry: str) -> None:
    fetched: list[int] = []

    def fetch() -> str:
        fetched.append(1)
        return TOKEN

    registry = Registry(token_registry, TokenLogin(fetch))
    assert registry.ping()
    assert registry.digest("alpha", "v1.0.0") is None  # 404 after the login, not a 401
    assert registry.tags("alpha") == []
    assert fetched == [1]  # fetched once, on the first challenge
    wrong = Registry(token_registry, TokenLogin(lambda: "not-the-token-0123"), attempts=1)
    with pytest.raises(ShipyardError) as refused:
        wrong.digest("alpha", "v1.0.0")
    assert refused.value.message == (f"registry {token_registry.split('/')[0]} refused the "
                                     "credentials (401)")


def test_docker_pushes_through_the_helper_and_the_token_is_written_nowhere(
        token_registry: str, tmp_path: Path) -> None:
    require_docker_engine("pushing to the token registry")
    user_config = Path.home() / ".docker" / "config.json"
    before = user_config.read_bytes() if user_config.exists() else None
    ref = f"{token_registry}/alpha:v1.0.0"
    subprocess.run(("docker", "tag", BASE, ref), check=True, capture_output=True)
    try:
        anonymous = subprocess.run(("docker", "push", ref), capture_output=True, text=True,
                                   env={**os.environ, "DOCKER_CONFIG": str(tmp_path / "none")},
                                   timeout=120)
        assert anonymous.returncode != 0  # the registry really wants credentials
        login = TokenLogin(lambda: TOKEN)
        registry = Registry(token_registry, login)
        env = registry.docker_env()
        pushed = subprocess.run(("docker", "push", ref), capture_output=True, text=True,
                                env={**os.environ, **env}, timeout=120)
        assert pushed.returncode == 0, pushed.stderr
        assert registry.digest("alpha", "v1.0.0") is not None
        config = Path(env["DOCKER_CONFIG"]) / "config.json"
        assert json.loads(config.read_text()) == {
            "credHelpers": {token_registry.split("/")[0]: "shipyard"}}
        for path in Path(env["DOCKER_CONFIG"]).rglob("*"):
            if path.is_file():
                assert TOKEN not in path.read_text(errors="replace"), path
    finally:
        subprocess.run(("docker", "rmi", ref), capture_output=True, check=False)
    after = user_config.read_bytes() if user_config.exists() else None
    assert after == before  # the user's own docker config was not touched


def test_the_helper_speaks_dockers_protocol() -> None:
    helper = Path(sys.executable).parent / "docker-credential-shipyard"
    assert helper.exists(), "pip install -e . puts the helper next to python"
    got = subprocess.run((str(helper), "get"), input="127.0.0.1:5000", capture_output=True,
                         text=True, env={**os.environ, "SHIPYARD_REGISTRY_TOKEN": TOKEN})
    assert got.returncode == 0
    assert json.loads(got.stdout) == {"ServerURL": "127.0.0.1:5000",
                                      "Username": "oauth2accesstoken", "Secret": TOKEN}
    missing = subprocess.run((str(helper), "get"), input="h", capture_output=True, text=True,
                             env={k: v for k, v in os.environ.items()
                                  if k != "SHIPYARD_REGISTRY_TOKEN"})
    assert missing.returncode == 1
    stored = subprocess.run((str(helper), "store"), input='{"Secret": "x"}',
                            capture_output=True, text=True)
    assert stored.returncode == 0 and stored.stdout == ""
