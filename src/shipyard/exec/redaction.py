"""Keeps secret values out of everything shipyard prints or records."""

from __future__ import annotations

from collections.abc import Iterable

MASK = "***"
# Values this short would mask ordinary words; secret sources refuse them instead.
MIN_SECRET_LENGTH = 4


class Redactor:
    """Replaces every known secret value in a text with `***`."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        if value and len(value) >= MIN_SECRET_LENGTH:
            self._values.add(value)

    def __call__(self, text: str) -> str:
        # Longest first, so a secret containing another is masked whole.
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, MASK)
        return text

    def __bool__(self) -> bool:
        return bool(self._values)
