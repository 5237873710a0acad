"""git argv builders: exact command lines, refs always fully qualified."""

from __future__ import annotations

from shipyard.commands import git


def test_fetch() -> None:
    assert git.fetch("origin") == ("git", "fetch", "--quiet", "--prune", "--no-tags", "origin")


def test_ls_remote_tag_asks_for_the_tag_and_its_peeled_commit() -> None:
    assert git.ls_remote_tag("origin", "v1.1.0") == (
        "git", "ls-remote", "--tags", "origin", "refs/tags/v1.1.0", "refs/tags/v1.1.0^{}")


def test_ls_remote_branch() -> None:
    assert git.ls_remote_branch("upstream", "feature/x") == (
        "git", "ls-remote", "--heads", "upstream", "refs/heads/feature/x")


def test_check_branch_name() -> None:
    assert git.check_branch_name("feature/worker-provider-integration") == (
        "git", "check-ref-format", "--branch", "feature/worker-provider-integration")


def test_tag_annotated_keeps_the_message_in_one_argument() -> None:
    assert git.tag_annotated("v1.1.0-rc.1", "Release v1.1.0-rc.1: video; $(id)") == (
        "git", "tag", "--annotate", "--message=Release v1.1.0-rc.1: video; $(id)",
        "v1.1.0-rc.1", "HEAD")


def test_tag_annotated_message_starting_with_a_dash_is_not_an_option() -> None:
    assert git.tag_annotated("v1.0.0", "-d")[3] == "--message=-d"


def test_push_tag() -> None:
    assert git.push_tag("origin", "v1.1.0") == (
        "git", "push", "origin", "refs/tags/v1.1.0:refs/tags/v1.1.0")


def test_delete_remote_branch() -> None:
    assert git.delete_remote_branch("origin", "feature/x") == (
        "git", "push", "origin", "--delete", "refs/heads/feature/x")


def test_delete_local_branch() -> None:
    assert git.delete_local_branch("feature/x") == ("git", "branch", "-D", "feature/x")


def test_fetch_tag() -> None:
    assert git.fetch_tag("origin", "v1.1.0") == (
        "git", "fetch", "--quiet", "origin", "refs/tags/v1.1.0:refs/tags/v1.1.0")


def test_head_commit_reads_sha_and_committer_time() -> None:
    assert git.head_commit() == ("git", "log", "-1", "--format=%H %ct", "HEAD")


def test_remote_url_cannot_read_the_remote_as_an_option() -> None:
    assert git.remote_url("--upload-pack=x") == (
        "git", "remote", "get-url", "--", "--upload-pack=x")


def test_fetch_branch_names_its_tracking_ref() -> None:
    assert git.fetch_branch("origin", "main") == (
        "git", "fetch", "--quiet", "--no-tags", "origin",
        "+refs/heads/main:refs/remotes/origin/main")


def test_remote_url_for_pushes() -> None:
    assert git.remote_url("origin", push=True) == (
        "git", "remote", "get-url", "--push", "--", "origin")


def test_untracked_files_include_ignored_ones() -> None:
    # Without --exclude-standard, git lists ignored files too.
    assert git.untracked_files(".", "../Dockerfile") == (
        "git", "ls-files", "--others", "-z", "--", ".", "../Dockerfile")
