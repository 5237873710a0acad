"""One deploy at a time per namespace, across machines: a Kubernetes Lease (coordination.k8s.io/v1).

A laptop and a Cloud Build run do not share shipyard's lock file, but they share the cluster.
The Lease `shipyard-deploy` in the namespace names its holder (user@host, or the Cloud Build
build id), the action and version, and since when (acquireTime, renewTime,
leaseDurationSeconds). Acquire is `kubectl create` (AlreadyExists: somebody holds it); the
holder renews it while it works; release is a DELETE with a precondition on the
resourceVersion it last wrote, so it never deletes a Lease somebody else took.

A holder that died (kill -9, a lost laptop) leaves its Lease behind. Once renewTime +
leaseDurationSeconds is past it is stale, and still refused: only --break-lock takes it over
(a replace carrying the stale resourceVersion, so two breakers cannot both win). A Lease that
is not stale is never broken: its holder renewed it less than a lease duration ago.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from shipyard.commands import kubectl as k
from shipyard.errors import CommandError, ShipyardError
from shipyard.exec.runner import Runner
from shipyard.state.lock import LockHeld
from shipyard.targets.gke.lease_object import (
    LEASE_NAME,
    LeaseHolder,
    holder_identity,
    lease_body,
    parse_time,
)
from shipyard.ui import console

BREAK_HINT = "if no deploy is running, rerun with --break-lock (the rerun resumes)"


def _said(exc: CommandError, reason: str) -> bool:
    return f"({reason})" in exc.stderr_tail


class DeployLease:
    """The namespace's deploy Lease, through kubectl and the runner."""

    def __init__(self, runner: Runner, kubectl: str, kubeconfig: Callable[[], Path],
                 namespace: str, duration: int, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.runner, self.kubectl, self._kubeconfig = runner, kubectl, kubeconfig
        self.namespace, self.duration, self.clock = namespace, duration, clock
        self.where = f"Lease {namespace}/{LEASE_NAME}"
        self._mine: LeaseHolder | None = None  # what we last wrote, while we hold it
        self._guard = threading.Lock()

    @property
    def api_path(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases/{LEASE_NAME}"

    def read(self) -> LeaseHolder | None:
        argv = k.get_object(self.kubectl, self._kubeconfig(), self.namespace, "lease",
                            LEASE_NAME)
        try:
            result = self.runner.run(argv, mutates=False, timeout=60,
                                     hint=f"check access to leases in {self.namespace}")
        except CommandError as exc:
            if _said(exc, "NotFound"):
                return None
            raise
        return LeaseHolder.from_json(json.loads(result.stdout))

    @contextmanager
    def held(self, action: str, version: str, *, break_lock: bool) -> Iterator[None]:
        if self.runner.dry_run:  # a dry run writes nothing; it still says who holds it
            holder = self.read()
            if holder is not None:
                console.note(f"note: the {self.where} is held by "
                             f"{holder.describe(self.clock())}")
            yield
            return
        self._acquire(action, version, break_lock)
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew_until, args=(stop,), daemon=True,
                                   name="lease-renewer")
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            self._release()

    # -------------------------------------------------------------------- the steps --

    def _acquire(self, action: str, version: str, break_lock: bool) -> None:
        identity = holder_identity()
        for _ in range(2):
            now = self.clock()
            body = lease_body(self.namespace, identity, action, version, self.duration, now,
                              now)
            try:
                self._mine = self._write(k.create_from_stdin, body)
                return
            except CommandError as exc:
                if not _said(exc, "AlreadyExists"):
                    raise
            holder = self.read()
            if holder is None:
                continue  # released between our create and our read: try again
            self._refuse_or_break(holder, identity, action, version, break_lock)
            return
        raise ShipyardError(f"could not take the {self.where}", hint="rerun")

    def _refuse_or_break(self, holder: LeaseHolder, identity: str, action: str, version: str,
                         break_lock: bool) -> None:
        now = self.clock()
        if not holder.stale(now):
            raise LockHeld(f"{self.namespace} is being deployed: the {self.where} is held by "
                           f"{holder.describe(now)}",
                           hint="wait for it to finish: one deploy at a time per namespace. "
                                "If that deploy died, its Lease goes stale once a lease "
                                "duration passes without renewal; then --break-lock breaks it")
        if not break_lock:
            raise LockHeld(f"{self.namespace} is locked by a stale {self.where}: "
                           f"{holder.describe(now)}", hint=BREAK_HINT)
        console.note(f"breaking the stale {self.where} of {holder.describe(now)}")
        body = lease_body(self.namespace, identity, action, version, self.duration, now, now,
                          holder.resource_version)
        try:
            self._mine = self._write(k.replace_from_stdin, body)
        except CommandError as exc:
            if not _said(exc, "Conflict") and not _said(exc, "NotFound"):
                raise
            raise LockHeld(f"the stale {self.where} changed while breaking it: another run "
                           "took or released it first", hint="rerun") from None

    def _write(self, builder: Callable[[str, Path, str], tuple[str, ...]], body: str
               ) -> LeaseHolder:
        argv = builder(self.kubectl, self._kubeconfig(), self.namespace)
        result = self.runner.run(argv, stdin=body, timeout=60)
        return LeaseHolder.from_json(json.loads(result.stdout))

    def _renew_until(self, stop: threading.Event) -> None:
        # Three renewals per duration: one late or failed renewal does not let it go stale.
        while not stop.wait(self.duration / 3):
            with self._guard:
                mine = self._mine
                if mine is None:
                    return
                body = lease_body(self.namespace, mine.identity, mine.action, mine.version,
                                  self.duration, parse_time(mine.acquired) or self.clock(),
                                  self.clock(), mine.resource_version)
                try:
                    self._mine = self._write(k.replace_from_stdin, body)
                except CommandError as exc:
                    if _said(exc, "Conflict") or _said(exc, "NotFound"):
                        self._mine = None
                        console.note(f"warning: the {self.where} was broken by another run "
                                     "while this one held it; this deploy no longer excludes "
                                     "others")
                        return
                    console.note(f"warning: could not renew the {self.where} (will retry): "
                                 f"{(exc.stderr_tail.splitlines() or [exc.message])[-1]}")

    def _release(self) -> None:
        with self._guard:
            mine, self._mine = self._mine, None
        if mine is None:
            return
        options = json.dumps({"kind": "DeleteOptions", "apiVersion": "v1",
                              "preconditions": {"resourceVersion": mine.resource_version}})
        try:
            self.runner.run(k.delete_raw(self.kubectl, self._kubeconfig(), self.api_path),
                            stdin=options, timeout=60)
        except CommandError as exc:
            if _said(exc, "NotFound") or _said(exc, "Conflict"):
                console.note(f"warning: the {self.where} is no longer this run's; left it "
                             "alone")
                return
            console.note(f"warning: could not release the {self.where}: "
                         f"{(exc.stderr_tail.splitlines() or [exc.message])[-1]}")
