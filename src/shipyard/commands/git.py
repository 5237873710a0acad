"""git argv builders. Refs are always fully qualified so no value can be read as an option."""

from __future__ import annotations

Argv = tuple[str, ...]


def fetch(remote: str) -> Argv:
    # --no-tags: never let a fetch rewrite a local tag; remote tags are read with ls-remote.
    return ("git", "fetch", "--quiet", "--prune", "--no-tags", remote)


def fetch_branch(remote: str, branch: str) -> Argv:
    # An explicit refspec: a clone of one tag (git clone --branch TAG) fetches nothing else.
    return ("git", "fetch", "--quiet", "--no-tags", remote,
            f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}")


def ls_remote_tag(remote: str, tag: str) -> Argv:
    return ("git", "ls-remote", "--tags", remote, f"refs/tags/{tag}", f"refs/tags/{tag}^{{}}")


def ls_remote_branch(remote: str, branch: str) -> Argv:
    return ("git", "ls-remote", "--heads", remote, f"refs/heads/{branch}")


def check_branch_name(name: str) -> Argv:
    return ("git", "check-ref-format", "--branch", name)


def tag_annotated(tag: str, message: str) -> Argv:
    return ("git", "tag", "--annotate", f"--message={message}", tag, "HEAD")


def push_tag(remote: str, tag: str) -> Argv:
    return ("git", "push", remote, f"refs/tags/{tag}:refs/tags/{tag}")


def delete_remote_branch(remote: str, branch: str) -> Argv:
    return ("git", "push", remote, "--delete", f"refs/heads/{branch}")


def delete_local_branch(branch: str) -> Argv:
    # -D: shipyard has already checked the branch is merged into the release branch,
    # which `git branch -d` would wrongly compare against HEAD instead.
    return ("git", "branch", "-D", branch)


def fetch_tag(remote: str, tag: str) -> Argv:
    return ("git", "fetch", "--quiet", remote, f"refs/tags/{tag}:refs/tags/{tag}")


def head_commit() -> Argv:
    # SHA and committer time (Unix seconds), one line: the OCI revision and created labels.
    return ("git", "log", "-1", "--format=%H %ct", "HEAD")


def remote_url(remote: str, *, push: bool = False) -> Argv:
    return ("git", "remote", "get-url", *(("--push",) if push else ()), "--", remote)


def untracked_files(*paths: str) -> Argv:
    # No --exclude options: ignored files are listed too (they are in a build context all
    # the same). -z: names exactly as they are, never quoted.
    return ("git", "ls-files", "--others", "-z", "--", *paths)
