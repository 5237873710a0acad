"""A flag's env on GKE is a JSON 6902 patch at the container's index: the base's own order of
containers and env entries stays as it was (a strategic merge moved the patched container
first), a variable the base sets is replaced whole, a new one is appended."""

from __future__ import annotations

import json

from shipyard.targets.gke.render import EnvPatch, deployments

RENDER = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: backend}
spec:
  template:
    spec:
      containers:
      - {name: exporter, image: statsd:1}
      - name: app
        image: registry/api-server:1
        env:
        - {name: LOG_LEVEL, value: info}
        - name: VIDEO_GENERATION_ENABLED
          valueFrom: {configMapKeyRef: {name: flags, key: video}}
"""


def test_a_variable_the_base_sets_is_replaced_whole_and_a_new_one_appended() -> None:
    (backend,) = deployments(RENDER, "default")
    assert backend.env_names == ((), ("LOG_LEVEL", "VIDEO_GENERATION_ENABLED"))
    patch = EnvPatch("backend", 1, backend.env_names[1],
                     {"VIDEO_GENERATION_ENABLED": "false", "NEW": "x"})
    assert patch.patch()["target"] == {"kind": "Deployment", "name": "backend"}
    assert json.loads(patch.patch()["patch"]) == [
        {"op": "add", "path": "/spec/template/spec/containers/1/env/-",
         "value": {"name": "NEW", "value": "x"}},
        {"op": "replace", "path": "/spec/template/spec/containers/1/env/1",
         "value": {"name": "VIDEO_GENERATION_ENABLED", "value": "false"}}]


def test_a_container_without_env_gets_the_list_first() -> None:
    ops = json.loads(EnvPatch("backend", 0, (), {"A": "1"}).patch()["patch"])
    assert ops == [{"op": "add", "path": "/spec/template/spec/containers/0/env", "value": []},
                   {"op": "add", "path": "/spec/template/spec/containers/0/env/-",
                    "value": {"name": "A", "value": "1"}}]
