"""Where a cloudbuild.yaml value sits, and the checks on its type: every error names the file
and the key, as shipyard.toml's do."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.errors import ConfigError

MAX_TIMEOUT = 24 * 3600.0
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")
# Real fields that mean something only on Google's workers: refused, so no one believes they ran.
NOT_MODELLED = {"volumes": "volumes shared between steps",
                "script": "`script` steps (use entrypoint + args)",
                "automapSubstitutions": "substitutions mapped into the environment",
                "artifacts": "uploading artifacts", "secrets": "KMS-encrypted secrets"}


@dataclass(frozen=True)
class Where:
    path: Path
    modelled_only: bool = True  # False: a NOT_MODELLED field is let through, not refused

    def error(self, key: str, message: str) -> ConfigError:
        at = f"{self.path}: {key}: " if key else f"{self.path}: "
        return ConfigError(at + message, hint="fix the build file; gcloud builds submit "
                                              "checks the same")

    def refuse(self, name: str, key: str | None = None) -> None:
        if not self.modelled_only:
            return
        raise ConfigError(f"{self.path}: {key or name}: local parity cannot model "
                          f"{NOT_MODELLED[name]}",
                          hint="run that build on Cloud Build itself (invoke "
                               "cloudbuild-submit), or leave the field out")

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, "must be a mapping")
        return value

    def known(self, value: Mapping[str, Any], fields: set[str], key: str) -> None:
        unknown = sorted(str(k) for k in value if k not in fields)
        if unknown:
            prefix = f"{key}." if key else "."
            raise self.error(prefix + unknown[0], "unknown field")

    def names(self, value: Any, key: str, *, allow_empty: bool = False) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.error(key, "must be a list")
        out = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise self.error(key, f"{item!r} is not a string")
            if not allow_empty and str(item) == "":
                raise self.error(key, "holds an empty string")
            out.append(str(item))
        return tuple(out)

    def env(self, value: Any, key: str) -> tuple[str, ...]:
        entries = self.names(value, key)
        for entry in entries:
            if "=" not in entry or entry.startswith("="):
                raise self.error(key, f"{entry!r} must be of the form KEY=VALUE")
        return entries

    def strings(self, value: Any, key: str) -> dict[str, str]:
        block = self.mapping(value, key)
        out = {}
        for name, item in block.items():
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise self.error(f"{key}.{name}", "must be a string")
            out[str(name)] = str(item)
        return out

    def flag(self, value: Any, key: str) -> bool:
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value

    def duration(self, value: Any, key: str) -> float | None:
        if value is None:
            return None
        found = _DURATION.match(str(value))
        if not found:
            raise self.error(key, f"{value!r} is not a duration like 1800s")
        seconds = float(found.group(1))
        if not 0 < seconds <= MAX_TIMEOUT:
            raise self.error(key, f"{value} is outside 0s..{MAX_TIMEOUT:g}s")
        return seconds
