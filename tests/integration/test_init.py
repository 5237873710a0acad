"""`shipyard init` on a bare copy of the sample's services (their folders and Dockerfiles, no
shipyard.toml, tasks.py, noxfile.py, ci-cd/ or k8s/): what it writes releases locally,
renders with the real `kubectl kustomize` and passes the sample's own manifest checks; a
second run changes nothing; --force overwrites; --dry-run writes nothing.

And the drift test: the sample's files are what init writes for the sample plus the hand
edits docs/init.md lists; the parts init owns are compared, so a change to either side that
is not a documented hand edit fails here.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from shipyard.cloudbuild import parse, substitute
from tests.conftest import GIT_IDENTITY, require_docker_engine, require_tool
from tests.integration import test_k8s_manifests as k8s
from tests.support.apps import SAMPLE
from tests.support.git import git, publish
from tests.support.images import remove_images

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "src" / "shipyard" / "templates"
SECRETS = {"DATABASE_URL": "postgres://demo:pw-init-0123@db/app",
           "RUNWAYML_API_KEY": "rw-init-key-0123", "REDIS_URL": "redis://cache-init:6379"}
SERVICE_DIRS = ("meta-verse-visualizer-main", "packages")


def shipyard(cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).parent / "shipyard"
    env = {**os.environ, **GIT_IDENTITY, **SECRETS, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run((str(binary), *args), cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def bare_copy(app: Path) -> Path:
    """Only the service folders of the sample, with their Dockerfiles."""
    app.mkdir(parents=True)
    for name in SERVICE_DIRS:
        shutil.copytree(SAMPLE / name, app / name, ignore=shutil.ignore_patterns(".shipyard"))
    return app


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts}


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return bare_copy(tmp_path / "meta-ad-studio")


def test_init_writes_once_keeps_edits_and_force_overwrites(app: Path) -> None:
    before = tree(app)
    dry = shipyard(app, "init", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would write  shipyard.toml" in dry.stderr and tree(app) == before

    first = shipyard(app, "init")
    assert first.returncode == 0, first.stderr
    written = set(tree(app)) - set(before)
    assert {"shipyard.toml", "tasks.py", "noxfile.py", "ci-cd/cloudbuild.yaml",
            "k8s/base/kustomization.yaml", "k8s/overlays/prod/kustomization.yaml",
            "k8s/base/api-server/deployment.yaml",
            "k8s/base/meta-verse-visualizer-main/deployment.yaml"} <= written
    assert all(f"wrote  {path}" in first.stderr for path in written)
    config = tomllib.loads((app / "shipyard.toml").read_text())
    assert config["services"]["api-server"] == {
        "context": "packages/api-server", "dockerfile": "packages/api-server/server/Dockerfile",
        "port": 8080}
    assert config["services"]["meta-verse-visualizer-main"]["context"] == \
        "meta-verse-visualizer-main"
    assert (app / "tasks.py").read_text() == "from shipyard.tasks import ns  # noqa: F401\n"

    after_first = tree(app)
    again = shipyard(app, "init")
    assert again.returncode == 0, again.stderr
    assert tree(app) == after_first  # same bytes, not even rewritten
    assert "0 written, 0 kept" in again.stderr

    (app / "k8s/base/api-server/hpa.yaml").write_text("# mine\n")
    kept = shipyard(app, "init")
    assert "kept       k8s/base/api-server/hpa.yaml" in kept.stderr
    assert (app / "k8s/base/api-server/hpa.yaml").read_text() == "# mine\n"
    forced = shipyard(app, "init", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "overwrote  k8s/base/api-server/hpa.yaml" in forced.stderr
    assert tree(app)["k8s/base/api-server/hpa.yaml"][0] == after_first[
        "k8s/base/api-server/hpa.yaml"][0]


def test_init_refuses_a_repo_without_dockerfiles(tmp_path: Path) -> None:
    (tmp_path / "empty" / "node_modules" / "x").mkdir(parents=True)
    (tmp_path / "empty" / "node_modules" / "x" / "Dockerfile").write_text("FROM scratch\n")
    done = shipyard(tmp_path / "empty", "init")
    assert done.returncode == 2, done.stderr
    assert "error: no Dockerfile found" in done.stderr
    assert not (tmp_path / "empty" / "shipyard.toml").exists()


def test_the_generated_k8s_renders_and_passes_the_samples_checks(app: Path) -> None:
    kubectl = require_tool("kubectl", "renders the generated overlays")
    k8s.require_module("kubernetes_validate", "schemas", "pip install -e '.[dev]'")
    assert shipyard(app, "init").returncode == 0
    home = app.parent / "home"
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": str(home / "kubeconfig")}
    for name, want in k8s.OVERLAYS.items():
        docs = k8s.parse(k8s.render_text(kubectl, env, app / "k8s/overlays" / name))
        problems = (k8s.schema_problems(docs) + k8s.deployment_problems(docs)
                    + k8s.service_set_problems(docs, want))
        assert problems == [], f"{name}:\n" + "\n".join(problems)


def test_init_config_releases_locally(tmp_path: Path, app: Path) -> None:
    require_docker_engine("builds the sample's images")
    require_tool("docker-registry", "the local environment's registry")
    require_tool("nginx", "the local environment's proxy")
    publish(app, tmp_path / "remote.git", "the services, before shipyard")
    assert shipyard(app, "init").returncode == 0
    # The one hand edit a release needs: the api-server refuses to start without these.
    config = app / "shipyard.toml"
    config.write_text(config.read_text().replace(
        'dockerfile = "packages/api-server/server/Dockerfile"\nport = 8080\n',
        'dockerfile = "packages/api-server/server/Dockerfile"\nport = 8080\n'
        'secrets = ["DATABASE_URL", "RUNWAYML_API_KEY", "REDIS_URL"]\n'))
    (app / ".gitignore").write_text(".shipyard/\n")
    git(app, "add", "-A")
    git(app, "commit", "-q", "-m", "shipyard init, and the api-server's secrets")
    git(app, "push", "-q", "origin", "main")
    port = tomllib.loads(config.read_text())["environments"]["local"]["registry_port"]
    try:
        done = shipyard(app, "release", "--version", "v1.0.0", timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        assert git(app, "ls-remote", "--tags", "origin", "v1.0.0")
        status = shipyard(app, "status")
        assert status.returncode == 0 and "v1.0.0" in status.stdout + status.stderr
    finally:
        shipyard(app, "local-down", timeout=180)
        remove_images(f"reference=127.0.0.1:{port}/meta-ad-studio/*")


# -- drift: the sample against what init writes for it -------------------------------------

def owned_config(data: dict[str, Any]) -> dict[str, Any]:
    """The keys init writes (its ports excepted: chosen at init time)."""
    local = data["environments"]["local"]
    return {"project": {k: data["project"][k] for k in ("name", "release_branch", "remote")},
            "services": {name: {k: s[k] for k in ("context", "dockerfile", "port")}
                         for name, s in data["services"].items()},
            "scan": data["scan"],
            "local": {**{k: local[k] for k in ("target", "keep_revisions", "secrets_file")},
                      "proxied": sorted(local["proxy_ports"])}}


def owned_object(doc: dict[str, Any]) -> dict[str, Any]:
    """What of a rendered object init's templates decide (docs/init.md lists the rest as
    hand edits: component labels, secrets, resources, comments, replica bounds)."""
    kind, spec = doc["kind"], doc.get("spec") or {}
    view: dict[str, Any] = {"kind": kind, "name": doc["metadata"]["name"],
                            "namespace": doc["metadata"].get("namespace")}
    if kind == "Deployment":
        pod = spec["template"]["spec"]
        (container,) = [c for c in pod["containers"] if c["name"] == doc["metadata"]["name"]]
        view |= {"selector": spec["selector"], "strategy": spec["strategy"],
                 "progressDeadlineSeconds": spec["progressDeadlineSeconds"],
                 "securityContext": pod["securityContext"],
                 "serviceAccountName": pod["serviceAccountName"],
                 "topology": pod["topologySpreadConstraints"],
                 "container": {k: container[k] for k in (
                     "image", "ports", "startupProbe", "readinessProbe", "livenessProbe",
                     "securityContext", "lifecycle")}}
    elif kind in ("Service", "PodDisruptionBudget"):
        view["spec"] = spec
    elif kind == "HorizontalPodAutoscaler":
        view |= {"scaleTargetRef": spec["scaleTargetRef"], "metrics": spec["metrics"]}
    elif kind == "ServiceAccount":
        view["annotations"] = doc["metadata"].get("annotations")
    return view


def test_the_sample_is_init_plus_its_hand_edits(app: Path) -> None:
    kubectl = require_tool("kubectl", "renders both sets of overlays")
    assert shipyard(app, "init").returncode == 0
    generated = tomllib.loads((app / "shipyard.toml").read_text())
    sample = tomllib.loads((SAMPLE / "shipyard.toml").read_text())
    assert owned_config(generated) == owned_config(sample)
    assert (app / "tasks.py").read_text() == (SAMPLE / "tasks.py").read_text()
    home = app.parent / "home"
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": str(home / "kubeconfig")}
    for name in k8s.OVERLAYS:
        ours = [owned_object(d) for d in k8s.parse(k8s.render_text(
            kubectl, env, app / "k8s/overlays" / name))]
        theirs = {(d["kind"], d["metadata"]["name"]): owned_object(d) for d in k8s.parse(
            k8s.render_text(kubectl, env, SAMPLE / "k8s/overlays" / name))}
        for view in ours:
            assert theirs.get((view["kind"], view["name"])) == view, (name, view["kind"],
                                                                       view["name"])
        # The sample adds only what docs/init.md names: the api-server's secret references.
        extra = set(theirs) - {(v["kind"], v["name"]) for v in ours}
        assert extra == {("SecretProviderClass", "api-server-secrets")}


VERBATIM = ("tasks.py", "noxfile.py", "ci-cd/cloudbuild.yaml", "ci-cd/builder.Dockerfile",
            "ci-cd/requirements.txt")


def test_init_copies_the_templates_it_owns(app: Path) -> None:
    """The files init copies verbatim, and the sample's copies, equal the templates byte for
    byte; what init writes reads with local parity's parser, as `nox -s cloudbuild` reads it."""
    assert shipyard(app, "init").returncode == 0
    for rel in VERBATIM:
        template = (TEMPLATES / rel).read_bytes()
        assert (app / rel).read_bytes() == template, f"init's {rel}"
        assert (SAMPLE / rel).read_bytes() == template, f"the sample's {rel}"
    assert sessions(TEMPLATES / "noxfile.py") == {"tests", "build", "scan"}
    build = parse.load(app / "ci-cd/cloudbuild.yaml")
    assert [s.id for s in build.steps] == ["version", "history", "install", "tests", "scan",
                                            "release"]
    resolved = substitute.resolve(build, dict(build.substitutions), {"TAG_NAME": "v0.1.0"})
    assert resolved.values["_VERSION"] == "v0.1.0"


def sessions(noxfile: Path) -> set[str]:
    """The names of the functions decorated with nox.session, without importing the file."""
    tree_ = ast.parse(noxfile.read_text())
    return {node.name for node in ast.walk(tree_) if isinstance(node, ast.FunctionDef)
            and any("session" in ast.unparse(d) for d in node.decorator_list)}
