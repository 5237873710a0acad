"""One deploy at a time per namespace, across machines: the `shipyard-deploy` Lease, through the
real gcloud and kubectl against the Kubernetes stand-in.

Two "machines" are two copies of the app (each with its own .shipyard/, so shipyard's lock
file cannot see the other): only the Lease in the cluster stands between them. A run killed
with SIGKILL mid-rollout leaves its Lease; the next run reports it truthfully (holder, since,
live or stale), and only --break-lock breaks it, and only once it is stale.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import git
from tests.contract.gke_app import (  # noqa: F401 - fixtures
    LEASE,
    LEASES,
    NAMESPACE,
    Prod,
    gke_cluster_fixture,
    lease_released,
    prod_fixture,
    secret_manager_fixture,
)
from tests.contract.kube_standin import KubeStandIn
from tests.integration.release_fixtures import kill_tree
from tests.support.cli import Ran
from tests.support.git import GIT_IDENTITY

pytestmark = pytest.mark.contract

DURATION = 10  # lease_duration for these tests: short, so a dead holder's Lease goes stale


def micro(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def foreign_lease(kube: KubeStandIn, holder: str, renewed: datetime, duration: int = 60) -> None:
    """A Lease written by another machine (Cloud Build), as its shipyard would write it."""
    body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": LEASE, "namespace": NAMESPACE,
                         "annotations": {"shipyard.dev/action": "release",
                                         "shipyard.dev/version": "v9.9.9"}},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                     "acquireTime": micro(renewed - timedelta(minutes=5)),
                     "renewTime": micro(renewed)}}
    code, answer = kube.call("POST", LEASES, body)
    assert code == 201, answer


def lease_writes(kube: KubeStandIn, since: int) -> list[str]:
    return [f"{r.method} {r.path}" for r in kube.requests_since(since)
            if r.path.startswith(LEASES) and r.method != "GET"]


def short_leases(prod: Prod) -> None:
    config = prod.work / "shipyard.toml"
    config.write_text(config.read_text().replace(
        'overlay = "k8s/overlays/prod"', f'overlay = "k8s/overlays/prod"\n'
                                         f"lease_duration = {DURATION}"))
    git(prod.work, "commit", "-q", "-am", "short leases")
    git(prod.work, "push", "-q", "origin", "main")


def test_a_lease_held_elsewhere_refuses_and_only_break_lock_takes_a_stale_one(
        prod: Prod) -> None:
    kube = prod.cluster.kube
    prod.ok("release", "--version", "v1.1.0", "--env", "prod")
    assert lease_released(kube)

    # Cloud Build holds it, renewed just now: refused naming it, even with --break-lock.
    foreign_lease(kube, "cloud-build/b-4242", datetime.now(UTC))
    mark = kube.mark()
    for flags in ((), ("--break-lock",)):
        held = prod.invoke("deploy-gke", "--version", "v1.1.0", "--env", "prod", *flags)
        assert held.code == 1, held.text
        error = held.line("error: ")
        assert "cloud-build/b-4242 (release v9.9.9, since " in error, error
        assert "live for " in error and "--break-lock" in held.line("hint: ")
    assert kube.get("Lease", LEASE, NAMESPACE)["spec"]["holderIdentity"] == "cloud-build/b-4242"
    assert lease_writes(kube, mark) == [f"POST {LEASES}", f"POST {LEASES}"]  # create, refused
    assert not [r for r in kube.requests_since(mark) if r.method == "PATCH"]  # nothing applied

    # A dry run writes no Lease, and says who holds it.
    mark = kube.mark()
    planned = prod.ok("deploy-gke", "--version", "v1.1.0", "--env", "prod", "--dry-run")
    assert "is held by cloud-build/b-4242" in planned.err
    assert lease_writes(kube, mark) == []

    # Its renewal is 2 minutes late for a 60 s Lease: stale, still refused without the flag.
    kube.call("DELETE", f"{LEASES}/{LEASE}")
    foreign_lease(kube, "cloud-build/b-4242", datetime.now(UTC) - timedelta(minutes=2))
    stale = prod.invoke("deploy-gke", "--version", "v1.1.0", "--env", "prod")
    assert stale.code == 1, stale.text
    assert "stale" in stale.line("error: ") and "cloud-build/b-4242" in stale.line("error: ")
    assert "--break-lock" in stale.line("hint: ")
    broken = prod.ok("deploy-gke", "--version", "v1.1.0", "--env", "prod", "--break-lock")
    assert "breaking the stale Lease" in broken.err
    assert kube.get("Lease", LEASE, NAMESPACE) is None  # ours now, and let go at the end

    # No Lease at all: a dry run creates none.
    mark = kube.mark()
    prod.ok("deploy-gke", "--version", "v1.1.0", "--env", "prod", "--dry-run")
    assert lease_writes(kube, mark) == [] and kube.get("Lease", LEASE, NAMESPACE) is None


def popen_invoke(work: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    full = {**os.environ, **GIT_IDENTITY, "NO_COLOR": "1", "COLUMNS": "200", **env}
    return subprocess.Popen((sys.executable, "-m", "invoke", *args), cwd=work, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def wait_until(check: object, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_two_machines_one_lease_and_a_killed_holder(prod: Prod, tmp_path: Path) -> None:
    kube = prod.cluster.kube
    short_leases(prod)
    prod.ok("release", "--version", "v1.1.0", "--env", "prod")
    laptop = tmp_path / "laptop"  # a second machine: the same app, its own .shipyard/
    shutil.copytree(prod.work, laptop, ignore=shutil.ignore_patterns("locks"))
    other = Prod(laptop, prod.env, prod.cluster)

    # The first machine's v1.2.0 hangs in its rollout, renewing its Lease, until killed.
    prod.change("v1.2.0")
    for step in ("build", "push"):
        prod.ok(step, "--version", "v1.2.0", "--env", "prod")
    bad = json.loads((prod.work / ".shipyard/releases/prod/v1.2.0.json").read_text())
    kube.image_mode(bad["images"]["api-server"]["pinned"], "stuck")
    first = popen_invoke(prod.work, prod.env, "deploy-gke", "--version", "v1.2.0", "--env",
                         "prod")
    try:
        assert wait_until(lambda: any(r.method == "PATCH" for r in kube.requests
                                      if "api-server" in r.path and r.status == 200
                                      and "v1.2.0" in r.raw)), "v1.2.0 was never applied"
        held = kube.get("Lease", LEASE, NAMESPACE)
        assert held is not None
        renewed_rv = held["metadata"]["resourceVersion"]
        # It renews while it waits (every third of the lease duration).
        assert wait_until(lambda: (kube.get("Lease", LEASE, NAMESPACE) or {}).get(
            "metadata", {}).get("resourceVersion") != renewed_rv, timeout=DURATION)
        refused = other.invoke("deploy-gke", "--version", "v1.1.0", "--env", "prod")
    finally:
        kill_tree(first)
    assert refused.code == 1, refused.text
    assert "(deploy v1.2.0, since " in refused.line("error: ") and "live for" in refused.text

    # After the kill: the Lease is still there and still names the dead holder.
    lease = kube.get("Lease", LEASE, NAMESPACE)
    assert lease is not None and lease["metadata"]["annotations"]["shipyard.dev/version"] \
        == "v1.2.0"
    # Within its duration it reads as live, even with --break-lock (it cannot tell dead from
    # slow); once a lease duration passed unrenewed, it reads as stale.
    early = other.invoke("deploy-gke", "--version", "v1.1.0", "--env", "prod", "--break-lock")
    assert early.code == 1 and "live for" in early.line("error: "), early.text
    time.sleep(DURATION + 1)
    late = other.invoke("deploy-gke", "--version", "v1.1.0", "--env", "prod")
    assert late.code == 1 and "stale since" in late.line("error: "), late.text
    assert "(deploy v1.2.0, since " in late.line("error: ")
    assert "--break-lock" in late.line("hint: ")
    done: Ran = other.ok("deploy-gke", "--version", "v1.1.0", "--env", "prod", "--break-lock")
    assert "breaking the stale Lease" in done.err
    assert kube.get("Lease", LEASE, NAMESPACE) is None
    assert prod.images() == {n: i["pinned"] for n, i in json.loads(
        (laptop / ".shipyard/releases/prod/v1.1.0.json").read_text())["images"].items()}
