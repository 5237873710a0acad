"""Cloud Run and GKE deploys of N = 1, 2, 4 generated services, through the real gcloud and
kubectl, against the contract stand-ins (tests/contract/standins.py, their one public entry).

Per N, a scratch app (the build bench's, with a tiny workload) gets a `staging` (cloudrun) and a
`prod` (gke) environment whose images are in the bench's registry. Each repetition builds and
pushes a new version (not timed), then times, as a user types them:

  Cloud Run   `invoke deploy-run --version V --env staging`; then the same work as gcloud
              commands one after another from Python: shipyard's own gcloud argv of that
              deploy (its command log) and, for each traffic move shipyard made through the
              API, the `gcloud run services update-traffic` that does the same; then
              `invoke rollback --env staging` (counted: gcloud invocations, API requests and
              update calls), and one such update-traffic alone (one gcloud call).
  GKE         `invoke deploy-gke --version V --env prod` (counted: kubectl invocations).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.contract import standins
from tests.support.git import git

from shipyard.commands import gcloud as g

from .app import App, Invocation
from .basics import BenchError, fmt, log, median
from .registry import BenchRegistry

PROJECT, REGION, NAMESPACE = "shipyard-test", "us-central1", "bench"
SA = f"bench@{PROJECT}.iam.gserviceaccount.com"
SIZES = (1, 2, 4)
DEPLOY_RATIO_RUN = 1.5  # Cloud Run: deploy of N=4 ≤ this × N=1 (issue 10)
ROLLBACK_RATIO_RUN = 1.3  # Cloud Run: rollback of N=4 ≤ this × one gcloud call (issue 10)
DEPLOY_RATIO_GKE = 1.3  # GKE: deploy of N=4 ≤ this × N=1 (issue 11)

ENVIRONMENTS = """
[environments.staging]
target = "cloudrun"
project = "{project}"
region = "{region}"
repository = "bench"
registry = "127.0.0.1:{port}/{name}"
service_account = "{sa}"

[environments.staging.run]
allow_unauthenticated = true

[environments.prod]
target = "gke"
project = "{project}"
region = "{region}"
repository = "bench"
registry = "127.0.0.1:{port}/{name}"
cluster = "{cluster}"
namespace = "{namespace}"
overlay = "k8s/overlays/prod"
service_account = "{sa}"
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: {name}
          image: {name}
          ports: [{{containerPort: 8080}}]
"""


@dataclass
class CloudTimes:
    n: int
    run_deploys: list[float] = field(default_factory=list)
    run_sequential: list[float] = field(default_factory=list)  # the same work as gcloud, in a row
    run_deploys_only: list[float] = field(default_factory=list)  # its gcloud deploys, in a row
    run_calls: list[int] = field(default_factory=list)  # gcloud invocations per deploy
    rollbacks: list[float] = field(default_factory=list)
    rollback_calls: list[int] = field(default_factory=list)  # gcloud invocations
    rollback_api: list[int] = field(default_factory=list)  # requests to the Cloud Run API
    rollback_updates: list[int] = field(default_factory=list)  # update-traffic PUTs
    one_call: list[float] = field(default_factory=list)  # one update-traffic, alone
    gke_deploys: list[float] = field(default_factory=list)
    gke_kubectl: list[int] = field(default_factory=list)  # kubectl invocations per deploy
    gke_gcloud: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def tool_argvs(done: Invocation, tool: str) -> list[list[str]]:
    return [argv for argv in done.ran if Path(argv[0]).name == tool]


def tool_count(done: Invocation, tool: str) -> int:
    """Invocations of `tool`, every attempt (the command log has a line per attempt)."""
    return sum(1 for text, _ in done.commands if Path(shlex.split(text)[0]).name == tool)


def run_in_a_row(argvs: list[list[str]], env: dict[str, str]) -> float:
    started = time.perf_counter()
    for argv in argvs:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False,
                              stdin=subprocess.DEVNULL, timeout=600)
        if done.returncode != 0:
            raise BenchError(f"{shlex.join(argv)} failed again on its own "
                             f"(exit {done.returncode}): {done.stderr.strip()[-400:]}")
    return time.perf_counter() - started


class CloudApp:
    """A generated app with N services, deployable to the Cloud Run and GKE stand-ins."""

    def __init__(self, app: App, run: standins.CloudRunStandIn, cluster: standins.GkeCluster,
                 run_settings: dict[str, str]) -> None:
        self.app, self.run, self.cluster = app, run, cluster
        # Apart: Cloud Run's gcloud reaches its stand-in as an HTTP proxy, GKE's directly.
        # cluster.env is a whole environment: its PYTHONPATH would hide the bench's snapshot.
        gke = {k: v for k, v in cluster.env.items() if os.environ.get(k) != v}
        self.settings = {"staging": run_settings, "prod": gke}

    def invoke(self, env: str, *args: str) -> Invocation:
        self.app.extra_env = self.settings[env]
        return self.app.invoke(*args, "--env", env)

    def environ(self, env: str) -> dict[str, str]:
        return {**os.environ, **self.settings[env]}

    def create(self) -> None:
        app = self.app
        app.create()
        base = app.work / "k8s" / "base"
        for name in app.services:
            (base / f"{name}.yaml").parent.mkdir(parents=True, exist_ok=True)
            (base / f"{name}.yaml").write_text(DEPLOYMENT.format(name=name))
        (base / "kustomization.yaml").write_text(
            "resources:\n" + "".join(f"  - {n}.yaml\n" for n in app.services))
        overlay = app.work / "k8s" / "overlays" / "prod"
        overlay.mkdir(parents=True)
        (overlay / "kustomization.yaml").write_text(
            f"namespace: {NAMESPACE}\nresources:\n  - ../../base\n")
        with (app.work / "shipyard.toml").open("a") as config:
            config.write(ENVIRONMENTS.format(
                project=PROJECT, region=REGION, port=app.registry.port, name=app.project,
                sa=SA, cluster=self.cluster.name, namespace=NAMESPACE))
        git(app.work, "add", "-A")
        git(app.work, "commit", "-q", "-m", "bench: staging on Cloud Run, prod on GKE")
        git(app.work, "push", "-q", "origin", "HEAD")

    def new_version(self) -> str:
        """New contents, built and pushed for both environments (not timed)."""
        self.app.refresh()
        version = self.app.next_version()
        for env in ("staging", "prod"):
            self.invoke(env, "build", "--version", version)
            self.invoke(env, "push", "--version", version)
        return version

    def repetition(self, times: CloudTimes, first: bool) -> None:
        version = self.new_version()
        deployed = self.invoke("staging", "deploy-run", "--version", version)
        gke = self.invoke("prod", "deploy-gke", "--version", version)
        if first:  # new services and Deployments: not what the rows are about
            return
        times.run_deploys.append(deployed.seconds)
        times.run_calls.append(tool_count(deployed, "gcloud"))
        deploys = run_in_a_row(tool_argvs(deployed, "gcloud"), self.environ("staging"))
        moves = run_in_a_row([self.move_argv(n) for n in self.names], self.environ("staging"))
        times.run_deploys_only.append(deploys)
        times.run_sequential.append(deploys + moves)
        times.gke_deploys.append(gke.seconds)
        times.gke_kubectl.append(tool_count(gke, "kubectl"))
        times.gke_gcloud.append(tool_count(gke, "gcloud"))
        mark = len(self.run.requests)
        rolled = self.invoke("staging", "rollback")
        asked = self.run.requests[mark:]
        times.rollbacks.append(rolled.seconds)
        times.rollback_calls.append(tool_count(rolled, "gcloud"))
        times.rollback_api.append(len(asked))
        updates = [r for r in asked if r.method == "PUT"
                   and r.command == "shipyard.run.services.update-traffic"]
        times.rollback_updates.append(len(updates))
        if sorted(r.path.rsplit("/", 1)[-1] for r in updates) != sorted(self.names):
            seen = [f"{r.method} {r.path.rsplit('/', 1)[-1]} {r.command or '-'}" for r in asked]
            times.problems.append(f"N={self.app.n}: the rollback did not move each service "
                                  f"once; the stand-in saw: {', '.join(seen) or 'nothing'}")
            return
        # The same move again, alone, as gcloud does it: one gcloud call.
        times.one_call.append(run_in_a_row([self.move_argv(self.names[0])],
                                           self.environ("staging")))

    @property
    def names(self) -> list[str]:
        return list(self.app.services)

    def move_argv(self, name: str) -> list[str]:
        """`gcloud run services update-traffic` to the revision that serves `name` now."""
        (revision,) = self.run.traffic(name, REGION)
        return list(g.update_traffic("gcloud", name, REGION, PROJECT, {revision: 100}))


@contextmanager
def stand_ins(base: Path) -> Iterator[tuple[standins.CloudRunStandIn, standins.GkeCluster,
                                            dict[str, str]]]:
    with ExitStack() as stack:
        run = stack.enter_context(standins.cloud_run(PROJECT, REGION))
        (base / "gke").mkdir(parents=True)
        try:
            cluster = stack.enter_context(standins.gke_cluster(base / "gke"))
        except BaseException as exc:  # pytest's skip outside CI: a tool is missing
            raise BenchError(f"the GKE stand-in cannot start here: {exc}") from None
        cluster.kube.add_namespace(NAMESPACE)
        yield run, cluster, standins.gcloud_settings(base / "gcloud", run)


def cloud_times(base: Path, registry: BenchRegistry, pythonpath: str, marker: str,
                repeats: int, sizes: tuple[int, ...], made: list[App]) -> list[CloudTimes]:
    """The rows' measurements; each app goes into `made` (its images are removed after)."""
    found = []
    with stand_ins(base / "standins") as (run, cluster, settings):
        for n in sizes:
            app = App(n, base / f"cloud-n{n}", f"{marker}-cloud-n{n}", registry, 1, 1024,
                      pythonpath, marker)
            made.append(app)
            bench = CloudApp(app, run, cluster, settings)
            bench.create()
            times = CloudTimes(n)
            log(f"N={n}: Cloud Run and GKE deploys against the stand-ins")
            for rep in range(repeats + 1):
                bench.repetition(times, first=rep == 0)
            found.append(times)
    return found


def _range(values: list[float]) -> str:
    return f"{fmt(median(values))} ({fmt(min(values))}–{fmt(max(values))})"


def cloud_rows(all_times: list[CloudTimes]) -> tuple[list[str], bool]:
    problems = [p for t in all_times for p in t.problems]
    if problems or not all(t.one_call and t.run_deploys for t in all_times):
        return ["- **FAIL** the Cloud Run rows have no measurements: "
                + ("; ".join(problems) or "no repetition completed")], False
    by_n = {t.n: t for t in all_times}
    lines = [
        "Against the Cloud Run, GKE and Kubernetes stand-ins, through the real gcloud and "
        "kubectl; per N a generated app, each repetition a new version built and pushed first "
        "(not timed); medians (min–max) in seconds.",
        "",
        "| N | `deploy-run` | the same deploys and moves as gcloud commands, in a row | "
        "gcloud calls per service | "
        "`rollback` (Cloud Run) | one gcloud call | rollback gcloud calls / API requests / "
        "update calls | `deploy-gke` | kubectl calls per deploy |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for n, t in sorted(by_n.items()):
        lines.append(
            f"| {n} | {_range(t.run_deploys)} | {_range(t.run_sequential)} | "
            f"{median(t.run_calls) / n:g} | {_range(t.rollbacks)} | {_range(t.one_call)} | "
            f"{median(t.rollback_calls):g} / {median(t.rollback_api):g} / "
            f"{median(t.rollback_updates):g} | {_range(t.gke_deploys)} | "
            f"{median(t.gke_kubectl):g} (+ gcloud {median(t.gke_gcloud):g}) |")
    ok = True
    lines.append("")

    def bar(passed: bool, text: str) -> None:
        nonlocal ok
        ok = ok and passed
        lines.append(f"- **{'PASS' if passed else 'FAIL'}** {text}")

    low, high = min(by_n), max(by_n)
    one, top = by_n[low], by_n[high]
    x = median(top.run_deploys) / median(one.run_deploys)
    cores = os.cpu_count() or 1
    floor = (median(top.run_deploys_only) / min(cores, high)) / median(one.run_deploys)
    bar(x <= DEPLOY_RATIO_RUN, f"Cloud Run deploy of N={high} ≤ {DEPLOY_RATIO_RUN} × N={low}: "
                               f"{x:.2f} × (its {high} `gcloud run deploy` processes alone, "
                               f"in a row, take {fmt(median(top.run_deploys_only))} s: side by "
                               f"side on {cores} cores at least {floor:.2f} × the N={low} "
                               "deploy, before shipyard does anything)")
    per_service = all(u == t.n for t in all_times for u in t.rollback_updates) and all(
        c <= 1 for t in all_times for c in t.rollback_calls)
    counts = ", ".join(f"N={t.n}: {median(t.rollback_calls):g} gcloud, "
                       f"{median(t.rollback_updates):g} updates" for t in all_times)
    bar(per_service, "Cloud Run rollback is one update call per service (and no gcloud call "
                     f"but, without CLOUDSDK_AUTH_ACCESS_TOKEN, one for the token): {counts}")
    x = median(top.rollbacks) / median(top.one_call)
    bar(x <= ROLLBACK_RATIO_RUN, f"Cloud Run rollback of N={high} ≤ {ROLLBACK_RATIO_RUN} × one "
                                 f"gcloud call: {x:.2f} × (the whole `invoke rollback`, "
                                 "interpreter start included)")
    x = median(top.gke_deploys) / median(one.gke_deploys)
    bar(x <= DEPLOY_RATIO_GKE, f"GKE deploy of N={high} ≤ {DEPLOY_RATIO_GKE} × N={low}: {x:.2f} ×")
    problems = [p for t in all_times for p in t.problems]
    if problems:
        bar(False, "the runs did not do what they say: " + "; ".join(problems))
    return lines, ok
