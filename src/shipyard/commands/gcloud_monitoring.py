"""gcloud argv builders for operations: Cloud Monitoring alert policies and uptime checks,
log-based metrics, Cloud SQL backups, project IAM. Pure.

Alert policies are only in `gcloud alpha monitoring policies` (Cloud SDK 528). A policy
travels as JSON in `--policy`: it holds no secret, and no temp file is left behind.
`policies update NAME --policy JSON` sends a PATCH without an update mask, which replaces
the whole policy.
"""

from __future__ import annotations

import json
from typing import Any

from shipyard.commands.gcloud import Argv, dict_flag


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def list_policies(gcloud: str, project: str) -> Argv:
    return (gcloud, "alpha", "monitoring", "policies", "list", "--project", project,
            "--format", "json", "--quiet")


def create_policy(gcloud: str, project: str, policy: dict[str, Any]) -> Argv:
    return (gcloud, "alpha", "monitoring", "policies", "create", "--project", project,
            "--policy", _json(policy), "--format", "json", "--quiet")


def update_policy(gcloud: str, project: str, name: str, policy: dict[str, Any]) -> Argv:
    """`name`: projects/P/alertPolicies/ID, as the list returned it."""
    return (gcloud, "alpha", "monitoring", "policies", "update", name, "--project", project,
            "--policy", _json(policy), "--format", "json", "--quiet")


def list_log_metrics(gcloud: str, project: str) -> Argv:
    return (gcloud, "logging", "metrics", "list", "--project", project, "--format", "json",
            "--quiet")


def log_metric(gcloud: str, project: str, verb: str, name: str, description: str,
               log_filter: str) -> Argv:
    """verb: create or update (a counter metric: description and filter are all it has)."""
    if verb not in ("create", "update"):
        raise ValueError(f"verb must be create or update, not {verb!r}")
    return (gcloud, "logging", "metrics", verb, name, "--project", project,
            "--description", description, "--log-filter", log_filter, "--quiet")


def list_uptime(gcloud: str, project: str) -> Argv:
    return (gcloud, "monitoring", "uptime", "list-configs", "--project", project,
            "--format", "json", "--quiet")


def _uptime_settings(path: str, port: int, period_minutes: int, timeout_seconds: int
                     ) -> list[str]:
    return ["--path", path, "--port", str(port), "--period", str(period_minutes),
            "--timeout", str(timeout_seconds)]


def create_uptime(gcloud: str, project: str, display_name: str, host: str, path: str, *,
                  https: bool, port: int, period_minutes: int, timeout_seconds: int) -> Argv:
    return (gcloud, "monitoring", "uptime", "create", display_name, "--project", project,
            "--resource-type", "uptime-url",
            "--resource-labels", dict_flag({"host": host, "project_id": project}),
            "--protocol", "https" if https else "http",
            *_uptime_settings(path, port, period_minutes, timeout_seconds),
            "--format", "json", "--quiet")


def update_uptime(gcloud: str, project: str, check_id: str, path: str, *, port: int,
                  period_minutes: int, timeout_seconds: int) -> Argv:
    """The host and protocol cannot be updated: a check whose host changed is replaced."""
    return (gcloud, "monitoring", "uptime", "update", check_id, "--project", project,
            *_uptime_settings(path, port, period_minutes, timeout_seconds),
            "--format", "json", "--quiet")


def delete_uptime(gcloud: str, project: str, check_id: str) -> Argv:
    return (gcloud, "monitoring", "uptime", "delete", check_id, "--project", project,
            "--quiet")


def describe_sql_instance(gcloud: str, project: str, instance: str) -> Argv:
    return (gcloud, "sql", "instances", "describe", instance, "--project", project,
            "--format", "json", "--quiet")


def list_sql_backups(gcloud: str, project: str, instance: str) -> Argv:
    return (gcloud, "sql", "backups", "list", "--instance", instance, "--project", project,
            "--format", "json", "--quiet")


def project_iam_policy(gcloud: str, project: str) -> Argv:
    return (gcloud, "projects", "get-iam-policy", project, "--format", "json", "--quiet")
