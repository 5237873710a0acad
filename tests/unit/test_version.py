"""Release versions: valid tags round-trip, order by SemVer precedence, hostile input is refused."""

from __future__ import annotations

import functools
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from shipyard.errors import UsageError
from shipyard.version import Version, is_version_tag

STRICT = re.compile(
    r"v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(-(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\.(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?",
    re.ASCII,
)

# Small values as well as large ones, so that two tags often share a core or a prefix and the
# ordering tests reach the pre-release rules.
numbers = (st.integers(0, 12) | st.integers(0, 10**9)).map(str)
alnum_ids = (st.sampled_from(["alpha", "beta", "rc", "-", "0a", "Z"])
             | st.text("0123456789abcdefxyzABCXYZ-", min_size=1, max_size=8)).filter(
    lambda s: not s.isdigit())
pre_ids = st.one_of(numbers, alnum_ids)
pre_releases = st.lists(pre_ids, min_size=1, max_size=4).map(".".join)
tags = st.builds(
    lambda core, pre: f"v{'.'.join(core)}" + (f"-{pre}" if pre else ""),
    st.tuples(numbers, numbers, numbers),
    st.none() | pre_releases,
)
close_tags = st.builds(
    lambda core, pre: f"v{'.'.join(core)}" + (f"-{pre}" if pre else ""),
    st.tuples(*[st.integers(0, 2).map(str)] * 3),
    st.none() | st.lists(st.sampled_from(["1", "2", "10", "rc", "rc1", "b", "B"]),
                         min_size=1, max_size=3).map(".".join),
)


def precedence(a: str, b: str) -> int:
    """SemVer 2.0.0 section 11, written out independently of the code under test."""
    def split(tag: str) -> tuple[list[int], list[str] | None]:
        core, _, pre = tag[1:].partition("-")
        return [int(n) for n in core.split(".")], pre.split(".") if pre else None

    def ident(x: str, y: str) -> int:
        if x.isdigit() and y.isdigit():
            return (int(x) > int(y)) - (int(x) < int(y))
        if x.isdigit() != y.isdigit():
            return -1 if x.isdigit() else 1
        return (x > y) - (x < y)

    (core_a, pre_a), (core_b, pre_b) = split(a), split(b)
    if core_a != core_b:
        return -1 if core_a < core_b else 1
    if pre_a is None or pre_b is None:
        return (pre_a is None) - (pre_b is None)
    for x, y in zip(pre_a, pre_b, strict=False):
        if c := ident(x, y):
            return c
    return (len(pre_a) > len(pre_b)) - (len(pre_a) < len(pre_b))


@given(tags)
@example("v0.0.0")
@example("v1.0.0-0")
@example("v1.0.0-0a.-")
def test_valid_tags_parse_and_round_trip(tag: str) -> None:
    version = Version.parse(tag)
    assert str(version) == tag
    assert Version.parse(str(version)) == version
    assert is_version_tag(tag)
    core = tag[1:].partition("-")[0].split(".")
    assert [version.semver.major, version.semver.minor, version.semver.patch] == [
        int(n) for n in core]
    assert version.is_prerelease == ("-" in tag)


@given(tags | close_tags, tags | close_tags)
def test_ordering_is_semver_precedence(a: str, b: str) -> None:
    va, vb = Version.parse(a), Version.parse(b)
    expected = precedence(a, b)
    assert (va < vb) == (expected < 0)
    assert (va > vb) == (expected > 0)
    assert (va == vb) == (expected == 0) == (a == b)


@given(st.lists(close_tags, min_size=2, max_size=8))
def test_sorting_matches_precedence(items: list[str]) -> None:
    by_version = [str(v) for v in sorted(Version.parse(t) for t in items)]
    assert by_version == sorted(items, key=functools.cmp_to_key(precedence))


def test_spec_precedence_chain() -> None:
    chain = ["v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta",
             "v1.0.0-beta.2", "v1.0.0-beta.11", "v1.0.0-rc.1", "v1.0.0", "v1.9.0", "v1.10.0",
             "v2.0.0"]
    versions = [Version.parse(t) for t in chain]
    assert all(a < b for a, b in zip(versions, versions[1:], strict=False))
    assert Version.parse("v1.10.0") > Version.parse("v1.9.0")
    assert max(reversed(versions)) == Version.parse("v2.0.0")


HOSTILE = [
    "v1.0.0;rm -rf /", "$(id)", "v1.0.0$(id)", "`id`", "v1.0.0`id`", "v1.0\n.0", "v1.0.0\n",
    "v1.0.0\r", " v1.0.0", "v1.0.0 ", "v١.0.0", "v1.0.٠", "v1.0.0-rc.١", "v" + "1" * 300,
    "v1.0.0-" + "a" * 300, "v01.0.0", "v1.00.0", "v1.0.00", "v1.0.0-01", "v1.0.0-rc.01",
    "--version=-x", "-x", "v1.0.0+b1", "v1.0.0-rc.1+b1", "1.0.0", "V1.0.0", "", "v", "v1",
    "v1.0", "v1.0.0.0", "v1.0.0-", "v1.0.0-rc..1", "v1.0.0-rc_1", "v-1.0.0", "v1.0.0\x00",
    "ｖ1.0.0", "refs/tags/v1.0.0", "v1.0.0^{}", "v1.0.0:latest",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as info:
        Version.parse(text)
    assert info.value.exit_code == 2
    assert "\n" not in info.value.message
    assert len(info.value.message) < 200
    assert info.value.hint
    assert not is_version_tag(text)


@given(st.text() | st.text("v0123456789.-+rcalphbeta\n١ ", max_size=20))
@example("v1.0.0")
def test_any_text_parses_strictly_or_is_a_usage_error(text: str) -> None:
    try:
        version = Version.parse(text)
    except UsageError as err:
        assert err.exit_code == 2
        assert "\n" not in err.message
    else:
        assert STRICT.fullmatch(str(version))
        assert str(version) == text
        assert len(text) <= 128


@pytest.mark.parametrize(("tag", "cloud_run"), [
    ("v1.1.0", "v1-1-0"), ("v1.1.0-rc.1", "v1-1-0-rc-1"), ("v10.0.3-Beta.2", "v10-0-3-beta-2")])
def test_cloud_run_tag(tag: str, cloud_run: str) -> None:
    assert Version.parse(tag).cloud_run_tag == cloud_run


@given(tags)
def test_cloud_run_tag_uses_only_lowercase_letters_digits_and_hyphens(tag: str) -> None:
    assert re.fullmatch(r"v[a-z0-9-]+", Version.parse(tag).cloud_run_tag)
