"""One snapshot of everything a shipyard run could change, to compare before and after.

`snapshot()` reads each piece from the tool that owns it (git, the Docker engine, the registry's
HTTP API, /proc), never through shipyard:

- files: every file under the app (work tree, `.shipyard/` and its existence, the command log
  included) by content hash and mode, and every folder;
- git: the app's refs and HEAD, every file under `.git/` except the two that read-only git
  commands refresh (`index`, `FETCH_HEAD`), and every file of the bare remote with its refs;
- docker: the images named under this app's registry or built from this app's remote (id, tag,
  digest), and every container, running or stopped, of this checkout or of those images (id,
  name, image, state, start and finish times);
- registry: its catalog, each repository's tags and each tag's manifest digest (HTTP API), or
  "down";
- processes: every nginx and docker-registry process whose command line names this test's
  folder, and their children (nginx workers): pid, start tick, command line;
- temp files: every `shipyard-*` entry in the temp folder the run was given (`TMPDIR`).

The Docker engine and /tmp are shared with other test runs on the machine, so images,
containers and processes are kept to those that belong to this app; everything a run of this
app can create belongs to it (its image names, its root label, its folder).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

MANIFEST_ACCEPT = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))
# Read-only git commands (status, fetch) rewrite these two: they are not "a change".
GIT_REFRESHED = frozenset({"index", "FETCH_HEAD"})


def _run(*argv: str, cwd: Path | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=True)
    return done.stdout


def _tree(root: Path, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    """path → 'dir', or 'MODE sha256' of the file (a symlink: its target); `skip`: paths left
    out with everything under them."""
    found: dict[str, str] = {}
    if not root.exists():
        return found
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if any(rel == s or rel.startswith(f"{s}/") for s in skip):
            continue
        if path.is_symlink():
            found[rel] = f"link {path.readlink()}"
        elif path.is_dir():
            found[rel] = "dir"
        else:
            mode = oct(path.stat().st_mode & 0o7777)
            found[rel] = f"{mode} {hashlib.sha256(path.read_bytes()).hexdigest()}"
    return found


def _head(work: Path) -> str:
    """The branch HEAD is on, or the commit of a detached HEAD (a tag checkout, as in CI)."""
    done = subprocess.run(("git", "symbolic-ref", "-q", "HEAD"), cwd=work, capture_output=True,
                          text=True, timeout=120, check=False)
    if done.returncode == 0:
        return done.stdout.strip()
    return "detached at " + _run("git", "rev-parse", "HEAD", cwd=work).strip()


def git_state(work: Path, remote: Path) -> dict[str, Any]:
    return {
        "head": _head(work),
        "refs": _run("git", "for-each-ref", "--format=%(objectname) %(refname)", cwd=work),
        "status": _run("git", "status", "--porcelain", "--ignored", "--untracked-files=all",
                       cwd=work),
        "dot_git": _tree(work / ".git", GIT_REFRESHED),
        "remote_refs": _run("git", "for-each-ref", "--format=%(objectname) %(refname)",
                            cwd=remote),
        "remote_files": _tree(remote),
    }


def docker_state(registry_port: int, source: str, root: Path) -> dict[str, Any]:
    prefix = f"127.0.0.1:{registry_port}/"
    images = set()
    for line in _run("docker", "images", "--all", "--no-trunc", "--format",
                     "{{.ID}}\t{{.Repository}}:{{.Tag}}\t{{.Digest}}").splitlines():
        if line.split("\t")[1].startswith(prefix):
            images.add(line)
    ours = set(_run("docker", "images", "--all", "--no-trunc", "--quiet", "--filter",
                    f"label=org.opencontainers.image.source={source}").split())
    for line in _run("docker", "images", "--all", "--no-trunc", "--format",
                     "{{.ID}}\t{{.Repository}}:{{.Tag}}\t{{.Digest}}").splitlines():
        if line.split("\t")[0] in ours:
            images.add(line)
    ids = []
    for line in _run("docker", "ps", "--all", "--no-trunc", "--format",
                     '{{.ID}}\t{{.Image}}\t{{.Label "dev.shipyard.root"}}').splitlines():
        cid, image, label = (line.split("\t") + ["", ""])[:3]
        if label == str(root) or image.startswith(prefix):
            ids.append(cid)
    containers = sorted(_run(
        "docker", "inspect", "--format", "{{.Id}} {{.Name}} {{.Config.Image}} {{.State.Status}} "
        "{{.State.StartedAt}} {{.State.FinishedAt}} {{.RestartCount}}", *ids).splitlines()
    ) if ids else []
    return {"images": sorted(images), "containers": containers}


def registry_state(registry_port: int) -> dict[str, Any] | str:
    """repository → tag → manifest digest; "down" when nothing answers on the port (an HTTP
    error is raised: it would hide what the registry holds)."""
    base = f"http://127.0.0.1:{registry_port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    repositories: list[str] = []
    page: str | None = "/v2/_catalog?n=100"  # distribution refuses n above 1000 with a 400
    while page:
        try:
            answer = opener.open(f"{base}{page}", timeout=5)
        except urllib.error.HTTPError:
            raise
        except OSError:
            if not repositories:
                return "down"
            raise
        with answer:
            repositories += json.loads(answer.read())["repositories"] or []
            link = answer.headers.get("Link", "")  # `</v2/_catalog?last=x&n=100>; rel="next"`
        page = link[1:link.index(">")] if link.startswith("<") else None
    content: dict[str, dict[str, str]] = {}
    for repo in repositories:
        with opener.open(f"{base}/v2/{repo}/tags/list", timeout=5) as answer:
            tags = json.loads(answer.read()).get("tags") or []
        content[repo] = {}
        for tag in sorted(tags):
            request = urllib.request.Request(f"{base}/v2/{repo}/manifests/{tag}", method="HEAD",
                                             headers={"Accept": MANIFEST_ACCEPT})
            with opener.open(request, timeout=5) as answer:
                content[repo][tag] = str(answer.headers["Docker-Content-Digest"])
    return content


def _stat(pid: str) -> tuple[str, int, str] | None:
    """(command name, parent pid, start tick) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return text[text.find("(") + 1:text.rfind(")")], int(fields[1]), fields[19]


def processes(scope: Path) -> dict[str, str]:
    """nginx and docker-registry processes that name `scope` on their command line, and their
    children: pid → 'start-tick command line'."""
    table: dict[int, tuple[str, int, str, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _stat(entry.name)
        if stat is None or stat[0] not in ("nginx", "docker-registry"):
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        table[int(entry.name)] = (stat[0], stat[1], stat[2], cmdline)
    masters = {pid for pid, (_, _, _, cmdline) in table.items() if str(scope) in cmdline}
    kept = masters | {pid for pid, (_, ppid, _, _) in table.items() if ppid in masters}
    return {str(pid): f"{table[pid][2]} {table[pid][3]}" for pid in sorted(kept)}


def snapshot(work: Path, remote: Path, registry_port: int, *, tmpdir: Path | None = None,
             command_log: bool = True) -> dict[str, Any]:
    """Everything listed in the module docstring. `command_log=False` records
    `.shipyard/logs/commands.log` by its presence only, for runs that are allowed to run (and
    so log) read-only queries; a dry run logs nothing, so the default compares its bytes."""
    files = _tree(work, frozenset({".git"}))
    log = ".shipyard/logs/commands.log"
    if not command_log and log in files:
        files[log] = "present"
    source = _run("git", "remote", "get-url", "origin", cwd=work).strip()
    return {
        "files": files,
        "git": git_state(work, remote),
        "docker": docker_state(registry_port, source, work),
        "registry": registry_state(registry_port),
        "processes": processes(work.parent),
        "tmp": {path: kind for path, kind in (_tree(tmpdir) if tmpdir else {}).items()
                if path.startswith("shipyard-")},
    }


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What changed, one line per key path: readable in an assertion message."""
    out: list[str] = []

    def walk(path: str, a: Any, b: Any) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                walk(f"{path}/{key}", a.get(key, "<absent>"), b.get(key, "<absent>"))
        elif a != b:
            out.append(f"{path}: {a!r} -> {b!r}")

    walk("", before, after)
    return out
