"""Writing the `local` environment's dotenv secrets file: one NAME set, everything else kept.

The one writer of that file (`invoke secrets-set`, and through it the demo). The new file is
made next to the old one, 0600 from its creation, written, fsynced and renamed over it, so a
reader (or a crash) sees either the old file or the new one, never half of one. Writers take
an exclusive lock on a sibling lock file first, so two secrets-set runs never lose each
other's change. A temp file left by a writer that was killed is removed by the next writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from shipyard.errors import UsageError
from shipyard.secrets.dotenv import _LINE, _value, parse

TEMP_SUFFIX = ".tmp"


def encoded(value: str) -> str:
    """The value as the reader (`dotenv.parse`) reads it back unchanged: bare when that
    works, else single-quoted (literal), else double-quoted (\\" and \\\\ escaped)."""
    if value.splitlines() != [value]:  # splitlines also splits on \r, \x0b, \x1c, \u2028...
        raise UsageError("a value in the local secrets file must fit on one line",
                         hint="drop the line breaks (the value is not shown here)")
    if _reads_back_bare(value):
        return value
    if "'" not in value:
        return f"'{value}'"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _reads_back_bare(value: str) -> bool:
    try:
        return _value(value) == value
    except ValueError:  # an opening quote with no closing one
        return False


def with_value(text: str, name: str, value: str) -> str:
    """`text` with NAME set to VALUE: the first line assigning NAME is rewritten in place
    (keeping an `export ` prefix), later ones are dropped (the reader lets the last win),
    and a name not yet there is appended. Comments and other lines stay as they were."""
    out: list[str] = []
    done = False
    for line in text.splitlines():
        match = _LINE.fullmatch(line)
        if match is None or match["name"] != name:
            out.append(line)
            continue
        if not done:
            export = "export " if re.match(r"\s*export\s", line) else ""
            out.append(f"{export}{name}={encoded(value)}")
            done = True
    if not done:
        out.append(f"{name}={encoded(value)}")
    new = "\n".join(out) + "\n"
    assert parse(new, "the new secrets file").get(name) == value  # the reader agrees
    return new


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `.NAME.lock` next to `path` (released by the kernel if killed)."""
    fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW,
                 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def temp_files(path: Path) -> list[Path]:
    """Temp files of writers that were killed before their rename."""
    return sorted(path.parent.glob(f".{path.name}.*{TEMP_SUFFIX}"))


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically, mode 0600; no temp file is left on failure."""
    fd, tmp = _mkstemp(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)  # the rename itself survives a power cut


def _mkstemp(path: Path) -> tuple[int, str]:
    return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_folder(folder: Path) -> None:
    """The secrets folder, 0700 when shipyard creates it (an existing one is left as it is)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
