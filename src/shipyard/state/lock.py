"""One release, deploy or rollback at a time per environment: a lock file naming its holder.

A holder that died (same host, process gone) leaves a stale lock; it is refused like any other
until the user breaks it with --break-lock, so nobody steps on a deploy that is still alive.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from shipyard.errors import ShipyardError
from shipyard.state.workspace import state_dir, state_path
from shipyard.ui import console


class LockHeld(ShipyardError):
    """Another deploy holds the environment (or left its lock behind when it died)."""


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    action: str
    version: str
    since: str
    started: str  # the process's start tick, so a recycled pid is not taken for the holder

    def describe(self) -> str:
        return (f"pid {self.pid} on {self.host} ({self.action} {self.version}, "
                f"since {self.since})")


def _start_tick(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: starttime


def is_alive(holder: Holder) -> bool | None:
    """True/False on this host; None when the holder runs elsewhere (cannot tell)."""
    if holder.host != socket.gethostname():
        return None
    tick = _start_tick(holder.pid)
    return bool(tick) and (not holder.started or tick == holder.started)


def lock_path(root: Path, env: str) -> Path:
    return state_path(root) / "locks" / f"{env}.lock"  # a dry run only reads it


UNREADABLE = Holder(0, "?", "?", "?", "?", "")  # a lock file that names no holder


def read_holder(path: Path) -> Holder | None:
    try:
        return Holder(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        return UNREADABLE  # treated as a stale lock


@contextmanager
def env_lock(root: Path, env: str, action: str, version: str, *,
             break_lock: bool = False, dry_run: bool = False) -> Iterator[None]:
    if dry_run:  # a dry run changes nothing, so it needs no lock; it still reports a holder
        holder = read_holder(lock_path(root, env))
        if holder is not None:
            console.note(f"note: {env} is locked by {holder.describe()}")
        yield
        return
    state_dir(root)
    path = lock_path(root, env)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = Holder(os.getpid(), socket.gethostname(), action, version,
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), _start_tick(os.getpid()))
    _acquire(path, me, env, break_lock)
    try:
        yield
    finally:
        if read_holder(path) == me:
            path.unlink(missing_ok=True)


def _acquire(path: Path, me: Holder, env: str, break_lock: bool) -> None:
    # The record is written whole to a file of our own, then linked into place (which fails if
    # the lock exists): no other process ever sees a lock file that does not name its holder yet.
    # (O_EXCL, then a write, showed racers an empty file, which they took for a stale lock.)
    mine = path.with_name(f".{path.name}.{me.pid}")
    mine.write_text(json.dumps(asdict(me)))
    try:
        for _ in range(2):
            try:
                os.link(mine, path)
            except FileExistsError:
                holder = read_holder(path)
                if holder is None:
                    continue  # released between our two calls: try again
                _refuse_or_break(path, holder, env, break_lock)
                continue
            return
    finally:
        mine.unlink(missing_ok=True)
    raise ShipyardError(f"could not take the {env} lock ({path})", hint="rerun")


def _refuse_or_break(path: Path, holder: Holder, env: str, break_lock: bool) -> None:
    if holder == UNREADABLE:  # stale, but it names nobody to say anything about
        if not break_lock:
            raise LockHeld(f"{env} is locked by an unreadable lock file ({path})",
                           hint="if no deploy is running, rerun with --break-lock (the rerun "
                                "resumes)")
        console.note(f"breaking the unreadable {env} lock ({path})")
        path.unlink(missing_ok=True)
        return
    alive = is_alive(holder)
    if alive:
        raise LockHeld(f"{env} is locked: a deploy is running, {holder.describe()}",
                            hint="wait for it to finish; one deploy at a time per environment")
    if not break_lock:
        state = "has died" if alive is False else "runs on another host (cannot check it)"
        raise LockHeld(
            f"{env} is locked by {holder.describe()}, which {state}",
            hint="if no deploy is running, rerun with --break-lock (the rerun resumes)",
        )
    console.note(f"breaking the stale {env} lock of {holder.describe()}")
    path.unlink(missing_ok=True)
