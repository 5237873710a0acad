"""`shipyard`: Invoke's Program with shipyard's namespace, so `shipyard release --version V`
works in an app repo that has no tasks.py, and `shipyard --list` / `--help TASK` explain it.

The one difference from `invoke`: a flag that cannot be parsed (`--jobs` with no value,
`--version -v`, an unknown flag) is bad input, so it exits 2 with a hint, like every other
refusal of bad input; `invoke` itself exits 1 for its own parse errors.
"""

from __future__ import annotations

import re

from invoke.exceptions import Exit, ParseError
from invoke.program import Program

from shipyard import __version__
from shipyard.tasks import ns

EXIT_USAGE = 2


class ShipyardProgram(Program):
    def parse_core(self, argv: list[str] | None) -> None:
        try:
            super().parse_core(argv)
        except ParseError as exc:
            raise _usage(exc) from None

    def parse_tasks(self) -> None:
        try:
            super().parse_tasks()
        except ParseError as exc:
            raise _usage(exc) from None


_NEEDS_VALUE = re.compile(r"Flag <Argument: ([\w-]+)[^>]*> needed value")


def _usage(exc: ParseError) -> Exit:
    text = str(exc)
    if needs := _NEEDS_VALUE.match(text):  # invoke's wording names its own Argument object
        text = f"--{needs.group(1).replace('_', '-')} needs a value"
    context = getattr(exc, "context", None)
    where = f" --help {context.name}" if context is not None and context.name else " --list"
    return Exit(message=f"error: {text}\nhint: see shipyard{where}", code=EXIT_USAGE)


program = ShipyardProgram(namespace=ns, version=__version__, name="shipyard",
                          binary="shipyard", binary_names=["shipyard"])


def main() -> None:
    program.run()
