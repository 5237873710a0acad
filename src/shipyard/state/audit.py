"""`.shipyard/audit.log` (one JSON line per action) and the per-environment deploy history."""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.state.records import now, read_json, write_json
from shipyard.state.workspace import state_dir, state_path


def who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def audit(root: Path, *, action: str, version: str, env: str, result: str,
          **detail: Any) -> None:
    """Append one line: who, host, when, action, version, env, result. Never a secret."""
    entry = {"who": who(), "host": socket.gethostname(), "when": now(), "action": action,
             "version": version, "env": env, "result": result, **detail}
    with (state_dir(root) / "audit.log").open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry, sort_keys=True) + "\n")


def history_path(root: Path, env: str) -> Path:
    return state_path(root) / "history" / f"{env}.json"  # readers create nothing


def history(root: Path, env: str) -> list[dict[str, Any]]:
    """Every deploy to ENV, oldest first: version, action, when, verified."""
    path = history_path(root, env)
    if not path.exists():
        return []
    entries = read_json(path).get("deploys", [])
    return [e for e in entries if isinstance(e, dict) and "version" in e]


def record_deploy(root: Path, env: str, version: str, action: str, verified: bool,
                  replaced: str | None = None, flags: Mapping[str, str] | None = None) -> None:
    """`replaced`: the version that served before; a rollback marks it as not good.
    `flags`: the feature flags' states it serves with (none configured: left out)."""
    entries = history(root, env)
    state_dir(root)
    entry: dict[str, Any] = {"version": version, "action": action, "when": now(),
                             "verified": verified, "replaced": replaced}
    if flags:
        entry["flags"] = dict(flags)
    entries.append(entry)
    write_json(history_path(root, env), {"env": env, "deploys": entries})


def serving(root: Path, env: str) -> str | None:
    """The version the last verified deploy put in service."""
    good = [e for e in history(root, env) if e.get("verified")]
    return str(good[-1]["version"]) if good else None


def previous_good(root: Path, env: str) -> str | None:
    """The last version that verified good before the one serving now. A version that was
    rolled back away from does not count, until it is released again."""
    entries = history(root, env)
    rolled_away: set[str] = set()
    for entry in entries:
        if entry.get("action") == "rollback" and entry.get("replaced"):
            rolled_away.add(str(entry["replaced"]))
        elif entry.get("verified"):
            rolled_away.discard(str(entry["version"]))
    current = serving(root, env)
    for entry in reversed(entries):
        version = str(entry["version"])
        if entry.get("verified") and version != current and version not in rolled_away:
            return version
    return None
