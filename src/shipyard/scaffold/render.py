"""The files `shipyard init` writes, as text: path (relative to the app repo) → content.

Templates live in shipyard/templates/ (package data). shipyard.toml and the kustomizations
are assembled here, because they list the services; the k8s objects come from the
per-service templates in templates/k8s/, filled in with string.Template.
"""

from __future__ import annotations

import socket
from importlib import resources
from string import Template

from shipyard.scaffold.discover import NOBODY, FoundService

REGISTRY_PORT = 5000
FIRST_PROXY_PORT = 8081
# overlay → (namespace suffix, project suffix, minReplicas, maxReplicas)
OVERLAYS = {"staging": ("-staging", "-staging", 1, 3), "prod": ("", "-prod", 2, 6)}
SERVICE_FILES = ("serviceaccount", "deployment", "service", "hpa", "pdb")


def template(path: str) -> str:
    return resources.files("shipyard.templates").joinpath(path).read_text(encoding="utf-8")


def is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int, first: int, taken: set[int]) -> list[int]:
    """`count` ports from `first` up that nothing listens on now and no other choice took."""
    chosen: list[int] = []
    port = first
    while len(chosen) < count and port <= 65535:
        if port not in taken and is_free(port):
            chosen.append(port)
            taken.add(port)
        port += 1
    return chosen


def local_ports(services: list[FoundService], earlier: dict[str, int]) -> tuple[int, list[int]]:
    """The registry port and one proxy port per service: those an earlier init chose (read
    from the existing shipyard.toml, so a rerun writes the same file), else free ones."""
    taken = set(earlier.values())
    registry = earlier.get("", 0) or free_ports(1, REGISTRY_PORT, taken)[0]
    taken.add(registry)
    proxies = [earlier.get(s.name, 0) or free_ports(1, FIRST_PROXY_PORT, taken)[0]
               for s in services]
    return registry, proxies


def shipyard_toml(app: str, branch: str, services: list[FoundService],
                  earlier: dict[str, int]) -> str:
    registry, proxies = local_ports(services, earlier)
    out = [f"# shipyard configuration for {app}, written by `shipyard init`. "
           "Schema: docs/config.md.\n",
           "[project]", f'name = "{app}"', f'release_branch = "{branch}"', 'remote = "origin"',
           f'protected_branches = ["{branch}"]', ""]
    for s in services:
        out += [f"[services.{s.name}]", f'context = "{s.context}"',
                f'dockerfile = "{s.dockerfile}"', f"port = {s.port}",
                '# health_path = "/healthz"   # what answers 200 when the service is up',
                '# secrets = ["DATABASE_URL"] # env names it reads; values never go here', ""]
    out += ["[scan]", 'severity = "CRITICAL"',
            "# Offline machines cannot download trivy's vulnerability DB. Either serve one",
            '# (db_repository = "127.0.0.1:5000/trivy-db") or limit the scanners explicitly:',
            'scanners = ["secret", "misconfig"]', "",
            "# The embedded default: a registry, the Docker engine and nginx on this machine.",
            "# Ports chosen at init time among those free then; change them freely.",
            "[environments.local]", 'target = "local"', f"registry_port = {registry}",
            "keep_revisions = 3", 'secrets_file = ".shipyard/secrets/local.env"', "",
            "[environments.local.proxy_ports]"]
    out += [f"{s.name} = {port}" for s, port in zip(services, proxies, strict=True)]
    out += ["", "# Cloud Run (docs/cloud-run.md): uncomment and fill in.",
            "# [environments.staging]", '# target = "cloudrun"', f'# project = "{app}-staging"',
            '# region = "us-central1"', f'# repository = "{app}"', "",
            "# GKE (docs/gke.md), with the kustomize overlay init wrote.",
            "# [environments.prod]", '# target = "gke"', f'# project = "{app}-prod"',
            '# region = "us-central1"', f'# repository = "{app}"', f'# cluster = "{app}"',
            f'# namespace = "{app}"', '# overlay = "k8s/overlays/prod"', "",
            "# The Cloud Build tag trigger (docs/cloud-build-trigger.md).",
            "# [cloudbuild]", '# github_owner = "OWNER"', f'# github_name = "{app}"',
            '# require_approval = ["prod"]', ""]
    return "\n".join(out)


def k8s_files(app: str, services: list[FoundService]) -> dict[str, str]:
    files: dict[str, str] = {}
    for s in services:
        values = {"service": s.name, "app": app, "port": s.port, "health_path": "/healthz",
                  "uid": s.uid if s.uid is not None else NOBODY,
                  "uid_source": f"USER in {s.dockerfile}" if s.uid is not None
                  else "nobody: set it to the image's USER"}
        for kind in SERVICE_FILES:
            files[f"k8s/base/{s.name}/{kind}.yaml"] = Template(
                template(f"k8s/service/{kind}.yaml")).substitute(values)
    resources_list = "".join(f"  - {s.name}/{kind}.yaml\n" for s in services
                             for kind in SERVICE_FILES)
    images = "".join(f"  - name: {s.name}\n    newTag: unpinned\n" for s in services)
    files["k8s/base/kustomization.yaml"] = Template(
        template("k8s/base-kustomization.yaml")).substitute(
        app=app, resources=resources_list.rstrip("\n"), images=images.rstrip("\n"))
    for env, (ns_suffix, project_suffix, low, high) in OVERLAYS.items():
        values = {"env": env, "namespace": app + ns_suffix, "project": app + project_suffix,
                  "min_replicas": low, "max_replicas": high}
        files[f"k8s/overlays/{env}/kustomization.yaml"] = Template(
            template("k8s/overlay/kustomization.yaml")).substitute(values)
        headers = {"hpa": f"# Replica bounds in {env}: at least {low} of each.\n",
                   "serviceaccount": "# Workload Identity: each Kubernetes service account "
                                     f"acts as its Google service account in "
                                     f"{app + project_suffix}.\n"}
        for kind, name in (("hpa", "hpa"), ("serviceaccount", "serviceaccounts")):
            parts = [Template(template(f"k8s/overlay/{kind}.yaml")).substitute(
                values, service=s.name) for s in services]
            files[f"k8s/overlays/{env}/{name}.yaml"] = headers[kind] + "".join(parts)
    return files


def all_files(app: str, branch: str, services: list[FoundService],
              earlier: dict[str, int]) -> dict[str, str]:
    """`earlier`: the local ports of an existing shipyard.toml ("" for the registry's)."""
    return {"shipyard.toml": shipyard_toml(app, branch, services, earlier),
            "tasks.py": template("tasks.py"),
            "noxfile.py": template("noxfile.py"),
            **{f"ci-cd/{name}": template(f"ci-cd/{name}")
               for name in ("cloudbuild.yaml", "builder.Dockerfile", "requirements.txt")},
            **k8s_files(app, services)}
