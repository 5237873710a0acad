"""An app's shipyard.toml for the local environment, and its secrets file."""

from __future__ import annotations

from pathlib import Path


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
