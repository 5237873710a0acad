"""The bootstrap plan: what the project should hold (desired.py) against what was read from
it, as one row per resource (present / will create / will change) and the gcloud commands
that close the gap, in the order they must run. Pure.

Order: APIs first (nothing else can be read or made before its API is on), then the
repository, the accounts and the secrets, then the IAM bindings on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shipyard.bootstrap.desired import API_OF, Desired
from shipyard.commands import gcloud_bootstrap as gb
from shipyard.commands.gcloud_bootstrap import ACCOUNT, Argv, PolicyHolder

PRESENT, CREATE, CHANGE = "present", "will create", "will change"
ENABLE, CREATE_STEP, GRANT = "enable", "create", "grant"
Grants = frozenset[tuple[str, str]]  # (role, member) of the unconditional bindings


@dataclass(frozen=True)
class Observed:
    """What was read. `exists` has every resource that was read (True: there); a resource
    whose API is off was not read and is absent from it. `granted`: each readable policy."""

    enabled: frozenset[str]
    exists: Mapping[PolicyHolder, bool] = field(default_factory=dict)
    granted: Mapping[PolicyHolder, Grants] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    kind: str
    name: str
    state: str
    note: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "state": self.state, "note": self.note}


@dataclass(frozen=True)
class Step:
    argv: Argv
    what: str
    # enable; create (ALREADY_EXISTS means done: it was made meanwhile, or its API was off
    # when read); grant (a read-modify-write of a policy: retried on a concurrent change)
    kind: str


@dataclass(frozen=True)
class Plan:
    rows: tuple[Row, ...]
    steps: tuple[Step, ...]

    @property
    def changes(self) -> bool:
        return bool(self.steps)


def plan(want: Desired, seen: Observed, gcloud: str) -> Plan:
    rows: list[Row] = []
    steps: list[Step] = []
    missing = sorted(api for api in want.apis if api not in seen.enabled)
    for api, why in sorted(want.apis.items()):
        rows.append(Row("api", api, CREATE if api in missing else PRESENT, why))
    if missing:
        steps.append(Step(gb.enable_services(gcloud, want.project, missing),
                          f"enable {len(missing)} API(s)", ENABLE))

    def unread(holder: PolicyHolder) -> bool:
        return holder not in seen.exists

    def create(holder: PolicyHolder, argv: Argv, note: str) -> None:
        there = seen.exists.get(holder, False)
        off = " (its API was off: not read)" if unread(holder) else ""
        rows.append(Row(holder.kind, holder.name, PRESENT if there else CREATE, note + off))
        if not there:
            steps.append(Step(argv, f"create {holder.kind} {holder.name}", CREATE_STEP))

    repo = want.repository
    create(repo, gb.create_repository(gcloud, repo.name, repo.location, repo.project,
                                      "release images (shipyard)"),
           f"docker, {repo.location}")
    for account in want.accounts:
        holder = PolicyHolder(ACCOUNT, account.email, want.project)
        create(holder, gb.create_service_account(gcloud, account.account_id,
                                                 account.display_name, want.project),
               account.key.rsplit(".", 1)[-1])
    for secret in want.secrets:
        create(secret, gb.create_secret(gcloud, secret.name, secret.project),
               "created empty: values come from `invoke secrets-set`")
    for binding in want.bindings:
        holder = binding.holder
        granted = seen.granted.get(holder, frozenset())
        where = f"{holder.kind} {_short(holder.name)}"
        name = f"{binding.role} → {_short(binding.member.partition(':')[2])} on {where}"
        if (binding.role, binding.member) in granted:
            rows.append(Row("binding", name, PRESENT, binding.reason))
            continue
        off = API_OF[holder.kind] not in seen.enabled
        rows.append(Row("binding", name, CHANGE, binding.reason +
                        (" (its API was off: policy not read)" if off else "")))
        steps.append(Step(gb.add_iam_binding(gcloud, holder, binding.member, binding.role),
                          f"grant {binding.role} on {where}", GRANT))
    return Plan(tuple(rows), tuple(steps))


def _short(name: str) -> str:
    """A service account by its id in the plan's table (the accounts' rows give the email)."""
    account_id, at, domain = name.partition("@")
    return account_id if at and domain.endswith(".iam.gserviceaccount.com") else name
