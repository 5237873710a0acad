"""The scan allow list: accepted findings, each with a reason and an expiry date.

The file (default `trivy-allowlist.toml` in the app repo, see docs/scanning.md) is optional:

    [[allow]]
    id = "CVE-2024-12345"          # a CVE, a secret rule id (github-pat) or a check (DS-0002)
    reason = "not reachable: we never parse untrusted XML"
    expires = 2026-06-30           # a TOML date; the entry applies up to and including that day
    service = "api-server"         # optional: only for this service

Every problem exits 2 and names the file, the entry (1-based) and the key.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.errors import ConfigError

KEYS = ("id", "reason", "expires", "service")
HINT = "see docs/scanning.md: every [[allow]] entry needs id, reason and expires (a date)"


@dataclass(frozen=True)
class AllowEntry:
    index: int  # 1-based position in the file, for messages
    id: str
    reason: str
    expires: dt.date
    service: str | None = None

    def covers(self, finding_id: str, service: str) -> bool:
        """Same id (case does not matter), and the entry is for every service or this one."""
        return self.id.casefold() == finding_id.casefold() and self.service in (None, service)

    def expired(self, today: dt.date) -> bool:
        return today > self.expires


@dataclass(frozen=True)
class AllowList:
    path: Path | None  # None: no file, nothing is allowed
    entries: tuple[AllowEntry, ...] = ()

    def active(self, today: dt.date) -> tuple[AllowEntry, ...]:
        return tuple(e for e in self.entries if not e.expired(today))

    def expired(self, today: dt.date) -> tuple[AllowEntry, ...]:
        return tuple(e for e in self.entries if e.expired(today))


def load(path: Path, services: Collection[str], shown_as: str | None = None) -> AllowList:
    """Read and validate the allow list; a missing file is an empty list."""
    name = shown_as or str(path)
    if not path.exists():
        return AllowList(None)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{name}: not a valid TOML file: {exc}", hint=HINT) from None
    return AllowList(path, parse(data, services, name))


def parse(data: dict[str, Any], services: Collection[str], name: str) -> tuple[AllowEntry, ...]:
    extra = sorted(set(data) - {"allow"})
    if extra:
        raise _fail(name, f"unknown top-level key {extra[0]!r} (only [[allow]] entries)")
    entries = data.get("allow", [])
    if not isinstance(entries, list):
        raise _fail(name, "'allow' must be an array of tables: write each entry as [[allow]]")
    return tuple(_entry(item, index, services, name)
                 for index, item in enumerate(entries, start=1))


def _entry(item: object, index: int, services: Collection[str], name: str) -> AllowEntry:
    where = f"[[allow]] entry {index}"
    if not isinstance(item, dict):
        raise _fail(name, f"{where}: must be a table")
    unknown = sorted(set(item) - set(KEYS))
    if unknown:
        raise _fail(name, f"{where}: unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")
    finding_id = _text(item, "id", where, name)
    if any(c.isspace() for c in finding_id):
        raise _fail(name, f"{where}: key 'id': must not contain spaces")
    reason = _text(item, "reason", where, name)
    expires = item.get("expires")
    # tomllib gives datetime for a date-time; datetime is a date subclass, so check exactly.
    if type(expires) is not dt.date:
        raise _fail(name, f"{where}: key 'expires': required, a TOML date such as 2026-06-30 "
                          "(no quotes, no time)")
    service = None
    if "service" in item:
        service = _text(item, "service", where, name)
        if service not in services:
            known = ", ".join(sorted(services))
            raise _fail(name, f"{where}: key 'service': unknown service {service!r} "
                              f"(known: {known})")
    return AllowEntry(index, finding_id, reason, expires, service)


def _text(item: dict[str, Any], key: str, where: str, name: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(name, f"{where}: key {key!r}: required, a non-empty string")
    return value.strip()


def _fail(name: str, problem: str) -> ConfigError:
    return ConfigError(f"{name}: {problem}", hint=HINT)
