"""A small typed reader over parsed TOML that names the file and key in every error."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from shipyard.errors import ConfigError

T = TypeVar("T")
_MISSING: Any = object()

DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
ENV_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list",
               dict: "a table", float: "a number"}


class Table:
    """One TOML table being read; `done()` refuses keys nobody asked for."""

    def __init__(self, data: dict[str, Any], path: str, file: str) -> None:
        self.data = data
        self.path = path
        self.file = file
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(
            _one_line(f"{self.file}: {key}: {problem}"),
            hint="see docs/config.md for the schema and a complete example",
        )

    def get(self, name: str, kind: type[T], default: Any = _MISSING) -> T:
        self._seen.add(name)
        if name not in self.data:
            if default is _MISSING:
                raise self.fail(self.key(name), "missing")
            return default  # type: ignore[no-any-return]
        value = self.data[name]
        # bool is a subclass of int in Python; a TOML `true` is not a port number.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(self.key(name), f"must be {_TYPE_NAMES.get(kind, kind.__name__)}")
        return value

    def table(self, name: str, *, required: bool = False) -> Table:
        data = self.get(name, dict, _MISSING if required else {})
        return Table(data, self.key(name), self.file)

    def items(self) -> list[tuple[str, Any]]:
        """For tables whose keys are names (services, environments): reading all of them."""
        self._seen.update(self.data)
        return list(self.data.items())

    def child(self, name: str) -> Table:
        value = self.data[name]
        if not isinstance(value, dict):
            raise self.fail(self.key(name), "must be a table")
        return Table(value, self.key(name), self.file)

    def str_list(self, name: str, check: Callable[[str], str | None] | None = None
                 ) -> tuple[str, ...]:
        values = self.get(name, list, [])
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise self.fail(f"{self.key(name)}[{index}]", "must be a string")
            problem = check(value) if check else None
            if problem:
                raise self.fail(f"{self.key(name)}[{index}]", problem)
        return tuple(values)

    def str_map(self, name: str, check_key: Callable[[str], str | None]) -> dict[str, str]:
        table = self.table(name)
        result: dict[str, str] = {}
        for key, _ in table.items():
            problem = check_key(key)
            if problem:
                raise self.fail(table.key(key), problem)
            value = table.get(key, str)
            if any(ch in value for ch in "\n\r\x00"):
                raise self.fail(table.key(key), "must not contain newlines or NUL")
            result[key] = value
        return result

    def done(self) -> None:
        unknown = sorted(set(self.data) - self._seen)
        if unknown:
            raise self.fail(self.key(unknown[0]), "unknown key")


def _one_line(text: str) -> str:
    """Names and paths come from the file: escape newlines and terminal control characters."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def dns_label_problem(name: str) -> str | None:
    if DNS_LABEL.fullmatch(name) is None:
        return ("not a DNS-1123 label (lowercase letters, digits and '-', "
                "starting and ending with a letter or digit, at most 63 characters)")
    return None


def env_var_problem(name: str) -> str | None:
    if ENV_VAR_NAME.fullmatch(name) is None:
        return "not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)"
    return None


# Names every shell and login sets: as a secret, the process environment would silently supply
# the shell's value (the local source lets exported variables override the file).
RESERVED_ENV = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "LANG", "LANGUAGE", "TERM",
    "HOSTNAME", "TMPDIR", "TZ", "SHLVL", "MAIL", "DISPLAY", "EDITOR", "PAGER", "PYTHONPATH",
    "LD_PRELOAD", "LD_LIBRARY_PATH", "SSH_AUTH_SOCK", "DOCKER_HOST", "DOCKER_CONFIG",
})


def secret_name_problem(name: str) -> str | None:
    if problem := env_var_problem(name):
        return problem
    if name in RESERVED_ENV or name.startswith("LC_"):
        return (f"{name} is set by every shell, so the shell's value would be taken for the "
                "secret; pick an app-specific name (e.g. APP_{name})".replace("{name}", name))
    return None


def port_problem(port: int) -> str | None:
    return None if 1 <= port <= 65535 else "must be a port number from 1 to 65535"


def url_path_problem(path: str) -> str | None:
    if not path.startswith("/") or not path.isascii() or any(c.isspace() for c in path):
        return "must be a URL path starting with '/' (ASCII, no spaces)"
    return None
