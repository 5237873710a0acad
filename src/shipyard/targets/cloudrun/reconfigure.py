"""A flag switched on Cloud Run: `gcloud run services update --update-env-vars` per changed
service makes a new revision of the image it runs (same digest, same secrets) with a tag of
its own and no traffic; each is verified through its tag URL, and only then does traffic move,
exactly as a deploy's revisions are."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from shipyard.commands import gcloud as g
from shipyard.errors import CommandError, ShipyardError
from shipyard.stages.fanout import fan_out
from shipyard.targets.base import DeployError, DeployPlan, Revision
from shipyard.targets.cloudrun.new_revision import verified
from shipyard.targets.cloudrun.spec import flag_tag, gcloud_error

if TYPE_CHECKING:
    from shipyard.targets.cloudrun import CloudRunTarget


def reconfigure(target: CloudRunTarget, plan: DeployPlan, changed: Sequence[str]
                ) -> list[Revision]:
    planned = {s.service: s for s in plan.services}
    names = list(changed)
    tags = {name: flag_tag(name, plan.version, planned[name].env) for name in names}
    before = target._prepare(names)
    absent = sorted(name for name, state in before.items() if state is None)
    if absent and not target.runner.dry_run:
        raise ShipyardError(f"{', '.join(absent)}: no such Cloud Run service to update",
                            hint=f"release first: invoke release --env {target.ctx.env.name}")

    def update(name: str) -> None:
        target._write(g.update_env(target.gcloud, name, target.gcp.region, target.gcp.project,
                                   planned[name].env, tags[name]), timeout=900)

    def one(name: str) -> tuple[str, str]:
        try:
            update(name)
        except CommandError as exc:
            raise DeployError(f"{name}: the new revision did not become ready: "
                              f"{gcloud_error(exc.stderr_tail or exc.message)}", service=name,
                              logs=exc.stderr_tail, hint="traffic was not moved; "
                              f"its logs: {target._logs(name)}") from None
        return name, verified(target, name, tags[name], plan.version)

    if target.runner.dry_run:
        for name in names:
            update(name)
        fresh = {name: f"{name}-({tags[name]})" for name in names}
    else:
        fresh = dict(fan_out(one, names, names, len(names)))
        target._each(lambda name: target.traffic.move(name, fresh[name]), names)  # all verified
    serving = target.current()
    return [target._revision(s.service, plan.version, s.image, fresh[s.service],
                             target._urls.get(s.service, "")) if s.service in fresh
            else serving.get(s.service) or target._revision(s.service, plan.version, s.image,
                                                            "", "")
            for s in plan.services]
