"""How each service's workload (its Deployment, container and base image, from
[environments.ENV.workloads]) is found: in a render, to pin its digest and patch its env, and
in the cluster's Deployment objects, to read what it runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.config.gke import GkeSettings, Workload
from shipyard.errors import UsageError
from shipyard.targets.base import DeployPlan, Revision
from shipyard.targets.gke import render as r


def env_patches(plan: DeployPlan, text: str, settings: GkeSettings, namespace: str
                ) -> list[r.EnvPatch]:
    """The plan's env (feature flags) as patches on the containers the pins found in `text`;
    UsageError for a service whose Deployment runs no container of its image."""
    patches = []
    rendered = {d.name: d for d in r.deployments(text, namespace)}
    for s in (s for s in plan.services if s.env):
        workload = settings.workloads[s.service]
        deployment = workload.deployment
        found = rendered[deployment].container_for(r.image_name(s.image),
                                                   workload.container) \
            if deployment in rendered else None
        container = found[0] if found else None
        if container is None:
            raise UsageError(f"{s.service}: deployment/{deployment} in "
                             f"{settings.overlay} has no container running "
                             f"{s.image.partition('@')[0]}, so its env "
                             f"({', '.join(sorted(s.env))}) has nowhere to go",
                             hint="map the service to its Deployment and image in "
                                  "[environments.ENV.workloads] (docs/gke.md)")
        index = rendered[deployment].containers.index(found)
        patches.append(r.EnvPatch(deployment, index, rendered[deployment].env_names[index],
                                  s.env))
    return patches


def check_pinnable(text: str, settings: GkeSettings, namespace: str, env_name: str) -> str:
    """The preflight's answer: every workload's Deployment is in the render, with a container
    whose digest can be pinned; else UsageError naming the key to set."""
    rendered = {d.name: d for d in r.deployments(text, namespace)}
    missing = [w.deployment for w in settings.workloads.values()
               if w.deployment not in rendered]
    if missing:
        raise UsageError(f"{settings.overlay} renders no Deployment named "
                         f"{', '.join(missing)}", hint="map each service to its Deployment "
                         "in [environments.ENV.workloads] (docs/gke.md)")
    for service, w in settings.workloads.items():
        found = rendered[w.deployment].container_for(w.image, w.container)
        if found is None or r.image_name(found[1]) != w.image:
            what = (f"its container {w.container!r} runs {found[1] if found else 'nothing'}"
                    if w.container else f"no container runs image {w.image}")
            raise UsageError(f"{service}: in {settings.overlay}, deployment/"
                             f"{w.deployment}: {what}, so its digest could not be pinned",
                             hint=f"set [environments.{env_name}.workloads."
                                  f"{service}] image (and container) to what the base "
                                  "uses (docs/gke.md)")
    return f"{settings.overlay} renders {len(rendered)} Deployment(s)"


def running_image(deployment: Mapping[str, Any], workload: Workload, pinned: str) -> str:
    """The image of the service's container: the one the config names, else the one running
    the base's image or the repository shipyard pins it to (a sidecar is never taken)."""
    pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in pod.get("containers") or []:
        image = str(container.get("image", ""))
        if (container.get("name") == workload.container if workload.container
                else r.image_name(image) in (workload.image, pinned)):
            return image
    return ""


def env_differences(deployment: Mapping[str, Any], image: str, env: Mapping[str, str]
                    ) -> dict[str, str | None]:
    """Each variable of `env` the container running `image` does not have as asked: what it
    has instead (None: unset)."""
    containers = ((deployment.get("spec") or {}).get("template") or {}).get(
        "spec", {}).get("containers") or [{}]
    name = next((c.get("name") for c in containers if str(c.get("image")) == image), "")
    found = r.env_of(deployment, str(name))
    return {k: found.get(k) for k, v in env.items() if found.get(k) != v}


def deployed_revisions(plan: DeployPlan, settings: GkeSettings, namespace: str, render_file: str
                       ) -> list[Revision]:
    """The plan's services as revisions of their Deployments, applied from `render_file`."""
    return [Revision(service=s.service, version=str(plan.version),
                     digest=s.image.rpartition("@")[2], image=s.image,
                     name=f"deployment/{settings.workloads[s.service].deployment} "
                          f"({render_file})",
                     url=f"http://{settings.workloads[s.service].deployment}."
                         f"{namespace}.svc") for s in plan.services]
