"""Traffic moves on Cloud Run, through the Admin API: all of a service's traffic to one
revision (its tags kept), and a rollback's move back to a recorded revision, where Cloud Run's
refusal of a revision that is gone is the existence check."""

from __future__ import annotations

from shipyard.commands import gcloud as g
from shipyard.config.targets import GcpSettings
from shipyard.errors import ShipyardError
from shipyard.exec.runner import Runner
from shipyard.targets.cloudrun.api import ApiError, RunApi

REVISION_GONE = ("does not exist", "not found")  # Cloud Run refusing traffic to it


class MoveRefused(ShipyardError):
    def __init__(self, message: str, *, hint: str, said: str) -> None:
        super().__init__(message, hint=hint)
        self.said = said


class Traffic:
    def __init__(self, runner: Runner, api: RunApi, gcp: GcpSettings) -> None:
        self.runner, self.api, self.gcp = runner, api, gcp

    def move(self, name: str, revision: str) -> None:
        """All of `name`'s traffic to `revision` (its tags kept), through the API."""
        if self.runner.dry_run:
            self.runner.plan(f"Cloud Run API: move all traffic of {name} to {revision} "
                             f"(= gcloud run services update-traffic {name} "
                             f"--to-revisions {revision}=100)")
            return
        try:
            self.api.move_traffic(name, revision)
        except ApiError as exc:
            hint = exc.hint or ("by hand: " + " ".join(g.update_traffic(
                "gcloud", name, self.gcp.region, self.gcp.project, {revision: 100})))
            raise MoveRefused(f"{name}: traffic did not move to {revision}: {exc.message}",
                              hint=hint, said=exc.message) from None

    def move_back(self, name: str, revision: str) -> bool:
        """Move `name`'s traffic to `revision`; False when Cloud Run says it does not exist."""
        try:
            self.move(name, revision)
        except MoveRefused as exc:
            said = exc.said.lower()
            if revision.lower() in said and any(w in said for w in REVISION_GONE):
                return False
            raise
        return True
