"""An app's shipyard.toml for the local environment, its secrets file, and a copy of the sample."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any

from tests.support.git import publish
from tests.support.ports import free_port

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "meta-ad-studio"


def images_app_config(registry_port: int, services: dict[str, int], project: str = "demo") -> str:
    """Services built from `SERVICE/` (port 8080), the `local` environment on `registry_port`
    with each service's proxy port from `services`."""
    lines = [f'[project]\nname = "{project}"\n']
    for name in services:
        lines.append(f'[services.{name}]\ncontext = "{name}"\nport = 8080\n')
    lines.append('[scan]\nscanners = ["secret", "misconfig"]\n')
    ports = ", ".join(f"{name} = {port}" for name, port in services.items())
    lines.append(f'[environments.local]\ntarget = "local"\nregistry_port = {registry_port}\n'
                 f"proxy_ports = {{ {ports} }}\n")
    return "\n".join(lines)


def write_secrets(path: Path, values: dict[str, str]) -> None:
    """A dotenv secrets file, 0600 before anything is written to it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("# test secrets\n" + "".join(f"{k}={v}\n" for k, v in values.items()))


def sample_copy(app: Path, remote: Path, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    """A copy of examples/meta-ad-studio in `app` (without .shipyard/ and `leave_out`), its
    registry and proxies on free ports of their own (a demo of the sample may hold 5000, 8081 and
    8082 on this machine), committed on main and pushed to `remote`, a new bare repo.
    Returns the copy's shipyard.toml, parsed."""
    shutil.copytree(SAMPLE, app, ignore=shutil.ignore_patterns(".shipyard", *leave_out))
    config = app / "shipyard.toml"
    text = config.read_text()
    local = tomllib.loads(text)["environments"]["local"]
    text = text.replace(f"registry_port = {local['registry_port']}",
                        f"registry_port = {free_port()}")
    for service, port in local["proxy_ports"].items():
        text = text.replace(f"{service} = {port}", f"{service} = {free_port()}")
    config.write_text(text)
    publish(app, remote, "the sample app")
    return tomllib.loads(text)
