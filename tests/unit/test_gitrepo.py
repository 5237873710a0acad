"""Reading `git ls-remote` output."""

from __future__ import annotations

from shipyard.build.gitrepo import TagRef, parse_ls_remote_branch, parse_ls_remote_tag

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
