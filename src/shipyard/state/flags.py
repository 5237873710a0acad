"""`.shipyard/flags/ENV.json`: the state of each feature flag that serves in ENV now.

Part of the deployed state: a later release or rollback deploys with it. Written atomically
(write, then rename), and in two steps around a change: `pending` first, then the new `flags`
once the change verified. A kill -9 in between leaves a file that says a change was under way,
and `status` says so, instead of a state that never served.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.config.flags import Flag
from shipyard.state.records import now, read_json, write_json
from shipyard.state.workspace import state_dir, state_path


@dataclass(frozen=True)
class FlagState:
    flags: dict[str, str] = field(default_factory=dict)  # name → "on"/"off", as last verified
    pending: dict[str, str] | None = None  # a change that started and did not finish


def flags_path(root: Path, env: str) -> Path:
    return state_path(root) / "flags" / f"{env}.json"  # readers create nothing


def read_state(root: Path, env: str) -> FlagState:
    path = flags_path(root, env)
    if not path.exists():
        return FlagState()
    data = read_json(path)
    flags = {str(k): str(v) for k, v in (data.get("flags") or {}).items()}
    pending = data.get("pending")
    return FlagState(flags, {str(k): str(v) for k, v in pending.items()}
                     if isinstance(pending, dict) else None)


def effective(flags: Mapping[str, Flag], stored: Mapping[str, str]) -> dict[str, str]:
    """Every configured flag's state: the stored one, else its default. A stored flag that
    is no longer configured is dropped."""
    return {name: stored[name] if stored.get(name) in ("on", "off") else flag.default
            for name, flag in flags.items()}


def env_overrides(flags: Mapping[str, Flag], states: Mapping[str, str]
                  ) -> dict[str, dict[str, str]]:
    """service → {ENV_VAR: value} that the flags' states set."""
    found: dict[str, dict[str, str]] = {}
    for name, state in states.items():
        flag = flags[name]
        found.setdefault(flag.service, {})[flag.env] = flag.value(state)
    return found


def begin(root: Path, env: str, current: Mapping[str, str], wanted: Mapping[str, str]) -> None:
    _write(root, env, {"flags": dict(current), "pending": dict(wanted)})


def commit(root: Path, env: str, flags: Mapping[str, str]) -> None:
    _write(root, env, {"flags": dict(flags)})


def abandon(root: Path, env: str) -> None:
    """A change that failed before any traffic moved: the previous state stands."""
    commit(root, env, read_state(root, env).flags)


def _write(root: Path, env: str, data: dict[str, object]) -> None:
    state_dir(root)
    write_json(flags_path(root, env), {"env": env, "updated": now(), **data})
