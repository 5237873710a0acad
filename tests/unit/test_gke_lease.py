"""The deploy Lease's pure parts (who holds it, stale or not, what it says) and its life
through the FakeRunner: create, renew while held, delete guarded by resourceVersion."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipyard.state.lock import LockHeld
from shipyard.targets.gke.lease import DeployLease
from shipyard.targets.gke.lease_object import (
    LEASE_NAME,
    LeaseHolder,
    holder_identity,
    lease_body,
    micro_time,
)
from tests.unit.fakes import Call, FakeRunner, Reply

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
KUBECONFIG = Path("/tmp/shipyard-kube-x/config")


def holder(renewed: datetime, duration: int = 60) -> LeaseHolder:
    return LeaseHolder.from_json(json.loads(lease_body(
        "shop", "cloud-build/b-1", "release", "v1.2.0", duration, renewed - timedelta(minutes=3),
        renewed, "41")))


def test_the_holder_is_the_cloud_build_build_or_user_at_host() -> None:
    assert holder_identity({"BUILD_ID": "8f2c-11"}) == "cloud-build/8f2c-11"
    assert "@" in holder_identity({})


def test_a_lease_is_stale_once_its_duration_passed_unrenewed() -> None:
    fresh = holder(NOW - timedelta(seconds=20))
    assert not fresh.stale(NOW)
    assert fresh.describe(NOW) == ("cloud-build/b-1 (release v1.2.0, since "
                                   "2026-03-01T11:56:40.000000Z; renewed "
                                   "2026-03-01T11:59:40.000000Z, live for 40s more)")
    old = holder(NOW - timedelta(seconds=61))
    assert old.stale(NOW)
    assert "stale since 2026-03-01T11:59:59.000000Z" in old.describe(NOW)
    nameless = LeaseHolder.from_json({"metadata": {"resourceVersion": "3"}, "spec": {}})
    assert nameless.stale(NOW) and "no renewTime" in nameless.describe(NOW)


def test_the_body_is_a_lease_with_holder_times_and_resource_version() -> None:
    body = json.loads(lease_body("shop", "dev@laptop", "deploy", "v1.0.0", 30, NOW, NOW, "7"))
    assert body["kind"] == "Lease" and body["apiVersion"] == "coordination.k8s.io/v1"
    assert body["metadata"]["name"] == LEASE_NAME and body["metadata"]["resourceVersion"] == "7"
    assert body["spec"] == {"holderIdentity": "dev@laptop", "leaseDurationSeconds": 30,
                            "acquireTime": micro_time(NOW), "renewTime": micro_time(NOW)}


def lease_runner(existing: LeaseHolder | None = None) -> FakeRunner:
    runner = FakeRunner()
    versions = itertools.count(100)

    def written(_call: Call) -> Reply:
        return Reply(0, lease_body("shop", "me@here", "deploy", "v1.0.0", 1, NOW, NOW,
                                   str(next(versions))))

    if existing is None:
        runner.on(("kubectl", "--kubeconfig", str(KUBECONFIG), "--namespace", "shop", "create"),
                  written)
    else:
        runner.fail(("kubectl", "--kubeconfig", str(KUBECONFIG), "--namespace", "shop",
                     "create"), 'Error from server (AlreadyExists): leases "x" already exists')
        runner.on(("kubectl", "--kubeconfig", str(KUBECONFIG), "--namespace", "shop", "get"),
                  Reply(0, lease_body("shop", existing.identity, existing.action,
                                      existing.version, existing.duration,
                                      NOW - timedelta(minutes=5), NOW - timedelta(seconds=5),
                                      existing.resource_version)))
    runner.on(("kubectl", "--kubeconfig", str(KUBECONFIG), "--namespace", "shop", "replace"),
              written)
    runner.on(("kubectl", "--kubeconfig", str(KUBECONFIG), "delete", "--raw"))
    return runner


def test_held_creates_renews_and_deletes_only_its_own() -> None:
    runner = lease_runner()
    lease = DeployLease(runner, "kubectl", lambda: KUBECONFIG, "shop", 1)
    with lease.held("deploy", "v1.0.0", break_lock=False):
        time.sleep(0.8)  # a 1 s Lease renews every third of a second
    verbs = [argv[5] if argv[3] == "--namespace" else argv[3] for argv in runner.argvs]
    assert verbs[0] == "create" and verbs[-1] == "delete"
    assert verbs.count("replace") >= 2
    assert runner.argvs[-1][-3:] == (
        "/apis/coordination.k8s.io/v1/namespaces/shop/leases/shipyard-deploy", "-f", "-")


def test_a_live_lease_is_refused_even_with_break_lock() -> None:
    runner = lease_runner(holder(datetime.now(UTC)))
    lease = DeployLease(runner, "kubectl", lambda: KUBECONFIG, "shop", 60,
                        clock=lambda: NOW)
    with pytest.raises(LockHeld, match="held by cloud-build/b-1 \\(release v1.2.0"), \
            lease.held("deploy", "v1.0.0", break_lock=True):
        raise AssertionError("entered a held Lease")
    assert not runner.ran("kubectl", "--kubeconfig", str(KUBECONFIG), "--namespace", "shop",
                          "replace")


def test_a_dry_run_reads_the_lease_and_writes_nothing() -> None:
    runner = lease_runner(holder(NOW))
    runner.dry_run = True
    with DeployLease(runner, "kubectl", lambda: KUBECONFIG, "shop", 60).held(
            "deploy", "v1.0.0", break_lock=False):
        pass
    assert [argv[5] for argv in runner.argvs] == ["get"]
