"""One new Cloud Run revision: `gcloud run deploy` by digest with no traffic, then verified
through its tag URL. Traffic is not moved here: the caller moves it once every revision of the
deploy passed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.commands import gcloud as g
from shipyard.errors import CommandError, ShipyardError
from shipyard.targets.base import DeployError, ServicePlan
from shipyard.targets.cloudrun.spec import gcloud_error, run_service
from shipyard.targets.cloudrun.state import ServiceState, parse_service
from shipyard.ui import console
from shipyard.version import Version

if TYPE_CHECKING:
    from shipyard.targets.cloudrun import CloudRunTarget


def deploy_one(target: CloudRunTarget, planned: ServicePlan, version: Version,
               before: ServiceState | None) -> tuple[str, str, bool]:
    """Deploy one revision and verify it through its tag URL; traffic is not moved here
    (a first revision of a new service takes it: gcloud cannot deploy it without)."""
    spec, name, first = run_service(target.ctx, planned, version), planned.service, before is None
    try:
        deployed = target._write(g.run_deploy(target.gcloud, spec, no_traffic=not first),
                                 timeout=900)
    except CommandError as exc:
        last = gcloud_error(exc.stderr_tail) if exc.stderr_tail else exc.message
        raise DeployError(f"{name}: the new revision did not become ready: {last}",
                          service=name, logs=exc.stderr_tail,
                          hint=f"traffic was not moved; its logs: {target._logs(name)}"
                          ) from None
    # gcloud prints the Service it waited for (--format json): one gcloud call less.
    state = parse_service(deployed.stdout) if deployed.stdout.strip().startswith("{") \
        else None
    if first:
        console.note(f"{name}: a new service: its first revision takes the traffic "
                     "directly (nothing served there before)")
    return name, verified(target, name, spec.tag, version, state), first


def verified(target: CloudRunTarget, name: str, tag: str, version: Version,
             state: ServiceState | None = None) -> str:
    """The revision TAG names, checked through its tag URL; DeployError if it fails.
    `state`: the service as the deploy printed it (else it is described)."""
    state = state or target._describe(name)
    if state is None:
        raise not_listed(name)
    revision = state.revision_of_tag(tag) or state.latest_created
    url = state.tag_url(tag) or state.url
    target._urls[name] = state.url
    problem = target._check(name, url, version)
    if problem:
        raise DeployError(f"{name}: revision {revision} at {url} {problem}", service=name,
                          hint=f"traffic was not moved; {revision} stays at 0% with tag "
                               f"{tag}; its logs: {target._logs(name, revision)}")
    console.note(f"{name}: {revision} verified through {url}")
    return revision


def not_listed(name: str) -> ShipyardError:
    return ShipyardError(f"{name}: Cloud Run does not list the service after deploy",
                         hint="check the project and region in shipyard.toml")
