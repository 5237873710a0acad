"""The `local` environment's secret store: the 0600 dotenv file `secrets_file`.

It keeps one value per name (the version is always "current"). Writing goes through
secrets/dotenv_file.py, the file's one writer; reading through secrets/dotenv.py, its one reader.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.errors import ShipyardError
from shipyard.exec.redaction import MIN_SECRET_LENGTH
from shipyard.secrets import dotenv_file
from shipyard.secrets.dotenv import UNVERSIONED, DotenvSecrets, parse, read_secrets_file
from shipyard.secrets.stores import Stored, Written
from shipyard.targets.base import Check
from shipyard.ui import console

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext


class DotenvStore:
    keeps_versions = False  # one value per name: setting it replaces the old one

    def __init__(self, source: DotenvSecrets, env: str, root: Path, dry_run: bool) -> None:
        self.source, self.env, self.root, self.dry_run = source, env, root, dry_run
        self.path = source.path

    @classmethod
    def from_context(cls, ctx: RunContext) -> DotenvStore:
        source = DotenvSecrets.for_environment(ctx.config, ctx.env, ctx.runner)
        return cls(source, ctx.env.name, ctx.config.root, ctx.dry_run)

    @property
    def shown(self) -> str:
        """The file as the user names it: relative to the app when it is inside it."""
        with contextlib.suppress(ValueError):
            return str(self.path.relative_to(self.root))
        return str(self.path)

    def set_hint(self, name: str) -> str:
        return f'printf %s "$VALUE" | invoke secrets-set {name} --env {self.env}'

    # --- put --------------------------------------------------------------------------

    def put(self, name: str, value: str, *, disable_previous: bool) -> Written:
        dotenv_file.encoded(value)  # refused before anything is read or written
        had = name in self._values_now()  # checks the file that is there (mode, format)
        what = "replace" if had else "add"
        if self.dry_run:
            console.note(f"[dry-run] would {what} {name} in {self.shown} (written atomically, "
                         "mode 0600); nothing was written")
        else:
            try:
                self._write(name, value)
            except OSError as exc:  # a folder that is a file, not ours, a full disk...
                raise ShipyardError(f"cannot write {self.shown}: {exc.strerror or exc}",
                                    hint=f"check {self.path.parent} (it must be a folder this "
                                         "user may write); nothing was changed") from None
        return Written(name, self.shown, UNVERSIONED, previous=UNVERSIONED if had else None)

    def _write(self, name: str, value: str) -> None:
        dotenv_file.make_folder(self.path.parent)
        with dotenv_file.locked(self.path):
            for leftover in dotenv_file.temp_files(self.path):  # a killed writer's
                leftover.unlink(missing_ok=True)
            text = read_secrets_file(self.path) or ""  # again, under the lock
            dotenv_file.write_private(self.path, dotenv_file.with_value(text, name, value))

    def _values_now(self) -> dict[str, str]:
        text = read_secrets_file(self.path)
        return {} if text is None else parse(text, str(self.path))

    # --- inventory and checks ------------------------------------------------------------

    def names(self) -> list[str]:
        return list(dict.fromkeys(n for names in self.source.needs.values() for n in names))

    def inventory(self) -> list[Stored]:
        try:
            values: dict[str, str] | None = self.source.file_values()
        except ShipyardError as exc:
            values, unreadable = None, exc.message
        rows = []
        for name in self.names():
            if values is None:
                rows.append(Stored(name, self.shown, None, problem=unreadable))
            elif name in values:
                short = len(values[name]) < MIN_SECRET_LENGTH
                rows.append(Stored(name, self.shown, UNVERSIONED, problem="value too short "
                                   f"(under {MIN_SECRET_LENGTH} characters)" if short else None))
            elif self.source.environ.get(name):
                rows.append(Stored(name, f"${name} (environment)", UNVERSIONED,
                                   problem=f"not in {self.shown}; only this shell has it"))
            else:
                rows.append(Stored(name, self.shown, None, problem="not set"))
        return rows

    def checks(self) -> Sequence[Check]:
        return [Check("secrets file", self._check_file),
                *(Check(f"secret {name}", self._checker(name)) for name in self.names())]

    def _check_file(self) -> str:
        text = read_secrets_file(self.path)  # refuses a link, a non-file, a mode other than 0600
        if text is None:
            raise ShipyardError(f"{self.shown} does not exist",
                                hint=self.set_hint(self.names()[0] if self.names() else "NAME"))
        return f"{self.shown}: a regular file, mode 0600"

    def _checker(self, name: str) -> Callable[[], str]:
        def probe() -> str:
            values = self.source.file_values()
            if name not in values:
                only_here = " (this shell's environment has it, the file does not)" \
                    if self.source.environ.get(name) else ""
                raise ShipyardError(f"{name} is not in {self.shown}{only_here}",
                                    hint=self.set_hint(name))
            if len(values[name]) < MIN_SECRET_LENGTH:
                raise ShipyardError(f"{name} in {self.shown} is too short to be masked in output",
                                    hint=f"set one of {MIN_SECRET_LENGTH} characters or more: "
                                         + self.set_hint(name))
            return f"set in {self.shown}"
        return probe
