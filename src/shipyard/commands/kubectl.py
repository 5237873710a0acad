"""kubectl argv builders: render, server-side apply, rollout status, reads. Pure.

Every builder names the kubeconfig explicitly: shipyard's own, private to the run (written by
`gcloud container clusters get-credentials`), never the user's ~/.kube/config.
"""

from __future__ import annotations

from pathlib import Path

Argv = tuple[str, ...]
FIELD_MANAGER = "shipyard"


def kustomize(kubectl: str, directory: Path) -> Argv:
    # A generated overlay in a temp dir may name the repo's overlay by a relative path:
    # kustomize loads directory resources outside its root without any flag.
    return (kubectl, "kustomize", str(directory))


def _base(kubectl: str, kubeconfig: Path, namespace: str | None) -> list[str]:
    argv = [kubectl, "--kubeconfig", str(kubeconfig)]
    if namespace:
        argv += ["--namespace", namespace]
    return argv


def apply(kubectl: str, kubeconfig: Path, manifest: Path, *, force_conflicts: bool) -> Argv:
    """Server-side apply as field manager `shipyard`. A field another manager owns is a
    conflict: refused (the default) unless the environment says to take it over."""
    return (*_base(kubectl, kubeconfig, None), "apply", "--server-side",
            f"--field-manager={FIELD_MANAGER}", f"--force-conflicts={str(force_conflicts).lower()}",
            "-f", str(manifest))


def rollout_status(kubectl: str, kubeconfig: Path, namespace: str, deployment: str,
                   timeout: int) -> Argv:
    return (*_base(kubectl, kubeconfig, namespace), "rollout", "status",
            f"deployment/{deployment}", f"--timeout={timeout}s")


def get_json(kubectl: str, kubeconfig: Path, namespace: str, kind: str,
             selector: str | None = None) -> Argv:
    argv = [*_base(kubectl, kubeconfig, namespace), "get", kind, "-o", "json"]
    if selector:
        argv += ["--selector", selector]
    return tuple(argv)


def get_namespace(kubectl: str, kubeconfig: Path, namespace: str) -> Argv:
    return (*_base(kubectl, kubeconfig, None), "get", "namespace", namespace, "-o", "name")
