"""The main job on the embedded default: rehearse a release of the sample app on this machine.

Copies examples/meta-ad-studio to a scratch folder with a scratch bare remote (so nothing real
is touched), then drives it with `invoke` exactly as a user would.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "meta-ad-studio"
FEATURE = "feature/worker-provider-integration"
IDENTITY = {
    "GIT_AUTHOR_NAME": "shipyard demo",
    "GIT_AUTHOR_EMAIL": "demo@shipyard.invalid",
    "GIT_COMMITTER_NAME": "shipyard demo",
    "GIT_COMMITTER_EMAIL": "demo@shipyard.invalid",
}


def show(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def run(cwd: Path, *argv: str, check: bool = True) -> int:
    print(f"$ {shlex.join(argv)}", flush=True)
    env = {**os.environ, **IDENTITY}
    code = subprocess.run(argv, cwd=cwd, env=env).returncode
    if check and code != 0:
        sys.exit(f"demo: step failed (exit {code}): {shlex.join(argv)}")
    return code


def git(cwd: Path, *args: str) -> None:
    run(cwd, "git", *args)


def invoke(cwd: Path, *args: str) -> None:
    run(cwd, sys.executable, "-m", "invoke", *args)


NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
# Demo values only: a real team keeps these in Secret Manager (Fase 2).
DEMO_SECRETS = {
    "DATABASE_URL": "postgres://meta:demo-db-password@127.0.0.1:5432/meta_ad_studio",
    "RUNWAYML_API_KEY": "demo-runwayml-key-not-real",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def set_secrets(app: Path) -> None:
    """As a user would: each value on the stdin of `invoke secrets-set`, never in argv."""
    for name, value in DEMO_SECRETS.items():
        argv = (sys.executable, "-m", "invoke", "secrets-set", name, "--env", "local")
        print(f"$ printf %s '<demo value>' | {shlex.join(argv)}", flush=True)
        code = subprocess.run(argv, cwd=app, input=value, text=True,
                              env={**os.environ, **IDENTITY}).returncode
        if code != 0:
            sys.exit(f"demo: step failed (exit {code}): secrets-set {name}")


def stop_previous(app: Path) -> None:
    """A previous demo's services still run; stop them before replacing its folder."""
    if (app / "shipyard.toml").exists():
        run(app, sys.executable, "-m", "invoke", "local-down", check=False)


def scratch_app(base: Path) -> Path:
    """A fresh copy of the sample with a bare remote and main pushed."""
    app, remote = base / "meta-ad-studio", base / "remote.git"
    stop_previous(app)
    if base.exists():
        shutil.rmtree(base)
    shutil.copytree(SAMPLE, app, ignore=shutil.ignore_patterns(".shipyard"))
    git(base, "init", "-q", "--bare", "-b", "main", str(remote))
    git(app, "init", "-q", "-b", "main")
    git(app, "add", "-A")
    git(app, "commit", "-q", "-m", "Meta Ad Studio v1.0 baseline")
    git(app, "remote", "add", "origin", str(remote))
    git(app, "push", "-q", "origin", "main")
    return app


def merge_feature(app: Path) -> None:
    """The v1.1.0 work: a feature branch, pushed, merged into main (Fase 0's starting point)."""
    git(app, "switch", "-q", "-c", FEATURE)
    page = app / "meta-verse-visualizer-main" / "www" / "index.html"
    page.write_text(page.read_text().replace("</body>", "<p>Now with AI video (RunwayML)</p>"
                                                       "</body>"))
    git(app, "commit", "-q", "-am", "Worker provider integration (RunwayML)")
    git(app, "push", "-q", "origin", FEATURE)
    git(app, "switch", "-q", "main")
    git(app, "merge", "-q", "--no-ff", "-m", f"Merge {FEATURE}", FEATURE)
    git(app, "push", "-q", "origin", "main")


def answers(app: Path) -> dict[str, str]:
    """GET /version of every service through the proxy, as a user would."""
    config = tomllib.loads((app / "shipyard.toml").read_text())
    ports = config["environments"]["local"]["proxy_ports"]
    seen = {}
    for service, port in ports.items():
        url = f"http://127.0.0.1:{port}/version"
        with NO_PROXY.open(url, timeout=5) as response:
            seen[service] = response.read().decode().strip()
        print(f"GET {url} -> {seen[service]}", flush=True)
    return seen


def expect(app: Path, version: str) -> None:
    seen = answers(app)
    if set(seen.values()) != {version}:
        sys.exit(f"demo: expected every service to answer {version}, got {seen}")


def down(base: Path) -> None:
    app = base / "meta-ad-studio"
    if not (app / "shipyard.toml").exists():
        print(f"nothing to stop: no demo app in {base}")
        return
    show("stopping the demo's services (registry, nginx, revision containers)")
    invoke(app, "local-down")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=ROOT / ".demo", help="scratch folder")
    parser.add_argument("--down", action="store_true", help="stop a previous demo's services")
    args = parser.parse_args()
    base = args.dir.resolve()
    if args.down:
        down(base)
        return

    show(f"scratch copy of the sample app in {base} (with a scratch bare remote)")
    app = scratch_app(base)
    invoke(app, "--list")

    show("Fase 2: the secrets the services need, each value piped in (never on a command line)")
    set_secrets(app)
    invoke(app, "secrets-check", "--env", "local")
    invoke(app, "secrets-list", "--env", "local")

    show("release v1.0.0 on the embedded default (env local): preflight, tag, build, scan, "
         "push, deploy, verify")
    invoke(app, "release", "--version", "v1.0.0")
    expect(app, "v1.0.0")

    show("the v1.1.0 work lands on main; plan its release first (dry run: runs nothing)")
    merge_feature(app)
    invoke(app, "release", "--version", "v1.1.0", "--dry-run")
    show("release v1.1.0")
    invoke(app, "release", "--version", "v1.1.0")
    invoke(app, "cleanup-branch", "--branch", FEATURE)
    invoke(app, "status")
    expect(app, "v1.1.0")

    show("Fase 5: roll back to the last good release (no rebuild: the paused revisions resume)")
    invoke(app, "rollback")
    expect(app, "v1.0.0")

    show("re-release v1.1.0: every stage finds its work done, only traffic moves")
    invoke(app, "release", "--version", "v1.1.0")
    invoke(app, "status")
    expect(app, "v1.1.0")

    show("done: the services keep running")
    for service, port in tomllib.loads((app / "shipyard.toml").read_text())[
            "environments"]["local"]["proxy_ports"].items():
        print(f"  {service}: http://127.0.0.1:{port}/")
    print(f"app: {app}\nstop them with: nox -s demo -- --down")


if __name__ == "__main__":
    main()
