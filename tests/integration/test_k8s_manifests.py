"""The sample's Kubernetes manifests (examples/meta-ad-studio/k8s), rendered by the real
`kubectl kustomize`, scanned by the real trivy and validated with kubernetes-validate.

Each check is a function that returns its problems, so the same function that passes on the
real manifests is shown to fail on broken copies of them (MUTATIONS, TRIVY_MUTATIONS): a check
that cannot fail checks nothing. docs/gke.md describes the manifests.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shipyard import config as shipyard_config
from shipyard.scan import allowlist
from tests.conftest import require_docker_engine, require_module, require_tool
from tests.support.trivy import trivy_binary

try:
    import kubernetes_validate as kv
    import yaml
except ImportError:  # each test reports the gap: the autouse fixture `modules` below
    kv = yaml = None

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "meta-ad-studio"
K8S = SAMPLE / "k8s"
CONFIG = shipyard_config.load(SAMPLE)
SERVICES = {s.name: s for s in CONFIG.services}
PART_OF = "meta-ad-studio"
UID = 65534  # the images' USER (both Dockerfiles)
# Directories a service writes to (check its entrypoint): the api-server writes
# /tmp/api-server/status.json; the front end writes nothing.
WRITABLE = {"api-server": ("/tmp",), "meta-verse-visualizer-main": ()}
CSI_DRIVER = "secrets-store-gke.csi.k8s.io"
SPC_API = "secrets-store.csi.x-k8s.io/v1"
SECRET_REFS_ANNOTATION = "shipyard/secret-refs"
# A pinned Secret Manager version: projects/PROJECT/[locations/L/]secrets/ID/versions/N, N >= 1.
PINNED = re.compile(r"^projects/(?P<project>[a-z][a-z0-9-]{4,28}[a-z0-9])/"
                    r"(?:locations/[a-z0-9-]+/)?secrets/[A-Za-z0-9_-]{1,255}/versions/[1-9][0-9]*$")
GSA = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]@(?P<project>[a-z][a-z0-9-]{4,28}[a-z0-9])"
                 r"\.iam\.gserviceaccount\.com$")
# The Kubernetes versions the renders must validate against: the oldest we target and the
# newest kubernetes-validate carries.
K8S_OLDEST = "1.30"
# Kinds without a built-in schema, checked by hand (crd_problems).
CRD_KINDS = {(SPC_API, "SecretProviderClass")}
BLOCKING = ("HIGH", "CRITICAL")
DIGESTS = {"api-server": "sha256:" + "a1" * 32,
           "meta-verse-visualizer-main": "sha256:" + "b2" * 32}

Doc = dict[str, Any]


@dataclass(frozen=True)
class Env:
    namespace: str
    project: str
    min_replicas: int  # the least minReplicas any HPA may have


OVERLAYS = {
    "staging": Env("meta-ad-studio-staging", "meta-ad-studio-staging", 1),
    "prod": Env("meta-ad-studio", "meta-ad-studio-prod", 2),
}


# --- running the real tools ---------------------------------------------------------------

@pytest.fixture(autouse=True, scope="module")
def modules() -> None:
    require_module("yaml", "parses the renders", "pip install -e '.[dev]' (PyYAML)")
    require_module("kubernetes_validate", "Kubernetes schemas offline",
                   "pip install -e '.[dev]' (kubernetes-validate)")


@pytest.fixture(scope="module")
def kubectl() -> str:
    return require_tool("kubectl", "renders the overlays with kubectl kustomize",
                        install="the Google Cloud SDK's kubectl (apt-get install kubectl)")


@pytest.fixture(scope="module")
def trivy() -> str:
    return trivy_binary()


@pytest.fixture(scope="module")
def tool_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A HOME and KUBECONFIG of our own: the user's kube config and caches stay out of it."""
    home = tmp_path_factory.mktemp("home")
    return {**os.environ, "HOME": str(home), "KUBECONFIG": str(home / "kubeconfig"),
            "XDG_CACHE_HOME": str(home / ".cache")}


class RenderError(Exception):
    pass


def render_text(kubectl: str, env: dict[str, str], directory: Path) -> str:
    done = subprocess.run((kubectl, "kustomize", str(directory)), capture_output=True,
                          text=True, timeout=120, env=env, check=False)
    if done.returncode != 0:
        raise RenderError(f"kubectl kustomize {directory}: {done.stderr.strip()[-600:]}")
    return done.stdout


def parse(text: str) -> list[Doc]:
    return [d for d in yaml.safe_load_all(text) if d]


def run_trivy(trivy: str, env: dict[str, str], target: Path, cache: Path) -> dict[str, Any]:
    """`trivy config` on TARGET, every severity, as JSON; trivy's own ignore files unused."""
    argv = (trivy, "config", "--skip-check-update", "--skip-version-check",
            "--disable-telemetry", "--quiet", "--cache-dir", str(cache), "--config", "",
            "--ignorefile", "", "--format", "json", str(target))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def trivy_blocking(report: dict[str, Any], allow: allowlist.AllowList,
                   today: dt.date) -> list[str]:
    """Findings at HIGH or above that no active allow-list entry accepts."""
    active = allow.active(today)
    problems = []
    for result in report.get("Results") or []:
        for finding in result.get("Misconfigurations") or []:
            if finding.get("Status", "FAIL") != "FAIL" or finding["Severity"] not in BLOCKING:
                continue
            named = [s for s in SERVICES if f"'{s}'" in finding.get("Message", "")] or [""]
            if any(e.covers(finding["ID"], s) for e in active for s in named):
                continue
            problems.append(f"{result['Target']}: {finding['ID']} {finding['Severity']} "
                            f"{finding.get('Message', finding.get('Title', ''))}")
    return problems


# --- the checks ---------------------------------------------------------------------------

def of_kind(docs: Iterable[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == kind}


def dig(doc: Any, *keys: Any) -> Any:
    for key in keys:
        try:
            doc = doc[key]
        except (KeyError, IndexError, TypeError):
            return None
    return doc


def label_problems(where: str, labels: dict[str, str] | None, service: str) -> list[str]:
    want = {"app.kubernetes.io/name": service, "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/managed-by": "shipyard"}
    labels = labels or {}
    return [f"{where}: label {k}={labels.get(k)!r}, want {v!r}"
            for k, v in want.items() if labels.get(k) != v]


def probe_problems(where: str, container: Doc, health_path: str, port: int) -> list[str]:
    problems = []
    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = dig(container, kind, "httpGet")
        if not get:
            problems.append(f"{where}: no {kind} (httpGet {health_path})")
            continue
        target = ports.get(get.get("port")) if isinstance(get.get("port"), str) else get.get("port")
        if get.get("path") != health_path or target != port:
            problems.append(f"{where}: {kind} asks {get.get('path')!r} on port "
                            f"{get.get('port')!r}, want {health_path} on {port}")
    return problems


def container_security_problems(where: str, container: Doc) -> list[str]:
    sc = container.get("securityContext") or {}
    want = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "runAsNonRoot": True}
    problems = [f"{where}: securityContext.{k} is {sc.get(k)!r}, want {v!r}"
                for k, v in want.items() if sc.get(k) is not v]
    if sc.get("privileged") is True:
        problems.append(f"{where}: securityContext.privileged is true")
    if dig(sc, "capabilities", "drop") != ["ALL"] or dig(sc, "capabilities", "add"):
        problems.append(f"{where}: capabilities {sc.get('capabilities')!r}, want drop [ALL] "
                        "and nothing added")
    if sc.get("runAsUser") not in (None, UID):
        problems.append(f"{where}: securityContext.runAsUser {sc.get('runAsUser')!r}, "
                        f"want {UID}")
    if dig(sc, "seccompProfile", "type") not in (None, "RuntimeDefault"):
        problems.append(f"{where}: seccompProfile {sc.get('seccompProfile')!r}")
    return problems


def resource_problems(where: str, container: Doc) -> list[str]:
    resources = container.get("resources") or {}
    return [f"{where}: resources.{side}.{what} is not set"
            for side in ("requests", "limits") for what in ("cpu", "memory")
            if not dig(resources, side, what)]


def deployment_problems(docs: list[Doc]) -> list[str]:
    """Every Deployment: probes, requests and limits, a locked-down securityContext, no
    replicas (the HPA owns them), no service-account token, the standard labels."""
    problems = []
    deployments = of_kind(docs, "Deployment")
    accounts = of_kind(docs, "ServiceAccount")
    for name, dep in deployments.items():
        service = SERVICES.get(name)
        if service is None:
            problems.append(f"Deployment {name}: not a service of shipyard.toml")
            continue
        where = f"Deployment {name}"
        if "replicas" in dep["spec"]:
            problems.append(f"{where}: sets replicas ({dep['spec']['replicas']}); its "
                            "HorizontalPodAutoscaler owns them")
        problems += label_problems(where, dep["metadata"].get("labels"), name)
        problems += label_problems(f"{where} pod template",
                                   dig(dep, "spec", "template", "metadata", "labels"), name)
        selector = dig(dep, "spec", "selector", "matchLabels") or {}
        pod_labels = dig(dep, "spec", "template", "metadata", "labels") or {}
        if not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
            problems.append(f"{where}: selector {selector} does not match its pod labels")
        pod = dep["spec"]["template"]["spec"]
        psc = pod.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True or psc.get("runAsUser") != UID:
            problems.append(f"{where}: pod securityContext runAsNonRoot/runAsUser "
                            f"{psc.get('runAsNonRoot')!r}/{psc.get('runAsUser')!r}, want "
                            f"true/{UID}")
        if dig(psc, "seccompProfile", "type") != "RuntimeDefault":
            problems.append(f"{where}: pod seccompProfile {psc.get('seccompProfile')!r}, "
                            "want RuntimeDefault")
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(key):
                problems.append(f"{where}: {key} is set")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: automountServiceAccountToken is "
                            f"{pod.get('automountServiceAccountToken')!r}, want false")
        if pod.get("serviceAccountName") not in accounts:
            problems.append(f"{where}: serviceAccountName {pod.get('serviceAccountName')!r} "
                            "is not a ServiceAccount of the render")
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        problems += [f"{where}: volume {v} is a hostPath"
                     for v, spec in volumes.items() if "hostPath" in spec]
        containers = pod.get("containers") or []
        if [c["name"] for c in containers] != [name]:
            problems.append(f"{where}: containers {[c['name'] for c in containers]}, "
                            f"want [{name}]")
        for container in [*containers, *(pod.get("initContainers") or [])]:
            cwhere = f"{where} container {container['name']}"
            problems += probe_problems(cwhere, container, service.health_path, service.port)
            problems += resource_problems(cwhere, container)
            problems += container_security_problems(cwhere, container)
            mounts = {m["mountPath"]: m for m in container.get("volumeMounts") or []}
            for path in WRITABLE.get(name, ()):
                volume = volumes.get(dig(mounts, path, "name"), {})
                if "emptyDir" not in volume or dig(mounts, path, "readOnly"):
                    problems.append(f"{cwhere}: {path} must be a writable emptyDir (the "
                                    "root filesystem is read-only)")
            ports = [p.get("containerPort") for p in container.get("ports") or []]
            if ports != [service.port]:
                problems.append(f"{cwhere}: container ports {ports}, want [{service.port}]")
    return problems


def service_set_problems(docs: list[Doc], env: Env) -> list[str]:
    """Every service has its Deployment, Service, HPA, PDB and ServiceAccount, set up for ENV:
    its namespace, its Workload Identity account, its replica bounds; no placeholder left."""
    problems = []
    kinds = {k: of_kind(docs, k) for k in ("Deployment", "Service", "HorizontalPodAutoscaler",
                                           "PodDisruptionBudget", "ServiceAccount")}
    for name, service in SERVICES.items():
        missing = [k for k, objs in kinds.items() if name not in objs]
        if missing:
            problems.append(f"service {name}: no {', '.join(missing)} in the render")
            continue
        pods = dig(kinds["Deployment"][name], "spec", "template", "metadata", "labels") or {}
        svc = kinds["Service"][name]["spec"]
        if svc.get("type", "ClusterIP") != "ClusterIP":
            problems.append(f"Service {name}: type {svc.get('type')}, want ClusterIP")
        if [(p.get("port"), p.get("targetPort")) for p in svc.get("ports") or []] not in (
                [(80, "http")], [(80, service.port)]):
            problems.append(f"Service {name}: ports {svc.get('ports')}, want 80 -> "
                            f"{service.port}")
        if not svc.get("selector") or any(pods.get(k) != v for k, v in svc["selector"].items()):
            problems.append(f"Service {name}: selector {svc.get('selector')} selects no pod")
        hpa = kinds["HorizontalPodAutoscaler"][name]
        if hpa["apiVersion"] != "autoscaling/v2":
            problems.append(f"HorizontalPodAutoscaler {name}: {hpa['apiVersion']}")
        spec = hpa["spec"]
        if spec.get("scaleTargetRef") != {"apiVersion": "apps/v1", "kind": "Deployment",
                                          "name": name}:
            problems.append(f"HorizontalPodAutoscaler {name}: scales {spec.get('scaleTargetRef')}")
        if not any(dig(m, "resource", "name") == "cpu" for m in spec.get("metrics") or []):
            problems.append(f"HorizontalPodAutoscaler {name}: no CPU target")
        low, high = spec.get("minReplicas", 1), spec.get("maxReplicas", 0)
        if low < env.min_replicas or high < low:
            problems.append(f"HorizontalPodAutoscaler {name}: minReplicas {low}, maxReplicas "
                            f"{high}; want minReplicas >= {env.min_replicas} <= maxReplicas")
        pdb = kinds["PodDisruptionBudget"][name]
        selector = dig(pdb, "spec", "selector", "matchLabels") or {}
        if pdb["apiVersion"] != "policy/v1" or not selector or any(
                pods.get(k) != v for k, v in selector.items()):
            problems.append(f"PodDisruptionBudget {name}: {pdb['apiVersion']}, selector "
                            f"{selector} does not select the pods")
        account = dig(kinds["ServiceAccount"][name], "metadata", "annotations",
                      "iam.gke.io/gcp-service-account") or ""
        match = GSA.match(account)
        if not match or match["project"] != env.project:
            problems.append(f"ServiceAccount {name}: iam.gke.io/gcp-service-account "
                            f"{account!r} is not an account of project {env.project}")
    for doc in docs:
        where = f"{doc['kind']} {doc['metadata']['name']}"
        if doc["metadata"].get("namespace") != env.namespace:
            problems.append(f"{where}: namespace {doc['metadata'].get('namespace')!r}, want "
                            f"{env.namespace!r}")
        if "PROJECT_ID" in json.dumps(doc):
            problems.append(f"{where}: the base's PROJECT_ID placeholder is still there")
    return problems


def spc_entries(spc: Doc) -> list[Doc]:
    entries = yaml.safe_load(dig(spc, "spec", "parameters", "secrets") or "") or []
    return entries if isinstance(entries, list) else []


def secret_problems(docs: list[Doc], env: Env) -> list[str]:
    """No secret value anywhere: no Secret with data, no secret name as a plain env value;
    each secret a service lists is a file from the Secret Manager volume, pinned to a numeric
    version of ENV's project, and the pod template carries the pinned list (so a new version
    rolls the pods)."""
    problems = []
    for doc in docs:
        if doc.get("kind") == "Secret" and (doc.get("data") or doc.get("stringData")):
            keys = sorted({*(doc.get("data") or {}), *(doc.get("stringData") or {})})
            problems.append(f"Secret {doc['metadata']['name']}: holds values ({', '.join(keys)})")
    spcs = of_kind(docs, "SecretProviderClass")
    for name, dep in of_kind(docs, "Deployment").items():
        secrets = SERVICES[name].secrets if name in SERVICES else ()
        pod = dep["spec"]["template"]["spec"]
        for container in pod.get("containers") or []:
            for var in container.get("env") or []:
                if var["name"] in secrets:
                    problems.append(f"Deployment {name}: env {var['name']} is set in the pod "
                                    "spec; a secret must arrive as a file")
                if dig(var, "valueFrom", "secretKeyRef"):
                    problems.append(f"Deployment {name}: env {var['name']} reads a Kubernetes "
                                    "Secret")
            for source in container.get("envFrom") or []:
                if "secretRef" in source:
                    problems.append(f"Deployment {name}: envFrom a Kubernetes Secret")
        if not secrets:
            continue
        csi = [v for v in pod.get("volumes") or [] if dig(v, "csi", "driver") == CSI_DRIVER]
        if len(csi) != 1:
            problems.append(f"Deployment {name}: {len(csi)} {CSI_DRIVER} volumes, want 1")
            continue
        spc_name = dig(csi[0], "csi", "volumeAttributes", "secretProviderClass")
        spc = spcs.get(spc_name)
        if spc is None:
            problems.append(f"Deployment {name}: SecretProviderClass {spc_name!r} is not in "
                            "the render")
            continue
        if dig(dep, "spec", "template", "metadata", "annotations",
               SECRET_REFS_ANNOTATION) != dig(spc, "spec", "parameters", "secrets"):
            problems.append(f"Deployment {name}: pod annotation {SECRET_REFS_ANNOTATION} is not "
                            f"SecretProviderClass {spc_name}'s secrets list: a change of "
                            "version would not roll the pods")
        entries = {e.get("path"): e.get("resourceName", "") for e in spc_entries(spc)
                   if isinstance(e, dict)}
        container = pod["containers"][0]
        mount = next((m for m in container.get("volumeMounts") or []
                      if m["name"] == csi[0]["name"]), None)
        env_vars = {v["name"]: v.get("value") for v in container.get("env") or []}
        for secret in secrets:
            ref = entries.get(secret, "")
            match = PINNED.match(ref)
            if not match:
                problems.append(f"SecretProviderClass {spc_name}: {secret} -> {ref!r} is not "
                                "a pinned numeric version")
            elif match["project"] != env.project:
                problems.append(f"SecretProviderClass {spc_name}: {secret} is in project "
                                f"{match['project']}, want {env.project}")
            want = f"{mount['mountPath'] if mount else '?'}/{secret}"
            if not mount or env_vars.get(f"{secret}_FILE") != want:
                problems.append(f"Deployment {name}: {secret}_FILE is "
                                f"{env_vars.get(secret + '_FILE')!r}, want {want}")
        extra = sorted(set(entries) - set(secrets))
        if extra:
            problems.append(f"SecretProviderClass {spc_name}: mounts {extra}, which "
                            f"{name} does not list in shipyard.toml")
    return problems


def crd_problems(doc: Doc) -> list[str]:
    """The shape of a SecretProviderClass, by hand (no schema ships for it): the GKE add-on's
    provider, only `secrets` as a parameter, no secretObjects (the add-on does not sync to
    Kubernetes Secrets, and a synced Secret would put the values in etcd)."""
    where = f"SecretProviderClass {dig(doc, 'metadata', 'name')}"
    problems = []
    unknown = sorted(set(doc) - {"apiVersion", "kind", "metadata", "spec"})
    if unknown:
        problems.append(f"{where}: unknown top-level fields {unknown}")
    meta = doc.get("metadata") or {}
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", str(meta.get("name", ""))):
        problems.append(f"{where}: metadata.name is not a DNS-1123 subdomain")
    spec = doc.get("spec") or {}
    if set(spec) != {"provider", "parameters"}:
        problems.append(f"{where}: spec fields {sorted(spec)}, want provider and parameters")
    if spec.get("provider") != "gke":
        problems.append(f"{where}: provider {spec.get('provider')!r}, want 'gke' (the GKE "
                        "Secret Manager add-on)")
    params = spec.get("parameters") or {}
    if set(params) != {"secrets"} or not all(isinstance(v, str) for v in params.values()):
        problems.append(f"{where}: parameters {sorted(params)}, want only 'secrets' (a string)")
    entries = yaml.safe_load(params.get("secrets") or "null") if isinstance(
        params.get("secrets"), str) else None
    if not isinstance(entries, list) or not entries:
        return [*problems, f"{where}: parameters.secrets is not a list of secrets"]
    paths = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != {"resourceName", "path"}:
            problems.append(f"{where}: secrets[{i}] has {entry!r}, want resourceName and path")
            continue
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", str(entry["path"])):
            problems.append(f"{where}: secrets[{i}].path {entry['path']!r} is not a plain "
                            "file name")
        paths.append(entry["path"])
    if len(paths) != len(set(paths)):
        problems.append(f"{where}: two secrets share a path")
    return problems


def schema_problems(docs: list[Doc]) -> list[str]:
    """Built-in kinds against the strict schemas of K8S_OLDEST and of the newest Kubernetes
    kubernetes-validate knows; the CRD kinds by hand; any other kind is a problem (it could
    not be checked)."""
    problems = []
    for doc in docs:
        where = f"{doc.get('kind')} {dig(doc, 'metadata', 'name')}"
        if (doc.get("apiVersion"), doc.get("kind")) in CRD_KINDS:
            problems += crd_problems(doc)
            continue
        for version in (K8S_OLDEST, kv.latest_version()):
            try:
                kv.validate(doc, version, strict=True)
            except kv.SchemaNotFoundError:
                problems.append(f"{where}: no schema for {doc.get('apiVersion')} in "
                                f"Kubernetes {version}, and not a CRD this test checks")
                break
            except kv.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                problems.append(f"{where}: Kubernetes {version}: {path}: {exc.message}")
    return problems


def without_images(docs: list[Doc]) -> list[Doc]:
    out = copy.deepcopy(docs)
    for doc in out:
        pod = dig(doc, "spec", "template", "spec") or {}
        for container in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]:
            container["image"] = "<image>"
    return out


def differences(a: Any, b: Any, path: str = "") -> Iterator[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            yield from differences(a.get(key), b.get(key), f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from differences(x, y, f"{path}[{i}]")
    elif a != b:
        yield path or "."


def pin_problems(plain: list[Doc], pinned: list[Doc], images: dict[str, str]) -> list[str]:
    """PINNED is PLAIN with each service's image at exactly IMAGES[service] and nothing else
    changed: the same objects, in the same order, field for field."""
    problems = []
    for name, dep in of_kind(pinned, "Deployment").items():
        got = [c["image"] for c in dep["spec"]["template"]["spec"]["containers"]]
        if got != [images.get(name)]:
            problems.append(f"Deployment {name}: image {got}, want [{images.get(name)}]")
    for name, dep in of_kind(plain, "Deployment").items():
        got = [c["image"] for c in dep["spec"]["template"]["spec"]["containers"]]
        if got != [f"{name}:unpinned"]:
            problems.append(f"Deployment {name}: unpinned render has image {got}, want "
                            f"[{name}:unpinned] (an overlay renamed the image handle?)")
    keys = [(d["apiVersion"], d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])
            for d in plain]
    if keys != [(d["apiVersion"], d["kind"], d["metadata"].get("namespace"),
                 d["metadata"]["name"]) for d in pinned]:
        problems.append("the pinned render holds other objects than the plain one")
        return problems
    for key, a, b in zip(keys, without_images(plain), without_images(pinned), strict=True):
        problems += [f"{key[1]} {key[3]}: {p} differs from the plain render"
                     for p in differences(a, b)]
    return problems


# --- fixtures: the renders ----------------------------------------------------------------

def generated_overlay(directory: Path, overlay: Path, images: dict[str, str],
                      extra: str = "") -> Path:
    """What a deploy renders: an overlay in a temp dir over the environment's, pinning digests."""
    directory.mkdir(parents=True, exist_ok=True)
    registry = CONFIG.environments["prod"].registry
    entries = "".join(f"  - name: {name}\n    newName: {registry}/{name}\n    digest: {digest}\n"
                      for name, digest in images.items())
    (directory / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {os.path.relpath(overlay, directory)}\nimages:\n{entries}{extra}")
    return directory


def pinned_images() -> dict[str, str]:
    registry = CONFIG.environments["prod"].registry
    return {name: f"{registry}/{name}@{digest}" for name, digest in DIGESTS.items()}


@dataclass(frozen=True)
class Renders:
    plain: dict[str, str]  # overlay -> text
    pinned: dict[str, str]


@pytest.fixture(scope="module")
def renders(kubectl: str, tool_env: dict[str, str],
            tmp_path_factory: pytest.TempPathFactory) -> Renders:
    tmp = tmp_path_factory.mktemp("generated")
    plain = {o: render_text(kubectl, tool_env, K8S / "overlays" / o) for o in OVERLAYS}
    pinned = {o: render_text(kubectl, tool_env,
                             generated_overlay(tmp / o, K8S / "overlays" / o, DIGESTS))
              for o in OVERLAYS}
    return Renders(plain, pinned)


# --- the tests ----------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_render_passes_every_check(renders: Renders, overlay: str) -> None:
    docs = parse(renders.plain[overlay])
    env = OVERLAYS[overlay]
    assert deployment_problems(docs) == []
    assert service_set_problems(docs, env) == []
    assert secret_problems(docs, env) == []
    assert schema_problems(docs) == []
    assert {d["kind"] for d in docs} == {"Deployment", "Service", "HorizontalPodAutoscaler",
                                         "PodDisruptionBudget", "ServiceAccount",
                                         "SecretProviderClass"}


def test_prod_overlay_is_the_one_shipyard_toml_names() -> None:
    prod = CONFIG.environments["prod"]
    assert prod.target == "gke" and prod.gcp is not None
    assert prod.gcp.gke is not None
    assert SAMPLE / prod.gcp.gke.overlay == K8S / "overlays" / "prod"
    assert OVERLAYS["prod"].namespace == prod.gcp.namespace
    assert OVERLAYS["prod"].project == prod.gcp.project


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_golden_render_pins_the_digests_and_changes_nothing_else(renders: Renders,
                                                                 overlay: str) -> None:
    plain, pinned = parse(renders.plain[overlay]), parse(renders.pinned[overlay])
    assert pin_problems(plain, pinned, pinned_images()) == []
    # What is applied passes the same checks as the plain render.
    env = OVERLAYS[overlay]
    assert deployment_problems(pinned) + service_set_problems(pinned, env) == []
    assert secret_problems(pinned, env) + schema_problems(pinned) == []


def test_trivy_finds_nothing_high_in_k8s_or_in_any_render(
        renders: Renders, trivy: str, tool_env: dict[str, str], tmp_path: Path) -> None:
    scan = tmp_path / "scan"
    shutil.copytree(K8S, scan / "k8s")
    for overlay in OVERLAYS:
        (scan / f"{overlay}.render.yaml").write_text(renders.plain[overlay])
        (scan / f"{overlay}.pinned.yaml").write_text(renders.pinned[overlay])
    report = run_trivy(trivy, tool_env, scan, tmp_path / "cache")
    targets = {r["Target"] for r in report.get("Results") or []}
    # trivy read every render and every manifest (a file it skipped would pass silently).
    assert {f"{o}.{k}.yaml" for o in OVERLAYS for k in ("render", "pinned")} <= targets
    assert "k8s/base/api-server/deployment.yaml" in targets
    allow = allowlist.load(SAMPLE / CONFIG.environments["prod"].scan.allowlist, SERVICES)
    assert trivy_blocking(report, allow, dt.date.today()) == []


# --- the checks fail when the manifests break ---------------------------------------------

Edit = Callable[[list[Doc]], None]


def edit_yaml(root: Path, rel: str, change: Edit) -> None:
    path = root / rel
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    change(docs)
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def container(docs: list[Doc]) -> Doc:
    result: Doc = docs[0]["spec"]["template"]["spec"]["containers"][0]
    return result


def pod(docs: list[Doc]) -> Doc:
    result: Doc = docs[0]["spec"]["template"]["spec"]
    return result


def add_resource(root: Path, rel: str, text: str) -> None:
    (root / rel).write_text(text)
    edit_yaml(root, "base/kustomization.yaml",
              lambda d: d[0]["resources"].append(Path(rel).relative_to("base").as_posix()))


API = "base/api-server/deployment.yaml"
WEB = "base/meta-verse-visualizer-main/deployment.yaml"
PLAINTEXT_SECRET = """apiVersion: v1
kind: Secret
metadata:
  name: api-server-env
type: Opaque
stringData:
  DATABASE_URL: postgres://app:hunter2@10.0.0.5/app
"""
UNKNOWN_KIND = """apiVersion: monitoring.googleapis.com/v1
kind: PodMonitoring
metadata:
  name: api-server
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: api-server
  endpoints:
    - port: http
"""


def _set(keys: tuple[Any, ...], value: Any) -> Callable[[Any], None]:
    def change(obj: Any) -> None:
        for key in keys[:-1]:
            obj = obj.setdefault(key, {}) if isinstance(obj, dict) else obj[key]
        obj[keys[-1]] = value
    return change


def _drop_patch(name: str) -> Edit:
    def change(docs: list[Doc]) -> None:
        docs[0]["patches"] = [p for p in docs[0]["patches"] if p.get("path") != name]
    return change


def _delete(api_version: str, kind: str, name: str) -> Edit:
    """An overlay patch that deletes an object of the base."""
    def change(docs: list[Doc]) -> None:
        docs[0]["patches"].append({"patch": f"$patch: delete\napiVersion: {api_version}\n"
                                            f"kind: {kind}\nmetadata:\n  name: {name}\n"})
    return change


def _secret_version(old: str, new: str) -> Edit:
    def change(docs: list[Doc]) -> None:
        params = docs[0]["spec"]["parameters"]
        assert old in params["secrets"]
        params["secrets"] = params["secrets"].replace(old, new)
    return change


# (id, file under k8s/, change, overlay, check, words the check's problem must hold)
MUTATIONS: list[tuple[str, str, Edit, str, str, str]] = [
    ("no-readiness-probe", API, lambda d: container(d).pop("readinessProbe"),
     "prod", "deployment", "no readinessProbe"),
    ("liveness-on-wrong-path", WEB, lambda d: _set(("livenessProbe", "httpGet", "path"), "/")(
        container(d)), "staging", "deployment", "livenessProbe asks '/'"),
    ("no-startup-probe", WEB, lambda d: container(d).pop("startupProbe"),
     "staging", "deployment", "no startupProbe"),
    ("privileged", API, lambda d: _set(("securityContext", "privileged"), True)(container(d)),
     "prod", "deployment", "privileged is true"),
    ("writable-root", WEB,
     lambda d: _set(("securityContext", "readOnlyRootFilesystem"), False)(container(d)),
     "prod", "deployment", "readOnlyRootFilesystem is False"),
    ("privilege-escalation", API, lambda d: container(d)["securityContext"].pop(
        "allowPrivilegeEscalation"), "prod", "deployment", "allowPrivilegeEscalation is None"),
    ("capability-added", API,
     lambda d: _set(("securityContext", "capabilities", "add"), ["NET_ADMIN"])(container(d)),
     "prod", "deployment", "capabilities"),
    ("runs-as-root", WEB, lambda d: _set(("securityContext", "runAsUser"), 0)(pod(d)),
     "prod", "deployment", "runAsUser"),
    ("no-seccomp", WEB, lambda d: pod(d)["securityContext"].pop("seccompProfile"),
     "prod", "deployment", "seccompProfile None"),
    ("no-tmp-volume", API, lambda d: container(d)["volumeMounts"].pop(0),
     "staging", "deployment", "/tmp must be a writable emptyDir"),
    ("host-network", WEB, lambda d: pod(d).update(hostNetwork=True),
     "prod", "deployment", "hostNetwork is set"),
    ("no-memory-limit", API, lambda d: container(d)["resources"]["limits"].pop("memory"),
     "staging", "deployment", "resources.limits.memory is not set"),
    ("replicas-set", WEB, lambda d: d[0]["spec"].update(replicas=3),
     "prod", "deployment", "sets replicas"),
    ("token-mounted", API, lambda d: pod(d).update(automountServiceAccountToken=True),
     "prod", "deployment", "automountServiceAccountToken is True"),
    ("no-managed-by-label", "base/kustomization.yaml",
     lambda d: d[0]["labels"][0]["pairs"].pop("app.kubernetes.io/managed-by"),
     "prod", "deployment", "app.kubernetes.io/managed-by"),
    ("no-hpa", "overlays/prod/kustomization.yaml",
     _delete("autoscaling/v2", "HorizontalPodAutoscaler", "meta-verse-visualizer-main"),
     "prod", "service-set", "no HorizontalPodAutoscaler"),
    ("no-pdb", "base/kustomization.yaml", lambda d: d[0]["resources"].remove(
        "api-server/pdb.yaml"), "staging", "service-set", "no PodDisruptionBudget"),
    ("no-serviceaccount", "overlays/prod/kustomization.yaml",
     _delete("v1", "ServiceAccount", "api-server"), "prod", "service-set", "no ServiceAccount"),
    ("service-nodeport", "base/api-server/service.yaml",
     lambda d: d[0]["spec"].update(type="NodePort"), "prod", "service-set", "want ClusterIP"),
    ("prod-min-one", "overlays/prod/hpa.yaml", lambda d: d[0]["spec"].update(minReplicas=1),
     "prod", "service-set", "minReplicas >= 2"),
    ("no-workload-identity-patch", "overlays/prod/kustomization.yaml",
     _drop_patch("serviceaccounts.yaml"), "prod", "service-set", "PROJECT_ID placeholder"),
    ("wrong-namespace", "overlays/staging/kustomization.yaml",
     lambda d: d[0].update(namespace="default"), "staging", "service-set", "namespace 'default'"),
    ("plaintext-secret", "base/api-server/deployment.yaml",
     lambda d: None, "prod", "secret", "Secret api-server-env: holds values"),
    ("secret-as-env-value", API, lambda d: container(d)["env"].append(
        {"name": "REDIS_URL", "value": "redis://:hunter2@10.0.0.6"}),
     "prod", "secret", "env REDIS_URL is set in the pod spec"),
    ("secret-key-ref", WEB, lambda d: container(d)["env"].append(
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}}),
     "prod", "secret", "reads a Kubernetes Secret"),
    ("latest-version", "overlays/prod/secrets.yaml",
     _secret_version("db-url/versions/7", "db-url/versions/latest"),
     "prod", "secret", "is not a pinned numeric version"),
    ("other-project", "overlays/staging/secrets.yaml",
     _secret_version("projects/meta-ad-studio-staging/secrets/redis-url",
                     "projects/meta-ad-studio-prod/secrets/redis-url"),
     "staging", "secret", "REDIS_URL is in project meta-ad-studio-prod"),
    ("secret-unmounted", "overlays/prod/secrets.yaml",
     _secret_version("path: RUNWAYML_API_KEY", "path: RUNWAYML_KEY"),
     "prod", "secret", "RUNWAYML_API_KEY ->"),
    ("no-rollout-on-new-version", "overlays/prod/kustomization.yaml",
     lambda d: d[0].pop("replacements"), "prod", "secret", "would not roll the pods"),
    ("sync-to-k8s-secret", "base/api-server/secretproviderclass.yaml",
     lambda d: d[0]["spec"].update(secretObjects=[{"secretName": "api", "type": "Opaque"}]),
     "prod", "schema", "spec fields ['parameters', 'provider', 'secretObjects']"),
    ("open-source-provider", "base/api-server/secretproviderclass.yaml",
     lambda d: d[0]["spec"].update(provider="gcp"), "prod", "schema", "provider 'gcp'"),
    ("unknown-field", API, lambda d: container(d).update(imagePullPolcy="Always"),
     "prod", "schema", "'imagePullPolcy' was unexpected"),
    ("wrong-type", WEB, lambda d: container(d)["ports"][0].update(containerPort="8080"),
     "staging", "schema", "'8080' is not of type 'integer'"),
    ("unknown-kind", "base/api-server/deployment.yaml", lambda d: None,
     "prod", "schema", "PodMonitoring api-server: no schema"),
    ("overlay-renames-image", "overlays/prod/kustomization.yaml",
     lambda d: d[0].update(images=[{"name": "api-server",
                                    "newName": "gcr.io/meta-ad-studio-prod/api-server"}]),
     "prod", "pin", "Deployment api-server: image"),
]
EXTRA_FILES = {"plaintext-secret": ("base/api-server/env-secret.yaml", PLAINTEXT_SECRET),
               "unknown-kind": ("base/api-server/podmonitoring.yaml", UNKNOWN_KIND)}


def run_check(check: str, plain: list[Doc], overlay: str, pinned: list[Doc]) -> list[str]:
    env = OVERLAYS[overlay]
    if check == "deployment":
        return deployment_problems(plain)
    if check == "service-set":
        return service_set_problems(plain, env)
    if check == "secret":
        return secret_problems(plain, env)
    if check == "schema":
        return schema_problems(plain)
    assert check == "pin"
    return pin_problems(plain, pinned, pinned_images())


@pytest.fixture
def k8s_copy(tmp_path: Path) -> Path:
    shutil.copytree(K8S, tmp_path / "k8s")
    return tmp_path / "k8s"


@pytest.mark.parametrize(("file", "change", "overlay", "check", "words"),
                         [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_each_check_fails_on_broken_manifests(
        request: pytest.FixtureRequest, kubectl: str, tool_env: dict[str, str],
        renders: Renders, k8s_copy: Path, file: str, change: Edit, overlay: str, check: str,
        words: str) -> None:
    mutation = request.node.callspec.id
    if mutation in EXTRA_FILES:
        add_resource(k8s_copy, *EXTRA_FILES[mutation])
    else:
        edit_yaml(k8s_copy, file, change)
    overlay_dir = k8s_copy / "overlays" / overlay
    plain = parse(render_text(kubectl, tool_env, overlay_dir))
    pinned = parse(render_text(kubectl, tool_env, generated_overlay(
        k8s_copy.parent / "generated", overlay_dir, DIGESTS)))
    problems = run_check(check, plain, overlay, pinned)
    assert any(words in p for p in problems), problems
    # The unbroken manifests pass that same check (so it is the mutation that it caught).
    real = parse(renders.plain[overlay]), parse(renders.pinned[overlay])
    assert run_check(check, real[0], overlay, real[1]) == []


@pytest.mark.parametrize(("extra", "words"), [
    ("labels:\n  - pairs: {team: ads}\n", "metadata.labels.team differs"),
    ("patches:\n  - target: {kind: HorizontalPodAutoscaler, name: api-server}\n"
     "    patch: |-\n      - {op: replace, path: /spec/maxReplicas, value: 50}\n",
     "spec.maxReplicas differs"),
    ("namePrefix: x-\n", "other objects"),
])
def test_golden_check_fails_when_the_generated_overlay_changes_more_than_images(
        kubectl: str, tool_env: dict[str, str], renders: Renders, tmp_path: Path,
        extra: str, words: str) -> None:
    pinned = parse(render_text(kubectl, tool_env, generated_overlay(
        tmp_path / "g", K8S / "overlays" / "prod", DIGESTS, extra=extra)))
    problems = pin_problems(parse(renders.plain["prod"]), pinned, pinned_images())
    assert any(words in p for p in problems), problems


def test_golden_check_fails_when_a_service_is_left_unpinned(
        kubectl: str, tool_env: dict[str, str], renders: Renders, tmp_path: Path) -> None:
    only_api = {"api-server": DIGESTS["api-server"]}
    pinned = parse(render_text(kubectl, tool_env, generated_overlay(
        tmp_path / "g", K8S / "overlays" / "prod", only_api)))
    problems = pin_problems(parse(renders.plain["prod"]), pinned, pinned_images())
    assert problems == ["Deployment meta-verse-visualizer-main: image "
                        "['meta-verse-visualizer-main:unpinned'], want "
                        f"[{pinned_images()['meta-verse-visualizer-main']}]"]


# Broken copies trivy must block, all in one trivy run (it takes seconds to start).
TRIVY_MUTATIONS: list[tuple[str, str, Edit, str]] = [
    ("privileged", API, lambda d: _set(("securityContext", "privileged"), True)(container(d)),
     "KSV-0017"),
    ("writable-root", WEB,
     lambda d: _set(("securityContext", "readOnlyRootFilesystem"), False)(container(d)),
     "KSV-0014"),
    ("host-network", API, lambda d: pod(d).update(hostNetwork=True), "KSV-0009"),
]


def test_trivy_blocks_insecure_manifests(kubectl: str, trivy: str, tool_env: dict[str, str],
                                         tmp_path: Path) -> None:
    scan = tmp_path / "scan"
    scan.mkdir()
    for name, file, change, _ in TRIVY_MUTATIONS:
        root = tmp_path / name / "k8s"
        shutil.copytree(K8S, root)
        edit_yaml(root, file, change)
        (scan / f"{name}.yaml").write_text(render_text(kubectl, tool_env,
                                                       root / "overlays" / "prod"))
    report = run_trivy(trivy, tool_env, scan, tmp_path / "cache")
    blocking = trivy_blocking(report, allowlist.AllowList(None), dt.date.today())
    for name, _, _, check_id in TRIVY_MUTATIONS:
        assert any(p.startswith(f"{name}.yaml: {check_id} ") for p in blocking), blocking

    # The gate's allow list is shipyard's own (docs/scanning.md): a reason and an expiry.
    one = {**report, "Results": [r for r in report["Results"]
                                 if r["Target"] == "writable-root.yaml"]}
    listed = tmp_path / "trivy-allowlist.toml"
    listed.write_text('[[allow]]\nid = "KSV-0014"\nreason = "test"\nexpires = 2030-01-31\n'
                      'service = "meta-verse-visualizer-main"\n')
    allow = allowlist.load(listed, SERVICES)
    assert trivy_blocking(one, allow, dt.date(2030, 1, 31)) == []
    assert [p.split()[1] for p in trivy_blocking(one, allow, dt.date(2030, 2, 1))] == [
        "KSV-0014"]


# --- the rendered pods start, under their own restrictions ---------------------------------

def docker_argv(dep: Doc, image: str, secrets_dir: Path) -> list[str]:
    """`docker run` as close to the pod as Docker gets: the user, a read-only root, no
    capabilities, no privilege escalation, each emptyDir a tmpfs, the Secret Manager volume a
    read-only folder of test files, the env, the command and args."""
    pod_spec = dep["spec"]["template"]["spec"]
    (c,) = pod_spec["containers"]
    sc = {**pod_spec.get("securityContext", {}), **c.get("securityContext", {})}
    argv = ["run", "-d", "--user", f"{sc['runAsUser']}:{sc['runAsGroup']}"]
    if sc.get("readOnlyRootFilesystem"):
        argv.append("--read-only")
    if dig(sc, "capabilities", "drop") == ["ALL"]:
        argv += ["--cap-drop", "ALL"]
    if sc.get("allowPrivilegeEscalation") is False:
        argv += ["--security-opt", "no-new-privileges"]
    volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
    for mount in c.get("volumeMounts") or []:
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            argv += ["--tmpfs", f"{mount['mountPath']}:size=8m"]
        elif dig(volume, "csi", "driver") == CSI_DRIVER:
            argv += ["-v", f"{secrets_dir}:{mount['mountPath']}:ro"]
        else:
            raise AssertionError(f"no Docker equivalent for volume {volume}")
    for var in c.get("env") or []:
        argv += ["-e", f"{var['name']}={var['value']}"]
    if c.get("command"):
        argv += ["--entrypoint", c["command"][0], image, *c["command"][1:], *c.get("args", [])]
    else:
        argv += [image, *c.get("args", [])]
    return argv


def test_rendered_pods_start_and_answer_under_their_security_context(
        renders: Renders, tmp_path: Path) -> None:
    docker = require_docker_engine("runs the images the way the rendered pods do")
    tag = f"k8s-manifests-{os.getpid()}"
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    fake = {n: f"test-value-{n.lower()}" for n in SERVICES["api-server"].secrets}
    for name, value in fake.items():
        (secrets_dir / name).write_text(value + "\n")
        (secrets_dir / name).chmod(0o644)
    secrets_dir.chmod(0o755)
    deployments = of_kind(parse(renders.plain["prod"]), "Deployment")
    started: list[str] = []

    def docker_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run((docker, *args), capture_output=True, text=True, timeout=300,
                              env={**os.environ, "DOCKER_BUILDKIT": "0"}, check=False)

    try:
        for name, service in SERVICES.items():
            image = f"{tag}/{name}:v0.0.0-k8s"
            built = docker_run("build", "-q", "-f", str(SAMPLE / service.dockerfile),
                               "--build-arg", "VERSION=v0.0.0-k8s", "-t", image,
                               str(SAMPLE / service.context))
            assert built.returncode == 0, built.stderr[-2000:]
            ran = docker_run(*docker_argv(deployments[name], image, secrets_dir))
            assert ran.returncode == 0, ran.stderr[-2000:]
            started.append(ran.stdout.strip())
        for cid, (name, service) in zip(started, SERVICES.items(), strict=True):
            body = ""
            for _ in range(50):
                got = docker_run("exec", cid, "wget", "-q", "-O", "-",
                                 f"http://127.0.0.1:{service.port}{service.version_path}")
                if got.returncode == 0:
                    body = got.stdout
                    break
                state = docker_run("inspect", "-f", "{{.State.Running}}", cid).stdout.strip()
                assert state == "true", f"{name} exited: {docker_run('logs', cid).stderr}"
                time.sleep(0.2)
            assert body == "v0.0.0-k8s", f"{name}: {docker_run('logs', cid).stderr}"
        # The api-server got each secret from its file (it exits 78 without them) and no
        # *_FILE variable reached the app.
        api = started[list(SERVICES).index("api-server")]
        env_names = docker_run("exec", api, "sh", "-c",
                               "tr '\\0' '\\n' < /proc/1/environ | cut -d= -f1").stdout.split()
        assert set(fake) <= set(env_names)
        assert not [n for n in env_names if n.endswith("_FILE")]
        logs = docker_run("logs", api)
        assert not any(v in logs.stdout + logs.stderr for v in fake.values())
        # The root filesystem really is read-only here: without its /tmp emptyDir the
        # api-server cannot start.
        broken = copy.deepcopy(deployments["api-server"])
        (c,) = broken["spec"]["template"]["spec"]["containers"]
        c["volumeMounts"] = [m for m in c["volumeMounts"] if m["mountPath"] != "/tmp"]
        ran = docker_run(*docker_argv(broken, f"{tag}/api-server:v0.0.0-k8s", secrets_dir))
        assert ran.returncode == 0, ran.stderr
        started.append(ran.stdout.strip())
        waited = docker_run("wait", started[-1])
        assert waited.stdout.strip() != "0"
        assert "Read-only file system" in docker_run("logs", started[-1]).stderr
    finally:
        for cid in started:
            docker_run("rm", "-f", cid)
        for name in SERVICES:
            docker_run("image", "rm", "-f", f"{tag}/{name}:v0.0.0-k8s")
