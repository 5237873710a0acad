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


# Local reads (build/gitrepo.py runs them; they change nothing).

def show_toplevel() -> Argv:
    return ("git", "rev-parse", "--show-toplevel")


def symbolic_head() -> Argv:
    # Exit 1 when HEAD is detached.
    return ("git", "symbolic-ref", "--quiet", "--short", "HEAD")


def status_porcelain() -> Argv:
    # Untracked files one by one, ignored ones left out, names exactly as they are (-z).
    return ("git", "status", "--porcelain", "-z", "--untracked-files=all")


def remotes() -> Argv:
    return ("git", "remote")


def resolve_commit(ref: str) -> Argv:
    # --end-of-options: a ref is never read as an option, whatever it is.
    return ("git", "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")


def count_left_right(left: str, right: str) -> Argv:
    """Two numbers: commits only in `left`, commits only in `right`."""
    return ("git", "rev-list", "--left-right", "--count", f"{left}...{right}", "--")


def is_shallow() -> Argv:
    return ("git", "rev-parse", "--is-shallow-repository")


def is_ancestor(commit: str, ref: str) -> Argv:
    # Exit 0: it is; 1: it is not; anything else: git could not tell.
    return ("git", "merge-base", "--is-ancestor", commit, ref)


def tag_refs(tag: str) -> Argv:
    """refname, object type (tag: annotated), the commit it peels to, the object itself."""
    return ("git", "for-each-ref", "--format=%(refname) %(objecttype) %(*objectname) "
            "%(objectname)", f"refs/tags/{tag}")
