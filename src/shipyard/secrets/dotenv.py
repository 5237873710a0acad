"""The `local` environment's secret source: a dotenv file of mode 0600, plus the process
environment, which overrides the file and fills in what it lacks.

File format, one `NAME=value` per line:

    # a comment                       blank lines are ignored too
    DATABASE_URL=postgres://u:p@db/x  unquoted: up to a ` #` comment, trailing spaces dropped
    export REDIS_URL=redis://cache    an optional `export ` prefix (so the file can be sourced)
    RUNWAYML_API_KEY='k#1 $HOME'      single quotes: taken literally
    GREETING="say \\"hi\\""             double quotes: only \\" and \\\\ are escapes

No shell expansion ever happens (`$HOME` stays `$HOME`); values fit on one line. An error names
the file and the line number, never the value.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.config import Config, Environment
from shipyard.errors import ShipyardError, UsageError
from shipyard.exec.redaction import MIN_SECRET_LENGTH
from shipyard.exec.runner import Runner
from shipyard.targets.base import Check, SecretBinding

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext

UNVERSIONED = "current"  # a dotenv file keeps one value per name

_LINE = re.compile(r"\s*(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<rest>.*)")
_INLINE_COMMENT = re.compile(r"\s+#")
_ESCAPED = {'"', "\\"}


def parse(text: str, file: str) -> dict[str, str]:
    """NAME → value for every assignment line; a later line wins over an earlier one."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise _bad_line(file, number, "expected NAME=value, NAME made of letters, digits "
                                          "and _ (not starting with a digit)")
        try:
            values[match["name"]] = _value(match["rest"])
        except ValueError as exc:
            raise _bad_line(file, number, f"{match['name']}: {exc}") from None
    return values


def _value(rest: str) -> str:
    if rest[:1] in ("'", '"'):
        return _quoted(rest)
    return _INLINE_COMMENT.split(rest, maxsplit=1)[0].strip()


def _quoted(rest: str) -> str:
    quote, chars, i = rest[0], [], 1
    while i < len(rest):
        char = rest[i]
        if quote == '"' and char == "\\" and rest[i + 1:i + 2] in _ESCAPED:
            chars.append(rest[i + 1])
            i += 2
            continue
        if char == quote:
            tail = rest[i + 1:].strip()
            if tail and not tail.startswith("#"):
                raise ValueError("unexpected text after the closing quote")
            return "".join(chars)
        chars.append(char)
        i += 1
    raise ValueError(f"unterminated {quote} quote (a value must fit on one line)")


def _bad_line(file: str, number: int, problem: str) -> UsageError:
    return UsageError(f"{file} line {number}: {problem}",
                      hint="fix that line; see docs/local-environment.md for the format")


def read_secrets_file(path: Path) -> str | None:
    """The text of a secrets file (None when there is none), after checking it is a regular
    file of mode 0600 that is not a link; ShipyardError (never showing a value) otherwise."""
    # Never follow a link (a chmod hint would change its target) and never block on a FIFO:
    # open without following and without blocking, then judge what was opened.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if path.is_symlink():
            raise ShipyardError(f"{path} is a symbolic link: the secrets file must be "
                                "a regular file", hint=f"replace the link with the file it "
                                f"points to ({os.path.realpath(path)})") from None
        raise ShipyardError(f"cannot read {path}: {exc.strerror}",
                            hint="it must be a UTF-8 text file of NAME=value lines") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ShipyardError(f"{path} is not a regular file",
                                hint="the secrets file must be a plain file of NAME=value "
                                     "lines, mode 0600")
        mode = stat.S_IMODE(info.st_mode)
        if mode & ~0o600:
            raise ShipyardError(
                f"{path} has mode {mode:04o}: a secrets file must be readable by its "
                "owner only (0600)",
                hint=f"chmod 600 {path}",
            )
        try:
            text = handle.read().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ShipyardError(f"cannot read {path}: {type(exc).__name__}",
                                hint="it must be a UTF-8 text file of NAME=value lines"
                                ) from None
    return text


class DotenvSecrets:
    """Secret values from a 0600 dotenv file and the environment; see the module docstring."""

    def __init__(self, path: Path, runner: Runner, needs: Mapping[str, Sequence[str]] | None = None,
                 environ: Mapping[str, str] | None = None, env: str = "local") -> None:
        self.path = path
        self.env = env  # the environment's name, for hints
        self.runner = runner
        self.needs = {svc: list(names) for svc, names in (needs or {}).items()}  # svc → NAMES
        self.environ = os.environ if environ is None else environ
        self._file_values: dict[str, str] | None = None

    @classmethod
    def for_environment(cls, config: Config, env: Environment, runner: Runner,
                        environ: Mapping[str, str] | None = None) -> DotenvSecrets:
        if env.local is None:
            raise UsageError(f"environment {env.name!r} keeps no secrets in a dotenv file",
                             hint="the dotenv secret source is for target = \"local\"")
        needs = {s.name: list(s.secrets) for s in config.services}
        return cls(config.root / env.local.secrets_file, runner, needs, environ, env.name)

    @classmethod
    def from_context(cls, ctx: RunContext) -> DotenvSecrets:
        return cls.for_environment(ctx.config, ctx.env, ctx.runner)

    def bindings(self) -> dict[str, tuple[SecretBinding, ...]]:
        self.require(name for names in self.needs.values() for name in names)
        return {svc: tuple(SecretBinding(n, n, UNVERSIONED) for n in names)
                for svc, names in self.needs.items()}

    def checks(self) -> Sequence[Check]:
        return ()  # presence by name is the pipeline's own secrets check

    def reveal(self, bindings: Sequence[SecretBinding]) -> dict[str, str]:
        values = self.require(b.secret for b in bindings)
        return {b.env: values[b.secret] for b in bindings}

    def missing(self) -> dict[str, list[str]]:
        found = {**self.file_values(), **{k: v for k, v in self.environ.items() if v}}
        return {svc: [n for n in names if n not in found] for svc, names in self.needs.items()}

    def file_values(self) -> dict[str, str]:
        """Everything the file holds ({} when there is no file), checked and read once."""
        if self._file_values is None:
            self._file_values = self._read()
            for value in self._file_values.values():
                self.runner.redactor.add(value)
        return dict(self._file_values)

    def _read(self) -> dict[str, str]:
        text = read_secrets_file(self.path)
        return {} if text is None else parse(text, str(self.path))

    def require(self, names: Iterable[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return {}
        from_file = self.file_values()
        values: dict[str, str] = {}
        for name in wanted:
            value = self.environ.get(name) or from_file.get(name)
            if value is not None:
                self.runner.redactor.add(value)
                values[name] = value
        self._check(wanted, values)
        return values

    def _check(self, wanted: list[str], values: Mapping[str, str]) -> None:
        missing = [name for name in wanted if name not in values]
        if missing:
            raise UsageError(
                f"missing secret{'s' if len(missing) > 1 else ''}: {', '.join(missing)}",
                hint=f'set each: printf %s "$VALUE" | invoke secrets-set {missing[0]} --env '
                     f"{self.env} (it writes {self.path}); or export them",
            )
        short = [name for name in wanted if len(values[name]) < MIN_SECRET_LENGTH]
        if short:
            raise UsageError(
                f"secret value too short to be masked in output: {', '.join(short)}",
                hint=f"a secret needs at least {MIN_SECRET_LENGTH} characters",
            )
