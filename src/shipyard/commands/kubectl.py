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


def get_object(kubectl: str, kubeconfig: Path, namespace: str, kind: str, name: str) -> Argv:
    return (*_base(kubectl, kubeconfig, namespace), "get", kind, name, "-o", "json")


def create_from_stdin(kubectl: str, kubeconfig: Path, namespace: str) -> Argv:
    """Create the object given on stdin; AlreadyExists (exit 1) when it is there: the create of
    a Lease is the atomic acquire."""
    return (*_base(kubectl, kubeconfig, namespace), "create", "-f", "-", "-o", "json")


def replace_from_stdin(kubectl: str, kubeconfig: Path, namespace: str) -> Argv:
    """Replace the object given on stdin; its metadata.resourceVersion makes the write fail
    with Conflict when someone else wrote the object since it was read."""
    return (*_base(kubectl, kubeconfig, namespace), "replace", "-f", "-", "-o", "json")


def delete_raw(kubectl: str, kubeconfig: Path, api_path: str) -> Argv:
    """DELETE api_path with the DeleteOptions given on stdin: `kubectl delete NAME` has no
    preconditions, and only a precondition on resourceVersion deletes nothing but ours."""
    if not api_path.startswith("/apis/") and not api_path.startswith("/api/"):
        raise ValueError(f"not an API path: {api_path!r}")
    return (*_base(kubectl, kubeconfig, None), "delete", "--raw", api_path, "-f", "-")
