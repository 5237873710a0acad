"""The secret store of GCP environments: Google Secret Manager, through the same client, the
same error handling and the same preflight checks as the secret source (secret_manager.py),
through its public methods.

`put` adds a version: the value travels only in the body of that one addVersion request (with
its CRC32C, which the API checks), never in a log line, a message or another request.
`--disable-previous` then disables the version that was the newest enabled one before. The
secret itself must exist: creating one (its replication, its IAM policy) is infrastructure,
outside a value's rotation. Listing and checking read metadata only, never `:access`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.config.targets import LATEST
from shipyard.errors import UsageError
from shipyard.exec.runner import Runner
from shipyard.secrets.secret_manager import SecretManagerSecrets
from shipyard.secrets.secret_manager_api import CALL_TIMEOUT
from shipyard.secrets.secret_manager_versions import version_number
from shipyard.secrets.stores import Stored, Written
from shipyard.targets.base import Check
from shipyard.ui import console

if TYPE_CHECKING:
    from shipyard.pipeline.context import RunContext

ADDER = "roles/secretmanager.secretVersionAdder"
MANAGER = "roles/secretmanager.secretVersionManager"


class SecretManagerStore:
    keeps_versions = True

    def __init__(self, source: SecretManagerSecrets, runner: Runner,
                 overlay: str | None = None) -> None:
        self.source, self.runner = source, runner
        self.overlay = overlay  # gke: the pods mount the versions this overlay names

    @classmethod
    def from_context(cls, ctx: RunContext) -> SecretManagerStore:
        gke = ctx.env.gcp.gke if ctx.env.gcp else None
        return cls(SecretManagerSecrets.from_context(ctx), ctx.runner,
                   gke.overlay if gke else None)

    # --- put --------------------------------------------------------------------------

    def put(self, name: str, value: str, *, disable_previous: bool) -> Written:
        import google_crc32c

        secret = self.source.secret(name)
        ref, project = secret.ref, secret.project
        self.runner.redactor.add(value)
        enabled = [n for n, state in self.source.versions(name) if state == "ENABLED"]
        previous = str(enabled[0]) if enabled else None
        if disable_previous and previous is not None and ref.version == previous:
            raise UsageError(
                f"{name} is pinned to {ref}, the version --disable-previous would disable: "
                "a deploy would then fail", hint="set it without --disable-previous, pin the "
                f"new version in [environments.{self.source.env}.secrets], deploy, then: gcloud"
                f" secrets versions disable {previous} --secret {ref.secret} --project {project}")
        notes = []
        if ref.version != LATEST:
            notes.append(f"{name} is pinned to {ref}: deploys keep using version {ref.version} "
                         f"until you pin the new one in [environments.{self.source.env}.secrets]")
        if self.overlay:
            notes.append(f"the pods of env {self.source.env} mount the secret versions that the "
                         f"SecretProviderClass in {self.overlay} names: change {ref.secret}'s "
                         "there to the new version, then release")
        disabled = previous if disable_previous else None
        if self.runner.dry_run:
            console.note(f"[dry-run] would add a version to {secret.name}"
                         + (f", then disable version {disabled}" if disabled else "")
                         + "; nothing was sent")
            return Written(name, ref.reference, "new", previous, disabled, tuple(notes))
        data = value.encode("utf-8")
        payload = {"data": data, "data_crc32c": google_crc32c.value(data)}
        added = self.source.api.call(secret, lambda c: c.add_secret_version(
            request={"parent": secret.name, "payload": payload}, timeout=CALL_TIMEOUT),
            doing="add a version to", role=ADDER)
        if disabled is not None:
            self.source.api.call(secret, lambda c: c.disable_secret_version(
                request={"name": f"{secret.name}/versions/{disabled}"}, timeout=CALL_TIMEOUT),
                doing=f"disable version {disabled} of", role=MANAGER)
        return Written(name, ref.reference, str(version_number(added.name)), previous, disabled,
                       tuple(notes))

    # --- inventory and checks ------------------------------------------------------------

    def inventory(self) -> list[Stored]:
        rows = []
        for name in self.source.names():
            ref = self.source.secret(name).ref
            try:
                enabled = tuple(str(n) for n, state in self.source.versions(name)
                                if state == "ENABLED")
            except UsageError as exc:  # not found: say so in its row
                rows.append(Stored(name, ref.reference, None, problem=exc.message))
                continue
            resolved = self.source.resolve(name)  # the version a deploy would pin, its way
            rows.append(Stored(name, ref.reference, resolved.version, enabled,
                               pinned=ref.version != LATEST,
                               problem=resolved.problem.message if resolved.problem else None))
        return rows

    def checks(self) -> list[Check]:
        return self.source.checks()  # exists, enabled, the runtime account may access it
