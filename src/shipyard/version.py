"""Release versions: `vMAJOR.MINOR.PATCH` with an optional SemVer 2.0 pre-release."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

import semver

from shipyard.errors import UsageError

# ASCII-only on purpose: `\d` would accept Unicode digits such as '١'.
_NUM = r"(?:0|[1-9][0-9]*)"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_TAG_RE = re.compile(rf"v({_NUM})\.({_NUM})\.({_NUM})(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?")
# The same rule, anchored, for tools that match a whole tag themselves (a Cloud Build
# trigger's RE2 tag pattern): the one rule, written once, not a second regex.
TAG_PATTERN = f"^{_TAG_RE.pattern}$"
# Docker tags are at most 128 characters; keep room for nothing else.
MAX_LENGTH = 128


@total_ordering
@dataclass(frozen=True)
class Version:
    """A validated release version. `str(v)` is the git tag and the image tag."""

    tag: str

    @classmethod
    def parse(cls, text: str) -> Version:
        if not isinstance(text, str) or len(text) > MAX_LENGTH or not text.isascii():
            raise _invalid(text)
        if _TAG_RE.fullmatch(text) is None:
            raise _invalid(text)
        return cls(text)

    @property
    def semver(self) -> semver.Version:
        return semver.Version.parse(self.tag[1:])

    @property
    def is_prerelease(self) -> bool:
        return self.semver.prerelease is not None

    @property
    def cloud_run_tag(self) -> str:
        """A Cloud Run revision-tag form: lowercase letters, digits and hyphens (`v1-1-0`)."""
        return re.sub(r"[^a-z0-9-]", "-", self.tag.lower())

    def __str__(self) -> str:
        return self.tag

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.semver < other.semver


def _invalid(text: object) -> UsageError:
    shown = repr(text) if len(repr(text)) <= 60 else repr(text)[:57] + "...'"
    return UsageError(
        f"invalid version {shown}: expected vMAJOR.MINOR.PATCH, e.g. v1.1.0 or v1.1.0-rc.1",
        hint="use a SemVer 2.0 tag with a leading 'v', no leading zeros and no build metadata",
    )


def is_version_tag(text: str) -> bool:
    try:
        Version.parse(text)
    except UsageError:
        return False
    return True
