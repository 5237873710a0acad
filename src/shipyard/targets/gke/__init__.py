"""The `gke` deploy target: `kubectl kustomize` of the environment's overlay with every image
pinned by digest (a generated overlay, no repo file edited), saved under `.shipyard/renders/`,
`kubectl apply --server-side --field-manager=shipyard`, then `kubectl rollout status` for every
Deployment in parallel. A rollback re-applies the last good release's saved render, not
`rollout undo` (which swaps only the pod template and drifts from the repo).

kubectl runs with a kubeconfig private to the run, written by `gcloud container clusters
get-credentials`; the user's ~/.kube/config is never read or written.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from shipyard.commands import gcloud as g
from shipyard.commands import kubectl as k
from shipyard.config.gke import GkeSettings
from shipyard.errors import CommandError, UsageError
from shipyard.exec.runner import Result
from shipyard.exec.tools import tool_version
from shipyard.registries.client import Registry
from shipyard.targets.base import Check, DeployError, DeployPlan, Revision
from shipyard.targets.gcloud_auth import (
    artifact_registry,
    auth_detail,
    gcloud_path,
    gcloud_version,
)
from shipyard.targets.gke import render as r
from shipyard.targets.gke import workloads
from shipyard.targets.gke.lease import DeployLease
from shipyard.targets.gke.saved_renders import SavedRenders
from shipyard.ui import console
from shipyard.version import Version

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext

T = TypeVar("T")
R = TypeVar("R")


class GkeTarget:
    def __init__(self, ctx: RunContext) -> None:
        gcp = ctx.env.gcp
        if gcp is None or gcp.gke is None or not gcp.cluster or not gcp.namespace:
            raise UsageError(f"environment {ctx.env.name!r} is not a GKE environment",
                             hint='the gke target works on target = "gke"')
        self.ctx, self.runner, self.gcp = ctx, ctx.runner, gcp
        self.settings: GkeSettings = gcp.gke
        self.cluster, self.namespace = gcp.cluster, gcp.namespace
        self.gcloud = gcloud_path()
        self.kubectl = shutil.which("kubectl") or "kubectl"
        self._registry, self._login = artifact_registry(ctx, self.gcloud)
        self.renders = SavedRenders(ctx.config.root, ctx.env.name, self.settings.overlay)

    # ----------------------------------------------------------- the Target protocol --

    def preflight_checks(self) -> Sequence[Check]:
        return (Check("gcloud", lambda: gcloud_version(self.ctx, self.gcloud)),
                Check("kubectl", lambda: tool_version(
                    self.runner, (self.kubectl, "version", "--client"), "kubectl")),
                Check("gcloud auth", lambda: auth_detail(self._login)),
                Check("cluster", self._cluster_detail),
                Check("overlay", lambda: self._render_check()),
                *self.ctx.secrets.checks())

    def registry(self) -> Registry:
        return self._registry

    def exclusive(self, action: str, version: str, *, break_lock: bool
                  ) -> AbstractContextManager[None]:
        """The namespace's deploy Lease, so a laptop and Cloud Build never deploy together."""
        return self.lease.held(action, version, break_lock=break_lock)

    @cached_property
    def lease(self) -> DeployLease:
        return DeployLease(self.runner, self.kubectl, lambda: self.kubeconfig, self.namespace,
                           self.settings.lease_duration)

    def up(self, *, serving: bool = True) -> None:
        """Nothing to start: the cluster and Artifact Registry are always there."""

    def down(self) -> None:
        console.note(f"{self.ctx.env.name}: shipyard does not delete workloads from a cluster")

    def deploy(self, plan: DeployPlan) -> list[Revision]:
        text = self.render(plan)
        path = self.save(plan.version, text)
        self.apply(path, plan.version, text)
        return self._revisions(plan, path)

    def shift_traffic(self, plan: DeployPlan, recorded: Mapping[str, Revision]
                      ) -> list[Revision] | None:
        saved = self.renders.path(plan.version)
        if not saved.is_file():
            return None
        console.note(f"{self.ctx.env.name}: re-applying the saved render of {plan.version}")
        self.apply(saved, plan.version, saved.read_text())
        return self._revisions(plan, saved)

    def current(self) -> dict[str, Revision]:
        found: dict[str, Revision] = {}
        by_name = self._deployments()
        for service, workload in self.settings.workloads.items():
            deployment = by_name.get(workload.deployment)
            if deployment is None:
                continue
            status = deployment.get("status") or {}
            if not status.get("availableReplicas"):
                continue  # nothing of it serves
            labels = (deployment.get("metadata") or {}).get("labels") or {}
            image = workloads.running_image(deployment, workload,
                                            f"{self.ctx.env.registry}/{service}")
            found[service] = Revision(
                service=service, version=str(labels.get(r.VERSION_LABEL, "")),
                digest=image.rpartition("@")[2] if "@" in image else "", image=image,
                name=f"deployment/{workload.deployment} generation "
                     f"{(deployment.get('metadata') or {}).get('generation', '?')}",
                url=f"http://{workload.deployment}.{self.namespace}.svc")
        return found

    def verify(self, plan: DeployPlan) -> None:
        """rollout status already waited; here: each Deployment runs the pinned image."""
        serving = self.current()
        for s in plan.services:
            running = serving.get(s.service)
            if running is None or running.image != s.image:
                raise DeployError(f"{s.service}: the cluster runs "
                                  f"{running.image if running else 'nothing'}, not {s.image}",
                                  service=s.service)
        listed = self._deployments() if any(s.env for s in plan.services) else {}
        for s in (s for s in plan.services if s.env):
            deployment = listed.get(self.settings.workloads[s.service].deployment) or {}
            wrong = workloads.env_differences(deployment, s.image, s.env)
            if wrong:
                raise DeployError(f"{s.service}: the cluster's env has {wrong}, not "
                                  f"{dict(s.env)}", service=s.service)

    # -------------------------------------------------------------------- the steps --

    def render(self, plan: DeployPlan) -> str:
        pins = {self.settings.workloads[s.service].image: s.image for s in plan.services}
        text = self._kustomize(pins, str(plan.version))
        if any(s.env for s in plan.services):  # flags: patch the containers the pins found
            text = self._kustomize(pins, str(plan.version), workloads.env_patches(
                plan, text, self.settings, self.namespace))
        leaks = r.secret_values(text)
        if leaks:
            raise UsageError(f"the render of {self.settings.overlay} holds secret values: "
                             f"{', '.join(leaks)}", hint="secrets come from Secret Manager "
                             "through a SecretProviderClass (docs/gke.md), never a Secret")
        return text

    def _kustomize(self, pins: Mapping[str, str], version: str,
                   env: Sequence[r.EnvPatch] = ()) -> str:
        overlay = self.ctx.config.root / self.settings.overlay
        with tempfile.TemporaryDirectory(prefix="shipyard-render-") as folder:
            r.write_overlay(Path(folder), overlay, pins, version, env)
            return self.runner.run(k.kustomize(self.kubectl, Path(folder)), mutates=False,
                                   timeout=120, hint=f"see {self.settings.overlay}").stdout

    def reconfigure(self, plan: DeployPlan, changed: Sequence[str]) -> list[Revision]:
        """The render with the new env applied: only the changed Deployments' pod templates
        differ, so only they roll; rollout status waits for every one."""
        return self.deploy(plan)

    def save(self, version: Version, text: str) -> Path:
        return self.renders.save(version, text, dry_run=self.runner.dry_run)

    def apply(self, path: Path, version: Version, text: str) -> None:
        if self.runner.dry_run:
            self.runner.run(k.apply(self.kubectl, self.kubeconfig, path,
                                    force_conflicts=self.settings.force_conflicts))
            return
        try:
            self.runner.run(k.apply(self.kubectl, self.kubeconfig, path,
                                    force_conflicts=self.settings.force_conflicts), timeout=300)
        except CommandError as exc:
            conflict = "conflict" in exc.stderr_tail.lower()
            raise DeployError(f"kubectl apply of {version} failed: "
                              f"{(exc.stderr_tail.splitlines() or [exc.message])[-1]}",
                              service="(all)", logs=exc.stderr_tail,
                              hint="another field manager owns those fields; set "
                                   "force_conflicts = true to take them over" if conflict
                              else exc.hint) from None
        rendered = r.deployments(text, self.namespace)
        timeout = max([self.settings.rollout_timeout,
                       *(d.progress_deadline + 30 for d in rendered)])
        self._each(lambda d: self._rollout(d, timeout), rendered)

    def _rollout(self, deployment: r.RenderedDeployment, timeout: int) -> None:
        try:
            self.runner.run(k.rollout_status(self.kubectl, self.kubeconfig, deployment.namespace,
                                             deployment.name, timeout), timeout=timeout + 30,
                            mutates=False)
        except CommandError as exc:
            reason = (exc.stderr_tail.splitlines() or [exc.message])[-1]
            raise DeployError(f"deployment/{deployment.name}: {reason}", service=deployment.name,
                              logs=exc.stderr_tail,
                              hint=f"kubectl --namespace {deployment.namespace} describe "
                                   f"deployment/{deployment.name}") from None

    @cached_property
    def kubeconfig(self) -> Path:
        """Credentials for this run only, in a private temp dir."""
        folder = Path(tempfile.mkdtemp(prefix="shipyard-kube-"))
        path = folder / "config"
        self.runner.run(g.get_credentials(self.gcloud, self.cluster, self.gcp.region,
                                          self.gcp.project), mutates=False, timeout=120,
                        env={"KUBECONFIG": str(path)})
        return path

    def _cluster_detail(self) -> str:
        self._read(k.get_namespace(self.kubectl, self.kubeconfig, self.namespace))
        return f"{self.cluster} ({self.gcp.region}): namespace {self.namespace} exists"

    def _render_check(self) -> str:
        text = self.render(DeployPlan(self.ctx.release, tuple()))
        return workloads.check_pinnable(text, self.settings, self.namespace,
                                        self.ctx.env.name)

    def _revisions(self, plan: DeployPlan, path: Path) -> list[Revision]:
        return workloads.deployed_revisions(plan, self.settings, self.namespace, path.name)

    def _deployments(self) -> dict[str, dict[str, Any]]:
        listed = json.loads(self._read(k.get_json(self.kubectl, self.kubeconfig, self.namespace,
                                                  "deployments")).stdout or "{}")
        return {str(d["metadata"]["name"]): d for d in listed.get("items") or []}

    def _read(self, argv: tuple[str, ...]) -> Result:
        return self.runner.run(argv, mutates=False, timeout=120)

    def _each(self, work: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=len(items)) as pool:
            return list(pool.map(work, items))

