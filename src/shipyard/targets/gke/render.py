"""The render of one release: the environment's kustomize overlay with every image pinned to
the release's digest, through a generated overlay in a temp dir that references the user's
(no file in the repo is edited), and what the render says about its Deployments."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

VERSION_LABEL = "app.kubernetes.io/version"
MANAGED_LABEL = "app.kubernetes.io/managed-by"
DEFAULT_PROGRESS_DEADLINE = 600  # Kubernetes' default progressDeadlineSeconds


def write_overlay(folder: Path, overlay: Path, pins: Mapping[str, str], version: str,
                  env: Sequence[EnvPatch] = ()) -> Path:
    """kustomization.yaml in `folder`: the user's overlay, images pinned (`pins`: image name in
    the base → REPOSITORY@sha256:...), the version label on every object and pod, and `env`
    set on the containers it names (feature flags)."""
    images = []
    for name, pinned in sorted(pins.items()):
        repository, _, digest = pinned.partition("@")
        images.append({"name": name, "newName": repository, "digest": digest})
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(overlay, folder)],
        "images": images,
        "labels": [{"pairs": {VERSION_LABEL: version, MANAGED_LABEL: "shipyard"},
                    "includeTemplates": True}],
    }
    if env:
        kustomization["patches"] = [p.patch() for p in env]
    path = folder / "kustomization.yaml"
    path.write_text(json.dumps(kustomization, indent=2) + "\n")  # JSON is YAML
    return path


def image_name(reference: str) -> str:
    """The image without its tag or digest (a registry's :port stays)."""
    name = reference.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


@dataclass(frozen=True)
class EnvPatch:
    """Plain env vars on one container of one Deployment, as JSON 6902 operations at the
    container's index: a variable the base sets is replaced in place, a new one appended, and
    nothing else moves (kustomize's strategic merge would put the patched container first,
    reordering a base's sidecars)."""

    deployment: str
    index: int  # the container's position in the rendered pod template
    existing: tuple[str, ...]  # the container's env names in the render, in order
    env: Mapping[str, str]

    def patch(self) -> dict[str, Any]:
        at = f"/spec/template/spec/containers/{self.index}/env"
        ops: list[dict[str, Any]] = [] if self.existing else [
            {"op": "add", "path": at, "value": []}]
        for name, value in sorted(self.env.items()):
            entry = {"name": name, "value": value}
            if name in self.existing:  # the whole entry: a valueFrom must not stay beside it
                ops.append({"op": "replace", "path": f"{at}/{self.existing.index(name)}",
                            "value": entry})
            else:
                ops.append({"op": "add", "path": f"{at}/-", "value": entry})
        return {"target": {"kind": "Deployment", "name": self.deployment},
                "patch": json.dumps(ops)}


def env_of(deployment: Mapping[str, Any], container: str) -> dict[str, str]:
    """The literal env values of one container of a Deployment object."""
    pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    for c in pod.get("containers") or []:
        if c.get("name") == container:
            return {str(e["name"]): str(e.get("value", "")) for e in c.get("env") or []
                    if "name" in e and "valueFrom" not in e}
    return {}


@dataclass(frozen=True)
class RenderedDeployment:
    name: str
    namespace: str
    images: tuple[str, ...]
    progress_deadline: int
    containers: tuple[tuple[str, str], ...] = ()  # (container name, image), in order
    env_names: tuple[tuple[str, ...], ...] = ()  # each container's env names, in order

    def container_for(self, image: str, container: str | None) -> tuple[str, str] | None:
        """The container shipyard pins: the one named, else the one running `image`."""
        for found in self.containers:
            if (found[0] == container) if container else image_name(found[1]) == image:
                return found
        return None


def deployments(render: str, default_namespace: str) -> list[RenderedDeployment]:
    found = []
    for doc in yaml.safe_load_all(render):
        if not isinstance(doc, dict) or doc.get("kind") != "Deployment":
            continue
        meta: dict[str, Any] = doc.get("metadata") or {}
        spec: dict[str, Any] = doc.get("spec") or {}
        pod = ((spec.get("template") or {}).get("spec") or {})
        containers = tuple((str(c.get("name", "")), str(c.get("image", "")))
                           for c in pod.get("containers") or [])
        env_names = tuple(tuple(str(e.get("name", "")) for e in c.get("env") or [])
                          for c in pod.get("containers") or [])
        found.append(RenderedDeployment(
            str(meta.get("name")), str(meta.get("namespace") or default_namespace),
            tuple(image for _, image in containers),
            int(spec.get("progressDeadlineSeconds") or DEFAULT_PROGRESS_DEADLINE), containers,
            env_names))
    return found


def secret_values(render: str) -> list[str]:
    """Objects that would put secret values into the cluster: kind Secret with data."""
    return [f"Secret/{(d.get('metadata') or {}).get('name')}"
            for d in yaml.safe_load_all(render) if isinstance(d, dict)
            and d.get("kind") == "Secret" and (d.get("data") or d.get("stringData"))]
