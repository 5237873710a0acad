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
import os
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
from shipyard.config.gke import GkeSettings, Workload
from shipyard.errors import CommandError, UsageError
from shipyard.exec.runner import Result
from shipyard.exec.tools import tool_version
from shipyard.registries.client import Registry
from shipyard.state.records import write_json
from shipyard.state.workspace import state_dir, state_path
from shipyard.targets.base import Check, DeployError, DeployPlan, Revision
from shipyard.targets.gcloud_auth import (
    artifact_registry,
    auth_detail,
    gcloud_path,
    gcloud_version,
)
from shipyard.targets.gke import render as r
from shipyard.targets.gke.lease import DeployLease
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
        self.renders = state_path(ctx.config.root) / "renders" / ctx.env.name

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
        saved = self.renders / f"{plan.version}.yaml"
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
            image = _running_image(deployment, workload, f"{self.ctx.env.registry}/{service}")
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
            containers = ((deployment.get("spec") or {}).get("template") or {}).get(
                "spec", {}).get("containers") or [{}]
            name = next((c.get("name") for c in containers
                         if str(c.get("image")) == s.image), "")
            env = r.env_of(deployment, str(name))
            wrong = {k: env.get(k) for k, v in s.env.items() if env.get(k) != v}
            if wrong:
                raise DeployError(f"{s.service}: the cluster's env has {wrong}, not "
                                  f"{dict(s.env)}", service=s.service)

    # -------------------------------------------------------------------- the steps --

    def render(self, plan: DeployPlan) -> str:
        pins = {self.settings.workloads[s.service].image: s.image for s in plan.services}
        text = self._kustomize(pins, str(plan.version))
        if any(s.env for s in plan.services):  # flags: patch the containers the pins found
            text = self._kustomize(pins, str(plan.version), self._env_patches(plan, text))
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

    def _env_patches(self, plan: DeployPlan, text: str) -> list[r.EnvPatch]:
        patches = []
        rendered = {d.name: d for d in r.deployments(text, self.namespace)}
        for s in (s for s in plan.services if s.env):
            workload = self.settings.workloads[s.service]
            deployment = workload.deployment
            found = rendered[deployment].container_for(r.image_name(s.image),
                                                       workload.container) \
                if deployment in rendered else None
            container = found[0] if found else None
            if container is None:
                raise UsageError(f"{s.service}: deployment/{deployment} in "
                                 f"{self.settings.overlay} has no container running "
                                 f"{s.image.partition('@')[0]}, so its env "
                                 f"({', '.join(sorted(s.env))}) has nowhere to go",
                                 hint="map the service to its Deployment and image in "
                                      "[environments.ENV.workloads] (docs/gke.md)")
            index = rendered[deployment].containers.index(found)
            patches.append(r.EnvPatch(deployment, index, rendered[deployment].env_names[index],
                                      s.env))
        return patches

    def reconfigure(self, plan: DeployPlan, changed: Sequence[str]) -> list[Revision]:
        """The render with the new env applied: only the changed Deployments' pod templates
        differ, so only they roll; rollout status waits for every one."""
        return self.deploy(plan)

    def save(self, version: Version, text: str) -> Path:
        path = self.renders / f"{version}.yaml"
        if self.runner.dry_run:
            return path
        state_dir(self.ctx.config.root)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)  # a crash never leaves half a render to roll back to
        write_json(path.with_suffix(".json"), {"version": str(version),
                                               "overlay": self.settings.overlay})
        return path

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
        version = self.ctx.release
        plan = DeployPlan(version, tuple())
        text = self.render(plan)
        rendered = {d.name: d for d in r.deployments(text, self.namespace)}
        missing = [w.deployment for w in self.settings.workloads.values()
                   if w.deployment not in rendered]
        if missing:
            raise UsageError(f"{self.settings.overlay} renders no Deployment named "
                             f"{', '.join(missing)}", hint="map each service to its Deployment "
                             "in [environments.ENV.workloads] (docs/gke.md)")
        for service, w in self.settings.workloads.items():
            found = rendered[w.deployment].container_for(w.image, w.container)
            if found is None or r.image_name(found[1]) != w.image:
                what = (f"its container {w.container!r} runs {found[1] if found else 'nothing'}"
                        if w.container else f"no container runs image {w.image}")
                raise UsageError(f"{service}: in {self.settings.overlay}, deployment/"
                                 f"{w.deployment}: {what}, so its digest could not be pinned",
                                 hint=f"set [environments.{self.ctx.env.name}.workloads."
                                      f"{service}] image (and container) to what the base "
                                      "uses (docs/gke.md)")
        return f"{self.settings.overlay} renders {len(rendered)} Deployment(s)"

    def _revisions(self, plan: DeployPlan, path: Path) -> list[Revision]:
        return [Revision(service=s.service, version=str(plan.version),
                         digest=s.image.rpartition("@")[2], image=s.image,
                         name=f"deployment/{self.settings.workloads[s.service].deployment} "
                              f"({path.name})",
                         url=f"http://{self.settings.workloads[s.service].deployment}."
                             f"{self.namespace}.svc") for s in plan.services]

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


def _running_image(deployment: Mapping[str, Any], workload: Workload, pinned: str) -> str:
    """The image of the service's container: the one the config names, else the one running
    the base's image or the repository shipyard pins it to (a sidecar is never taken)."""
    pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in pod.get("containers") or []:
        image = str(container.get("image", ""))
        if (container.get("name") == workload.container if workload.container
                else r.image_name(image) in (workload.image, pinned)):
            return image
    return ""
