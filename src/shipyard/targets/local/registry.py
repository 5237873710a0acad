"""The local environment's registry: the CNCF distribution registry (Debian `docker-registry`)
on 127.0.0.1, its data under `.shipyard/local/registry/`."""

from __future__ import annotations

import time
from pathlib import Path

from shipyard.errors import ShipyardError
from shipyard.exec.runner import Runner
from shipyard.registries.client import Registry
from shipyard.state.workspace import state_dir, state_path
from shipyard.ui import console

REGISTRY_BINARY = "docker-registry"
START_TIMEOUT = 20.0

CONFIG_TEMPLATE = """\
# written by shipyard (invoke local-up)
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


class LocalRegistry:
    """The registry daemon: started on demand, never in a dry run (which plans against what
    answers, or against an empty registry when none does)."""

    def __init__(self, root: Path, port: int, api: Registry, runner: Runner) -> None:
        self.port = port
        self.runner = runner
        self.root = root
        self.home = state_path(root) / "local" / "registry"
        self.api = api

    @property
    def pid_file(self) -> Path:
        return self.home / "registry.pid"

    def up(self) -> bool:
        """Start the registry unless it already answers. True when it was started now."""
        if self.api.ping():
            return False
        config_file = self.home / "config.yml"
        if self.runner.dry_run:  # a dry run starts nothing and writes nothing
            self.runner.spawn((REGISTRY_BINARY, "serve", str(config_file)),
                              log=self.home / "registry.log")
            return True
        state_dir(self.root)
        self.home.mkdir(parents=True, exist_ok=True)
        config_file.write_text(CONFIG_TEMPLATE.format(data=self.home / "data", port=self.port))
        pid = self.runner.spawn((REGISTRY_BINARY, "serve", str(config_file)),
                                log=self.home / "registry.log")
        if pid is None:
            return True
        self.pid_file.write_text(f"{pid}\n")
        deadline = time.monotonic() + START_TIMEOUT
        while not self.api.ping():
            if time.monotonic() > deadline:
                raise ShipyardError(
                    f"the local registry did not answer on 127.0.0.1:{self.port} within "
                    f"{START_TIMEOUT:g}s",
                    hint=f"see {self.home / 'registry.log'}; is the port taken?",
                )
            time.sleep(0.1)
        console.note(f"local registry: started on 127.0.0.1:{self.port} (pid {pid})")
        return True

    def down(self) -> bool:
        if not self.pid_file.exists():
            return False
        pid = self.pid_file.read_text().strip()
        if not pid.isdigit():
            raise ShipyardError(f"{self.pid_file} is not a pid", hint="delete it and rerun")
        result = self.runner.run(("kill", "-TERM", pid), check=False)
        if not self.runner.dry_run:
            self.pid_file.unlink(missing_ok=True)
        return result.ok
