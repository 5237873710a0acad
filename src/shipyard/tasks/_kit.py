"""What every task shares: turning ShipyardError into `error:`/`hint:` and an exit code,
reading --dry-run (or Invoke's own --dry), and building the one Runner."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from invoke.context import Context
from invoke.exceptions import Exit

from shipyard import config as config_mod
from shipyard.config import Config, Environment, Service
from shipyard.errors import CommandError, ShipyardError, UsageError
from shipyard.exec.runner import Runner
from shipyard.state.records import ReleaseRecord
from shipyard.state.workspace import state_dir
from shipyard.ui import console
from shipyard.version import Version

F = TypeVar("F", bound=Callable[..., Any])
ENV_HELP = "environment from shipyard.toml (default: local, the embedded default)"
DRY_RUN_HELP = "print every state-changing command exactly as it would run; run none of them"


def expected_failures(body: F) -> F:
    """Expected failures print one `error:` line and a `hint:`, then exit 1 or 2."""

    @functools.wraps(body)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return body(*args, **kwargs)
        except ShipyardError as exc:
            detail = exc.stderr_tail if isinstance(exc, CommandError) else ""
            console.error(exc.message, exc.hint, detail)
            raise Exit(code=exc.exit_code) from None
        except KeyboardInterrupt:
            console.error("interrupted", "rerun the same command: every stage resumes")
            raise Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


def is_dry_run(c: Context, dry_run: bool) -> bool:
    return bool(dry_run or c.config.get("run", {}).get("dry", False))


def load_config(c: Context) -> Config:
    return config_mod.load(Path(c.cwd) if c.cwd else None)


def make_runner(config: Config, dry_run: bool) -> Runner:
    log = None if dry_run else state_dir(config.root) / "logs" / "commands.log"
    return Runner(dry_run=dry_run, log_path=log, echo=console.step)


def require_version(text: str | None) -> Version:
    if text is None:
        raise UsageError("--version is required", hint="e.g. --version v1.1.0")
    return Version.parse(text)


@dataclass(frozen=True)
class StageInputs:
    """What build, scan and push all start from, validated before anything runs."""

    config: Config
    env: Environment
    services: tuple[Service, ...]
    version: Version
    runner: Runner
    record: ReleaseRecord


def stage_inputs(c: Context, version: str | None, env: str, services: list[str] | None,
                 dry_run: bool, jobs: int = 1) -> StageInputs:
    parsed = require_version(version)
    if jobs < 0:
        raise UsageError("--jobs must be 1 or more", hint="omit it for the default")
    config = load_config(c)
    environment = config.environment(env)
    selected = config.select(services or [])
    runner = make_runner(config, is_dry_run(c, dry_run))
    record = ReleaseRecord.open(config.root, parsed, environment.name, runner.dry_run)
    return StageInputs(config, environment, selected, parsed, runner, record)
