"""Cloud Monitoring v3 (alert policies, uptime checks) and Cloud Logging v2 (log-based
metrics) stand-in, as `gcloud alpha monitoring policies`, `gcloud monitoring uptime` and
`gcloud logging metrics` use them (measured with the real gcloud 528):

    GET  /v3/projects/P/alertPolicies            list → {"alertPolicies": [...]}
    POST /v3/projects/P/alertPolicies            create: the server names the policy and
                                                 each condition, sets enabled, records
    PATCH /v3/projects/P/alertPolicies/ID        no updateMask: the whole policy replaced
    GET|POST /v3/projects/P/uptimeCheckConfigs   list / create
    GET|PATCH|DELETE /v3/projects/P/uptimeCheckConfigs/ID   (update: gcloud GETs, merges,
                                                 PATCHes it all; the resource is immutable)
    GET|POST /v2/projects/P/metrics, GET|PUT /v2/projects/P/metrics/NAME

It refuses what the platform refuses: a policy without displayName or conditions, a
condition that is not exactly one kind, a notification channel the project lacks, a
threshold on a log-based metric that does not exist yet, an uptime period other than 1, 5,
10 or 15 minutes, a second metric with the same name, a changed uptime resource.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from tests.contract.json_standin import ApiError, JsonStandIn, Route

P = r"/v3/projects/(?P<project>[^/]+)"
L = r"/v2/projects/(?P<project>[^/]+)"
KINDS = ("conditionThreshold", "conditionAbsent", "conditionMatchedLog",
         "conditionMonitoringQueryLanguage", "conditionPrometheusQueryLanguage")
USER_METRIC = re.compile(r'metric\.type\s*=\s*"logging\.googleapis\.com/user/([^"]+)"')
LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
PERIODS = ("60s", "300s", "600s", "900s")


class MonitoringStandIn(JsonStandIn):
    def __init__(self, project: str = "shipyard-test", channels: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.project = project
        self.channels = {f"projects/{project}/notificationChannels/{c}" for c in channels}
        self.policies: dict[str, dict[str, Any]] = {}
        self.uptime: dict[str, dict[str, Any]] = {}
        self.metrics: dict[str, dict[str, Any]] = {}
        self._seq = 0

    def routes(self) -> list[Route]:
        return [
            ("GET", re.compile(P + "/alertPolicies"), self.list_policies),
            ("POST", re.compile(P + "/alertPolicies"), self.create_policy),
            ("PATCH", re.compile(P + r"/alertPolicies/(?P<id>[^/]+)"), self.update_policy),
            ("GET", re.compile(P + "/uptimeCheckConfigs"), self.list_uptime),
            ("POST", re.compile(P + "/uptimeCheckConfigs"), self.create_uptime),
            ("GET", re.compile(P + r"/uptimeCheckConfigs/(?P<id>[^/]+)"), self.get_uptime),
            ("PATCH", re.compile(P + r"/uptimeCheckConfigs/(?P<id>[^/]+)"), self.update_uptime),
            ("DELETE", re.compile(P + r"/uptimeCheckConfigs/(?P<id>[^/]+)"),
             self.delete_uptime),
            ("GET", re.compile(L + "/metrics"), self.list_metrics),
            ("POST", re.compile(L + "/metrics"), self.create_metric),
            ("GET", re.compile(L + r"/metrics/(?P<name>[^/]+)"), self.get_metric),
            ("PUT", re.compile(L + r"/metrics/(?P<name>[^/]+)"), self.put_metric),
        ]

    def _next(self) -> str:
        self._seq += 1
        return str(1000 + self._seq)

    def _project(self, project: str) -> None:
        if project != self.project:
            raise ApiError(403, f"project {project} is not this stand-in's ({self.project})")

    # -- alert policies --------------------------------------------------------------------

    def list_policies(self, _: Any, query: dict[str, str], project: str) -> dict[str, Any]:
        self._project(project)
        return {"alertPolicies": [copy.deepcopy(p) for p in self.policies.values()]}

    def _checked(self, policy: Any, project: str) -> dict[str, Any]:
        if not isinstance(policy, dict) or not policy.get("displayName"):
            raise ApiError(400, "Field alert_policy.display_name is required")
        conditions = policy.get("conditions") or []
        if not 1 <= len(conditions) <= 6:
            raise ApiError(400, "An alert policy must have from 1 to 6 conditions")
        if len(conditions) > 1 and policy.get("combiner") in (None, "COMBINE_UNSPECIFIED"):
            raise ApiError(400, "Field alert_policy.combiner is required")
        for condition in conditions:
            kinds = [k for k in KINDS if k in condition]
            if len(kinds) != 1 or not condition.get("displayName"):
                raise ApiError(400, "A condition needs a display name and exactly one kind")
            threshold = condition.get("conditionThreshold") or {}
            for part in ("filter", "denominatorFilter"):
                for metric in USER_METRIC.findall(threshold.get(part, "")):
                    if metric not in self.metrics:
                        raise ApiError(404, f"Cannot find metric(s) that match type = "
                                       f'"logging.googleapis.com/user/{metric}"')
            if threshold and not isinstance(threshold.get("thresholdValue", 0), int | float):
                raise ApiError(400, "thresholdValue must be a number")
        for channel in policy.get("notificationChannels", []):
            if channel not in self.channels:
                raise ApiError(404, f"Notification channel {channel} does not exist")
        for value in policy.get("userLabels", {}).values():
            if not isinstance(value, str) or not LABEL_VALUE.fullmatch(value):
                raise ApiError(400, f"user label value {value!r} is not valid")
        return copy.deepcopy(policy)

    def _stored(self, policy: dict[str, Any], name: str, created: Any) -> dict[str, Any]:
        for index, condition in enumerate(policy["conditions"]):
            condition["name"] = f"{name}/conditions/{index + 1}"
        policy.setdefault("enabled", True)
        policy.setdefault("combiner", "OR")
        policy.update(name=name, creationRecord=created,
                      mutationRecord={"mutateTime": f"2026-01-01T00:{self._seq:02d}:00Z"})
        self.policies[name] = policy
        return copy.deepcopy(policy)

    def create_policy(self, body: Any, _: dict[str, str], project: str) -> dict[str, Any]:
        self._project(project)
        policy = self._checked(body, project)
        name = f"projects/{project}/alertPolicies/{self._next()}"
        return self._stored(policy, name, {"mutateTime": "2026-01-01T00:00:00Z"})

    def update_policy(self, body: Any, query: dict[str, str], project: str, id: str
                      ) -> dict[str, Any]:  # noqa: A002 - the API's word
        self._project(project)
        name = f"projects/{project}/alertPolicies/{id}"
        if name not in self.policies:
            raise ApiError(404, f"Alert policy {name} does not exist")
        if query.get("updateMask"):
            raise ApiError(400, "updateMask is not modelled by this stand-in")
        policy = self._checked(body, project)  # no mask: the whole policy is replaced
        return self._stored(policy, name, self.policies[name].get("creationRecord"))

    # -- uptime checks ---------------------------------------------------------------------

    def list_uptime(self, _: Any, query: dict[str, str], project: str) -> dict[str, Any]:
        self._project(project)
        return {"uptimeCheckConfigs": [copy.deepcopy(u) for u in self.uptime.values()]}

    def _checked_uptime(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not body.get("displayName"):
            raise ApiError(400, "display_name is required")
        if body.get("period", "60s") not in PERIODS:
            raise ApiError(400, "period must be one of 60s, 300s, 600s, 900s")
        seconds = int(str(body.get("timeout", "10s")).rstrip("s") or 0)
        if not 1 <= seconds <= 60:
            raise ApiError(400, "timeout must be from 1s to 60s")
        return copy.deepcopy(body)

    def create_uptime(self, body: Any, _: dict[str, str], project: str) -> dict[str, Any]:
        self._project(project)
        check = self._checked_uptime(body)
        resource = check.get("monitoredResource", {})
        if resource.get("type") != "uptime_url" or not resource.get("labels", {}).get("host"):
            raise ApiError(400, "an uptime_url check needs labels.host")
        slug = re.sub(r"[^a-z0-9]+", "-", check["displayName"].lower()).strip("-")
        check["name"] = f"projects/{project}/uptimeCheckConfigs/{slug}-{self._next()}"
        check.setdefault("checkerType", "STATIC_IP_CHECKERS")
        self.uptime[check["name"]] = check
        return copy.deepcopy(check)

    def _uptime(self, project: str, id: str) -> dict[str, Any]:  # noqa: A002
        self._project(project)
        name = f"projects/{project}/uptimeCheckConfigs/{id}"
        if name not in self.uptime:
            raise ApiError(404, f"Uptime check {name} does not exist")
        return self.uptime[name]

    def get_uptime(self, _: Any, query: dict[str, str], project: str, id: str  # noqa: A002
                   ) -> dict[str, Any]:
        return copy.deepcopy(self._uptime(project, id))

    def update_uptime(self, body: Any, query: dict[str, str], project: str,
                      id: str) -> dict[str, Any]:  # noqa: A002
        stored = self._uptime(project, id)
        check = self._checked_uptime(body)
        if check.get("monitoredResource", stored.get("monitoredResource")) != \
                stored.get("monitoredResource"):
            raise ApiError(400, "monitored_resource cannot be updated")
        check.update(name=stored["name"], monitoredResource=stored.get("monitoredResource"))
        self.uptime[stored["name"]] = check
        return copy.deepcopy(check)

    def delete_uptime(self, _: Any, query: dict[str, str], project: str, id: str  # noqa: A002
                      ) -> dict[str, Any]:
        del self.uptime[self._uptime(project, id)["name"]]
        return {}

    # -- log-based metrics -----------------------------------------------------------------

    def list_metrics(self, _: Any, query: dict[str, str], project: str) -> dict[str, Any]:
        self._project(project)
        return {"metrics": [copy.deepcopy(m) for m in self.metrics.values()]}

    def _checked_metric(self, body: Any, name: str) -> dict[str, Any]:
        if not isinstance(body, dict) or not body.get("filter"):
            raise ApiError(400, "a log-based metric needs a filter")
        metric = {k: body[k] for k in ("name", "description", "filter") if k in body}
        metric["name"] = name
        metric.setdefault("metricDescriptor", {"metricKind": "DELTA", "valueType": "INT64"})
        return metric

    def create_metric(self, body: Any, _: dict[str, str], project: str) -> dict[str, Any]:
        self._project(project)
        name = (body or {}).get("name", "")
        if name in self.metrics:
            raise ApiError(409, f"Metric {name} already exists")
        self.metrics[name] = self._checked_metric(body, name)
        return copy.deepcopy(self.metrics[name])

    def get_metric(self, _: Any, query: dict[str, str], project: str, name: str
                   ) -> dict[str, Any]:
        self._project(project)
        if name not in self.metrics:
            raise ApiError(404, f"Metric {name} does not exist")
        return copy.deepcopy(self.metrics[name])

    def put_metric(self, body: Any, _: dict[str, str], project: str, name: str
                   ) -> dict[str, Any]:
        self._project(project)
        self.metrics[name] = self._checked_metric(body, name)
        return copy.deepcopy(self.metrics[name])
