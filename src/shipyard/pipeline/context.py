"""The run context: the one object every stage and pipeline function takes.

A task validates its flags, builds one RunContext and calls one function. Whatever is costly or
target-specific (the target, the secret source, the docker client, the registry client) is made
on first use and then shared, so each is probed or built once per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from shipyard.config import Config, Environment, Service
from shipyard.errors import UsageError
from shipyard.exec.runner import Runner
from shipyard.state.records import ReleaseRecord
from shipyard.version import Version

if TYPE_CHECKING:
    from shipyard.exec.tools import DockerClient
    from shipyard.registries.client import Registry
    from shipyard.secrets import SecretSource
    from shipyard.targets.base import Target


@dataclass
class RunContext:
    config: Config
    env: Environment
    runner: Runner
    version: Version | None = None
    services: tuple[Service, ...] = field(default=())
    jobs: int | None = None  # None: the stage's default

    def __post_init__(self) -> None:
        if not self.services:
            self.services = self.config.services

    @property
    def dry_run(self) -> bool:
        return self.runner.dry_run

    @property
    def release(self) -> Version:
        if self.version is None:
            raise UsageError("--version is required", hint="e.g. --version v1.1.0")
        return self.version

    @cached_property
    def record(self) -> ReleaseRecord:
        """This run's release record (read from disk when it exists; a dry run never writes)."""
        return self.record_of(self.release)

    def record_of(self, version: Version) -> ReleaseRecord:
        return ReleaseRecord.open(self.config.root, version, self.env.name, self.dry_run)

    @cached_property
    def target(self) -> Target:
        from shipyard.targets import make_target

        return make_target(self)

    @cached_property
    def secrets(self) -> SecretSource:
        from shipyard.secrets import secret_source

        return secret_source(self)

    @cached_property
    def registry(self) -> Registry:
        from shipyard.targets import registry_for

        return registry_for(self)

    @cached_property
    def docker(self) -> DockerClient:
        """Probed once per run, whichever stages need it."""
        from shipyard.exec.tools import docker_client

        return docker_client(self.runner)
