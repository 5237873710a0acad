"""Cloud SQL Admin (v1beta4) and Resource Manager (v1) stand-in for the checklist's reads,
as `gcloud sql instances describe`, `gcloud sql backups list` and `gcloud projects
get-iam-policy` send them (measured with the real gcloud 528):

    GET  /sql/v1beta4/projects/P/instances/I              the instance (404 if unknown)
    GET  /sql/v1beta4/projects/P/instances/I/backupRuns   {"items": [BackupRun...]}
    POST /v1/projects/P:getIamPolicy                      {"bindings": [...], "etag", ...}

Tests set the state: `instance(name, backups_enabled, backups=[(status, end time)])`,
`bind(role, member)`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from tests.contract.json_standin import ApiError, JsonStandIn, Route

SQL = r"/sql/v1beta4/projects/(?P<project>[^/]+)/instances/(?P<instance>[^/]+)"


class CloudSqlIamStandIn(JsonStandIn):
    def __init__(self, project: str = "shipyard-test") -> None:
        super().__init__()
        self.project = project
        self.instances: dict[str, dict[str, Any]] = {}
        self.backup_runs: dict[str, list[dict[str, Any]]] = {}
        self.bindings: dict[str, list[str]] = {}

    def routes(self) -> list[Route]:
        return [("GET", re.compile(SQL), self.get_instance),
                ("GET", re.compile(SQL + "/backupRuns"), self.list_backups),
                ("POST", re.compile(r"/v1/projects/(?P<project>[^/:]+):getIamPolicy"),
                 self.get_iam_policy)]

    # -- what tests set --------------------------------------------------------------------

    def instance(self, name: str, *, backups_enabled: bool = True,
                 backups: list[tuple[str, datetime]] = ()) -> None:  # type: ignore[assignment]
        with self.lock:
            self.instances[name] = {
                "kind": "sql#instance", "name": name, "project": self.project,
                "state": "RUNNABLE", "databaseVersion": "POSTGRES_15",
                "settings": {"tier": "db-custom-1-3840", "backupConfiguration": {
                    "kind": "sql#backupConfiguration", "enabled": backups_enabled,
                    "startTime": "03:00", "pointInTimeRecoveryEnabled": backups_enabled}}}
            self.backup_runs[name] = [
                {"kind": "sql#backupRun", "id": str(1700000000 + n), "instance": name,
                 "status": status, "type": "AUTOMATED",
                 "windowStartTime": _stamp(end - timedelta(minutes=10)),
                 "startTime": _stamp(end - timedelta(minutes=5)), "endTime": _stamp(end)}
                for n, (status, end) in enumerate(backups)]

    def bind(self, role: str, member: str) -> None:
        with self.lock:
            self.bindings.setdefault(role, []).append(member)

    # -- the API ---------------------------------------------------------------------------

    def _instance(self, project: str, instance: str) -> dict[str, Any]:
        if project != self.project or instance not in self.instances:
            raise ApiError(404, "The Cloud SQL instance does not exist.")
        return self.instances[instance]

    def get_instance(self, _: Any, query: dict[str, str], project: str, instance: str
                     ) -> dict[str, Any]:
        return self._instance(project, instance)

    def list_backups(self, _: Any, query: dict[str, str], project: str, instance: str
                     ) -> dict[str, Any]:
        self._instance(project, instance)
        runs = sorted(self.backup_runs[instance], key=lambda r: r["endTime"], reverse=True)
        return {"kind": "sql#backupRunsList", "items": runs}

    def get_iam_policy(self, body: Any, query: dict[str, str], project: str
                       ) -> dict[str, Any]:
        if project != self.project:
            raise ApiError(403, f"The caller does not have permission on {project}")
        bindings = [{"role": role, "members": sorted(members)}
                    for role, members in sorted(self.bindings.items())]
        return {"version": 1, "etag": "BwYAAAAAAAA=", "bindings": bindings}


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
