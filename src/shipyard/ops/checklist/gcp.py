"""The checklist's checks that ask Google Cloud, through gcloud: Cloud SQL backups and the
roles of the runtime service accounts. Reads only; the judging functions are pure."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from shipyard.commands import gcloud_monitoring as gm
from shipyard.config import Environment
from shipyard.config.ops import CloudSql
from shipyard.errors import ShipyardError
from shipyard.exec.runner import Runner
from shipyard.ops.checklist.checks import FAIL, PASS, SKIPPED, Check

PRIMITIVE = ("roles/owner", "roles/editor")
BACKUPS_TITLE = "Cloud SQL automated backups enabled, the newest recent enough"
ROLES_TITLE = "no primitive roles (owner, editor) on the runtime service accounts"


def judge_backups(sql: CloudSql, instance: dict[str, Any], backups: list[dict[str, Any]],
                  now: datetime) -> Check:
    config = instance.get("settings", {}).get("backupConfiguration", {})
    if not config.get("enabled"):
        return Check("backups", BACKUPS_TITLE, FAIL,
                     f"{sql.instance}: automated backups are not enabled")
    ends = [_time(b.get("endTime")) for b in backups if b.get("status") == "SUCCESSFUL"]
    done = [t for t in ends if t is not None]
    if not done:
        return Check("backups", BACKUPS_TITLE, FAIL, f"{sql.instance}: no successful backup")
    newest = max(done)
    age = now - newest
    hours = age / timedelta(hours=1)
    detail = (f"{sql.instance}: newest successful backup {newest:%Y-%m-%dT%H:%MZ}, "
              f"{hours:.1f} h old (at most {sql.max_backup_age_hours} h)")
    return Check("backups", BACKUPS_TITLE,
                 PASS if hours <= sql.max_backup_age_hours else FAIL, detail)


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def judge_roles(accounts: tuple[str, ...], policy: dict[str, Any]) -> Check:
    if not accounts:
        return Check("roles", ROLES_TITLE, FAIL, "no runtime service account configured "
                     "(service_account, or checklist.service_accounts)")
    found = []
    for binding in policy.get("bindings", []):
        if binding.get("role") in PRIMITIVE and not binding.get("condition"):
            for account in accounts:
                if f"serviceAccount:{account}" in binding.get("members", []):
                    found.append(f"{account} has {binding['role']}")
    if found:
        return Check("roles", ROLES_TITLE, FAIL, "; ".join(found))
    return Check("roles", ROLES_TITLE, PASS, f"{', '.join(accounts)}: no owner or editor")


def runtime_accounts(env: Environment) -> tuple[str, ...]:
    own = (env.gcp.service_account,) if env.gcp and env.gcp.service_account else ()
    return tuple(dict.fromkeys(own + env.ops.checklist.service_accounts))


def _read(runner: Runner, argv: tuple[str, ...], what: str) -> Any:
    result = runner.run(argv, mutates=False, check=False, timeout=120)
    if not result.ok:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ShipyardError(f"gcloud could not read {what}: {tail}")
    try:
        return json.loads(result.stdout or "null")
    except json.JSONDecodeError:
        raise ShipyardError(f"gcloud answered {what} with something other than JSON") from None


def backups_check(runner: Runner, gcloud: str, env: Environment, now: datetime) -> Check:
    sql = env.ops.checklist.cloudsql
    if sql is None:
        return Check("backups", BACKUPS_TITLE, SKIPPED, "no checklist.cloudsql configured")
    if env.gcp is None:
        return Check("backups", BACKUPS_TITLE, FAIL, "Cloud SQL needs a Google Cloud env")
    try:
        instance = _read(runner, gm.describe_sql_instance(gcloud, env.gcp.project,
                                                          sql.instance), f"{sql.instance}")
        backups = _read(runner, gm.list_sql_backups(gcloud, env.gcp.project, sql.instance),
                        f"the backups of {sql.instance}")
    except ShipyardError as exc:
        return Check("backups", BACKUPS_TITLE, FAIL, exc.message)
    listed = [b for b in backups if isinstance(b, dict)] if isinstance(backups, list) else []
    return judge_backups(sql, instance if isinstance(instance, dict) else {}, listed, now)


def roles_check(runner: Runner, gcloud: str, env: Environment) -> Check:
    if env.gcp is None:
        return Check("roles", ROLES_TITLE, SKIPPED, "not a Google Cloud environment")
    accounts = runtime_accounts(env)
    if not accounts:
        return judge_roles(accounts, {})
    try:
        policy = _read(runner, gm.project_iam_policy(gcloud, env.gcp.project),
                       f"the IAM policy of {env.gcp.project}")
    except ShipyardError as exc:
        return Check("roles", ROLES_TITLE, FAIL, exc.message)
    return judge_roles(accounts, policy if isinstance(policy, dict) else {})
