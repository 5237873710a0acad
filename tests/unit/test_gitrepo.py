"""Reading `git ls-remote` output; the network git timeout setting."""

from __future__ import annotations

import pytest

from shipyard.build.gitrepo import (
    TagRef,
    git_timeout,
    parse_ls_remote_branch,
    parse_ls_remote_tag,
)
from shipyard.errors import UsageError

TAG_OBJECT = "1" * 40
COMMIT = "c" * 40
OTHER = "0" * 40


def test_annotated_tag_resolves_to_the_peeled_commit() -> None:
    output = f"{TAG_OBJECT}\trefs/tags/v1.1.0\n{COMMIT}\trefs/tags/v1.1.0^{{}}\n"
    assert parse_ls_remote_tag(output, "v1.1.0") == TagRef(commit=COMMIT, annotated=True)


def test_lightweight_tag_is_the_commit_itself() -> None:
    output = f"{COMMIT}\trefs/tags/v1.1.0\n"
    assert parse_ls_remote_tag(output, "v1.1.0") == TagRef(commit=COMMIT, annotated=False)


def test_absent_tag() -> None:
    assert parse_ls_remote_tag("", "v1.1.0") is None
    output = f"{OTHER}\trefs/tags/v1.1.0-rc.1\n{COMMIT}\trefs/tags/v1.1.0-rc.1^{{}}\n"
    assert parse_ls_remote_tag(output, "v1.1.0") is None


def test_other_tags_in_the_output_are_ignored() -> None:
    output = (f"{OTHER}\trefs/tags/v1.0.0\n{OTHER}\trefs/tags/v1.0.0^{{}}\n"
              f"{COMMIT}\trefs/tags/v1.1.0\n")
    assert parse_ls_remote_tag(output, "v1.1.0") == TagRef(commit=COMMIT, annotated=False)


def test_windows_line_endings() -> None:
    output = f"{TAG_OBJECT}\trefs/tags/v1.1.0\r\n{COMMIT}\trefs/tags/v1.1.0^{{}}\r\n"
    assert parse_ls_remote_tag(output, "v1.1.0") == TagRef(commit=COMMIT, annotated=True)


def test_branch_present() -> None:
    output = f"{OTHER}\trefs/heads/main\n{COMMIT}\trefs/heads/feature/x\n"
    assert parse_ls_remote_branch(output, "feature/x") == COMMIT


def test_branch_absent_even_when_a_longer_name_exists() -> None:
    output = f"{COMMIT}\trefs/heads/feature/x-2\n{OTHER}\trefs/heads/feature\n"
    assert parse_ls_remote_branch(output, "feature/x") is None
    assert parse_ls_remote_branch("", "main") is None


@pytest.mark.parametrize(("value", "seconds"), [(None, 60.0), ("", 60.0), ("2", 2.0),
                                                (" 0.5 ", 0.5)])
def test_git_timeout(monkeypatch: pytest.MonkeyPatch, value: str | None, seconds: float) -> None:
    if value is None:
        monkeypatch.delenv("SHIPYARD_GIT_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("SHIPYARD_GIT_TIMEOUT", value)
    assert git_timeout() == seconds


@pytest.mark.parametrize("value", ["soon", "0", "-1", "nan", "inf", "1e9"])
def test_git_timeout_refuses_nonsense(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SHIPYARD_GIT_TIMEOUT", value)
    with pytest.raises(UsageError, match="is not a number of seconds"):
        git_timeout()
