"""Dynamic substitutions: a substitution's value expanded bash style over the others and the
built-ins (`${TAG_NAME}`, `${_X:-default}`, `${_X^^}`, ...), an undefined name being empty, as
Cloud Build does with options.dynamicSubstitutions."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping

from shipyard.errors import UsageError

_BASH_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
HINT = "define it under substitutions: in the file, or pass --substitutions _KEY=VALUE"


def dynamic(user: Mapping[str, str], builtins: Mapping[str, str]) -> dict[str, str]:
    """Each user substitution's value expanded, bash style, over the others and the built-ins."""
    done: dict[str, str] = {}
    active: list[str] = []

    def lookup(name: str) -> str:
        if name in done:
            return done[name]
        if name not in user:
            return builtins.get(name, "")
        if name in active:
            raise UsageError("cycle in evaluating substitutions: " + " → ".join(
                [*active[active.index(name):], name]), hint="a substitution cannot use itself")
        active.append(name)
        try:
            done[name] = _bash(user[name], lookup)
        finally:
            active.pop()
        return done[name]

    return {key: lookup(key) for key in user}


def _bash(text: str, lookup: Callable[[str], str]) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] != "$":
            out.append(text[i])
            i += 1
        elif text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            end = _closing(text, i + 1)
            out.append(_operator(text[i + 2:end], lookup, text))
            i = end + 1
        elif found := _BASH_NAME.match(text, i + 1):
            out.append(lookup(found.group(0)))
            i = found.end()
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _closing(text: str, brace: int) -> int:
    depth = 0
    for j in range(brace, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    raise UsageError(f"bad substitution value {text!r}: unclosed ${{", hint=HINT)


def _operator(body: str, lookup: Callable[[str], str], whole: str) -> str:
    """${NAME}, ${NAME:-word}, ${NAME:offset[:length]}, ${NAME^^} ${NAME,,} ${NAME^}
    ${NAME,}, ${NAME#pat} ${NAME##pat} ${NAME%pat} ${NAME%%pat}, ${NAME/pat/rep} ${NAME//...}."""
    found = _BASH_NAME.match(body)
    if not found:
        raise UsageError(f"bad substitution value {whole!r}: ${{{body}}}", hint=HINT)
    value, op = lookup(found.group(0)), body[found.end():]
    if not op:
        return value
    if op.startswith(":-"):
        return value or _bash(op[2:], lookup)
    if op in ("^^", ",,", "^", ","):
        return {"^^": value.upper(), ",,": value.lower(), "^": value[:1].upper() + value[1:],
                ",": value[:1].lower() + value[1:]}[op]
    if re.fullmatch(r":\s*-?\d+(:\s*-?\d+)?", op):
        parts = [int(p) for p in op[1:].split(":")]
        start = parts[0] if parts[0] >= 0 else max(len(value) + parts[0], 0)
        rest = value[start:]
        return rest if len(parts) == 1 else rest[:parts[1]] if parts[1] >= 0 else \
            rest[:max(len(rest) + parts[1], 0)]
    for marker in ("##", "#", "%%", "%"):
        if op.startswith(marker):
            return _trim(value, _bash(op[len(marker):], lookup), marker)
    if op.startswith("/"):
        every = op.startswith("//")
        pattern, _, rep = op[2 if every else 1:].partition("/")
        regex = fnmatch.translate(_bash(pattern, lookup)).removesuffix(r"\Z").removeprefix(
            "(?s:").removesuffix(")")
        return re.sub(f"(?s:{regex})", _bash(rep, lookup).replace("\\", r"\\"), value,
                      count=0 if every else 1)
    raise UsageError(f"bad substitution value {whole!r}: ${{{body}}} is not a bash expansion "
                     f"parity models", hint=HINT)


def _trim(value: str, pattern: str, marker: str) -> str:
    ends = range(len(value) + 1)
    if marker in ("#", "##"):  # shortest / longest matching prefix
        for cut in (ends if marker == "#" else reversed(ends)):
            if fnmatch.fnmatchcase(value[:cut], pattern):
                return value[cut:]
    else:  # "%" shortest / "%%" longest matching suffix
        for cut in (reversed(ends) if marker == "%" else ends):
            if fnmatch.fnmatchcase(value[cut:], pattern):
                return value[:cut]
    return value
