"""cloudbuild.yaml read and checked as Cloud Build checks it, before any step runs; waitFor as
a dependency graph (the rules of the Cloud Build docs' "Configuring the order of build steps")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.cloudbuild import parse
from shipyard.cloudbuild.schedule import dependencies, ready, waves
from shipyard.errors import ConfigError

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "meta-ad-studio"
TEMPLATE = Path(__file__).resolve().parents[2] / "src" / "shipyard" / "templates"
FILE = Path("ci-cd/cloudbuild.yaml")


def build(text: str) -> parse.Build:
    return parse.parse(yaml.safe_load(text), FILE)


def refused(data: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse.parse(data, FILE)
    return caught.value.message


def step(**fields: Any) -> dict[str, Any]:
    return {"name": "img", "entrypoint": "true", **fields}


def test_the_samples_file_reads_as_the_lead_wrote_it() -> None:
    sample = parse.load(SAMPLE / FILE)
    assert [s.id for s in sample.steps] == ["version", "history", "install", "tests",
                                            "scan", "release"]
    assert sample.timeout == 1800.0 and sample.dynamic and not sample.loose
    assert sample.substitutions["_VERSION"] == "${TAG_NAME}"
    assert sample.steps[5].args == ("release", "--version", "${_VERSION}", "--env", "${_ENV}")
    assert sample.steps[0].env == ("RELEASE_VERSION=${_VERSION}",)
    assert dependencies(sample.steps) == (frozenset(), frozenset({0}), frozenset({0}),
                                          frozenset({2}), frozenset({2}),
                                          frozenset({1, 3, 4}))


def test_the_template_and_the_samples_copy_are_the_same_file() -> None:
    assert (TEMPLATE / FILE).read_text() == (SAMPLE / FILE).read_text()


def test_waitfor_rules() -> None:
    steps = build("""
steps:
  - {name: a, entrypoint: x, id: A}
  - {name: b, entrypoint: x, id: B, waitFor: ['-']}
  - {name: c, entrypoint: x}
  - {name: d, entrypoint: x, id: D, waitFor: [A]}
  - {name: e, entrypoint: x, waitFor: []}
  - {name: f, entrypoint: x, waitFor: ['-', D]}
""").steps
    graph = dependencies(steps)
    assert graph == (frozenset(), frozenset(), frozenset({0, 1}), frozenset({0}),
                     frozenset({0, 1, 2, 3}), frozenset({3}))
    assert waves(graph) == [[0, 1], [2, 3], [4, 5]]
    assert ready(graph, succeeded={0}, started={0, 1}) == [3]
    assert ready(graph, succeeded={0, 1}, started={0, 1}) == [2, 3]


def test_a_file_without_waitfor_runs_serially() -> None:
    steps = build("steps: [{name: a, entrypoint: x}, {name: b, entrypoint: x}, "
                  "{name: c, entrypoint: x}]").steps
    assert waves(dependencies(steps)) == [[0], [1], [2]]


@pytest.mark.parametrize(("data", "message"), [
    ({"steps": []}, "ci-cd/cloudbuild.yaml: steps: no build steps are specified"),
    ({"steps": [step(waitFor=["later"]), step(id="later")]},
     "ci-cd/cloudbuild.yaml: steps[0].waitFor: step #0 depends on 'later', which is not the "
     "id of an earlier step"),
    ({"steps": [step(id="a"), step(id="a")]},
     "ci-cd/cloudbuild.yaml: steps[1].id: 'a' is not unique"),
    ({"steps": [step(id="-")]}, "ci-cd/cloudbuild.yaml: steps[0].id: '-' is reserved for waitFor"),
    ({"steps": [step(env=["NOVALUE"])]},
     "ci-cd/cloudbuild.yaml: steps[0].env: 'NOVALUE' must be of the form KEY=VALUE"),
    ({"steps": [step()], "timeuot": "10s"}, "ci-cd/cloudbuild.yaml: .timeuot: unknown field"),
    ({"steps": [step(argz=[])]}, "ci-cd/cloudbuild.yaml: steps[0].argz: unknown field"),
    ({"steps": [step(timeout="20m")]},
     "ci-cd/cloudbuild.yaml: steps[0].timeout: '20m' is not a duration like 1800s"),
    ({"steps": [step(timeout="900s")], "timeout": "600s"},
     "ci-cd/cloudbuild.yaml: steps[0].timeout: 900s is longer than the build's timeout (600s)"),
    ({"steps": [step(name="")]},
     "ci-cd/cloudbuild.yaml: steps[0].name: every step must name its builder image"),
    ({"steps": [step(dir="../elsewhere")]},
     "ci-cd/cloudbuild.yaml: steps[0].dir: '../elsewhere' leaves the workspace; parity runs "
     "steps in the app's checkout, as Cloud Build runs them in /workspace"),
    ({"steps": [step(volumes=[{"name": "v", "path": "/v"}])]},
     "ci-cd/cloudbuild.yaml: steps[0].volumes: local parity cannot model volumes shared "
     "between steps"),
    ({"steps": [step(secretEnv=["TOKEN"])]},
     "ci-cd/cloudbuild.yaml: secretEnv: secretEnv 'TOKEN' is used without being defined in "
     "availableSecrets"),
    ({"steps": [step()], "availableSecrets": {"secretManager": [
        {"versionName": "projects/p/secrets/t/versions/1", "env": "TOKEN"}]}},
     "ci-cd/cloudbuild.yaml: availableSecrets: secretEnv 'TOKEN' is defined without being used"),
    ({"steps": [step()], "options": {"substitutionOption": "LOOSE"}},
     "ci-cd/cloudbuild.yaml: options.substitutionOption: 'LOOSE' is neither MUST_MATCH nor "
     "ALLOW_LOOSE"),
    (["not", "a", "mapping"], "ci-cd/cloudbuild.yaml: must be a mapping"),
])
def test_what_cloud_build_refuses_is_refused_naming_file_and_key(data: Any, message: str) -> None:
    assert refused(data) == message


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "cloudbuild.yaml"
    path.write_text("steps:\n  - name: x\n    env: [A=${_B}]\n")
    with pytest.raises(ConfigError) as caught:
        parse.load(path)
    assert caught.value.message == (f"{path}: not valid YAML (expected ',' or ']', but got "
                                    f"'{{' (line 3))")


def test_a_missing_file_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse.load(tmp_path / FILE)
    assert caught.value.message == f"{tmp_path / FILE}: no such file"


def test_defaults_timeout_and_secret_env() -> None:
    got = build("""
steps: [{name: a, entrypoint: x, secretEnv: [TOKEN], allowExitCodes: [3]}]
availableSecrets: {secretManager: [{versionName: projects/p/secrets/t/versions/2, env: TOKEN}]}
""")
    assert got.timeout == parse.DEFAULT_TIMEOUT == 600.0
    assert got.available_secrets == {"TOKEN"} and got.steps[0].allow_exit_codes == (3,)
    assert got.steps[0].label == "#0" and got.steps[0].wait_for is None
