"""What every task shares: turning ShipyardError into `error:`/`hint:` and an exit code,
reading --dry-run (or Invoke's own --dry), and building the one Runner."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from invoke.context import Context
from invoke.exceptions import Exit

from shipyard import config as config_mod
from shipyard.config import Config
from shipyard.errors import CommandError, ShipyardError, UsageError
from shipyard.exec.runner import Runner
from shipyard.state.workspace import state_dir
from shipyard.ui import console
from shipyard.version import Version

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext

F = TypeVar("F", bound=Callable[..., Any])
ENV_HELP = "environment from shipyard.toml (default: local, the embedded default)"
DRY_RUN_HELP = "print every state-changing command exactly as it would run; run none of them"
JOBS_HELP = "{what} at once, a whole number from 1 up (default: min(services, CPU cores))"


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
    """shipyard.toml of the app: the one `shipyard.app` names (Invoke config, e.g.
    INVOKE_SHIPYARD_APP=PATH), else the current directory's."""
    app = (c.config.get("shipyard") or {}).get("app")
    cwd = Path(c.cwd) if c.cwd else Path.cwd()
    if app == "":  # tasks.app_namespace(): a repo that is no app itself; one must be named
        raise UsageError("no app chosen: this checkout is not an app repo",
                         hint="name one: INVOKE_SHIPYARD_APP=examples/meta-ad-studio invoke "
                              "--list, or `shipyard: {app: PATH}` in invoke.yaml")
    return config_mod.load(cwd / app if app else cwd)


def make_runner(config: Config, dry_run: bool) -> Runner:
    log = None if dry_run else state_dir(config.root) / "logs" / "commands.log"
    return Runner(dry_run=dry_run, log_path=log, echo=console.step)


def require_version(text: str | None) -> Version:
    if text is None:
        raise UsageError("--version is required", hint="e.g. --version v1.1.0")
    return Version.parse(text)


def parse_jobs(text: str | None) -> int | None:
    """--jobs N: a whole number from 1 up; None (omitted) means the stage's default."""
    if text is None:
        return None
    value = str(text).strip()
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"--jobs must be a whole number from 1 up, not {text!r}",
                         hint="omit it for the default: min(services, CPU cores)")
    return int(value)


def run_context(c: Context, *, env: str = "local", version: str | None = None,
                services: list[str] | None = None, jobs: str | None = None,
                dry_run: bool = False, version_required: bool = True) -> RunContext:
    """Every flag checked, then the one context the called function gets."""
    from shipyard.pipeline.context import RunContext

    parsed = require_version(version) if version_required or version else None
    workers = parse_jobs(jobs)
    config = load_config(c)
    environment = config.environment(env)
    selected = config.select(services or [])
    return RunContext(config, environment, make_runner(config, is_dry_run(c, dry_run)),
                      parsed, selected, workers)
