"""The `[environments.NAME.run]` table of a cloudrun environment: how each revision runs.

    [environments.staging.run]
    allow_unauthenticated = true   # public URL; false: callers need an identity token
    # or per service (a service left out is private):
    # allow_unauthenticated = { meta-verse-visualizer-main = true, api-server = false }
    invoker_service_account = "verifier@PROJECT.iam.gserviceaccount.com"  # optional: mint the
        # identity token for private services by impersonating it (needed for a user login)
    cpu = "1"
    memory = "512Mi"
    concurrency = 80
    min_instances = 0
    max_instances = 10

Cloud Run's own limits are checked here, before anything runs: a service name has at most
49 characters (lowercase letters, digits, hyphens, starting with a letter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shipyard.config.schema import Table

SERVICE_NAME = re.compile(r"[a-z](?:[a-z0-9-]{0,47}[a-z0-9])?")
MEMORY = re.compile(r"[1-9][0-9]*(Mi|Gi)")
SERVICE_ACCOUNT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.-]+\.gserviceaccount\.com")
CPU = re.compile(r"[1-9][0-9]*|[1-9][0-9]{2,3}m")


@dataclass(frozen=True)
class RunSettings:
    allow_unauthenticated: bool = False  # every service public
    public_services: frozenset[str] = field(default_factory=frozenset)  # the per-service form
    invoker_service_account: str | None = None
    cpu: str | None = None
    memory: str | None = None
    concurrency: int | None = None
    min_instances: int | None = None
    max_instances: int | None = None

    def is_public(self, service: str) -> bool:
        return self.allow_unauthenticated or service in self.public_services


def _public(t: Table, services: list[str]) -> tuple[bool, frozenset[str]]:
    if not isinstance(t.data.get("allow_unauthenticated"), dict):
        return t.get("allow_unauthenticated", bool, False), frozenset()
    table = t.table("allow_unauthenticated")
    for name, _ in table.items():
        if name not in services:
            raise t.fail(table.key(name), f"unknown service {name!r}")
    return False, frozenset(name for name in services if table.get(name, bool, False))


def parse_run(t: Table, services: list[str]) -> RunSettings:
    for name in services:
        if SERVICE_NAME.fullmatch(name) is None:
            raise t.fail(f"services.{name}", "a Cloud Run service name has at most 49 "
                         "characters: lowercase letters, digits and hyphens, starting with a "
                         "letter and not ending with a hyphen")
    everyone, public = _public(t, services)
    invoker = t.get("invoker_service_account", str, None)
    if invoker is not None and SERVICE_ACCOUNT.fullmatch(invoker) is None:
        raise t.fail(t.key("invoker_service_account"), "must be a service account e-mail, "
                     "NAME@PROJECT.iam.gserviceaccount.com")
    settings = RunSettings(
        allow_unauthenticated=everyone, public_services=public,
        invoker_service_account=invoker,
        cpu=t.get("cpu", str, None), memory=t.get("memory", str, None),
        concurrency=t.get("concurrency", int, None),
        min_instances=t.get("min_instances", int, None),
        max_instances=t.get("max_instances", int, None))
    if settings.cpu is not None and CPU.fullmatch(settings.cpu) is None:
        raise t.fail(t.key("cpu"), 'must be a whole number of CPUs ("1", "2") or millicpu '
                                   '("500m")')
    if settings.memory is not None and MEMORY.fullmatch(settings.memory) is None:
        raise t.fail(t.key("memory"), 'must be a size such as "512Mi" or "2Gi"')
    if settings.concurrency is not None and not 1 <= settings.concurrency <= 1000:
        raise t.fail(t.key("concurrency"), "must be from 1 to 1000")
    low, high = settings.min_instances, settings.max_instances
    if low is not None and low < 0:
        raise t.fail(t.key("min_instances"), "must be 0 or more")
    if high is not None and (high < 1 or (low is not None and high < low)):
        raise t.fail(t.key("max_instances"), "must be 1 or more, and at least min_instances")
    t.done()
    return settings
