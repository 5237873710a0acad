"""shipyard.toml parsing: what a user sees for a good file and for every kind of mistake."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from shipyard import config
from shipyard.errors import ConfigError, UsageError
from tests.conftest import missing_component

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "meta-ad-studio"

BASE = """\
[project]
name = "shop"

[services.api]
context = "api"
port = 8080

[services.web]
context = "web"
dockerfile = "web/docker/Dockerfile"
port = 3000

[environments.local]
target = "local"

[environments.local.proxy_ports]
api = 8081
web = 8082
"""

STAGING = """
[environments.staging]
target = "cloudrun"
project = "shop-staging"
region = "europe-west1"
repository = "containers"
"""

PROD = """
[environments.prod]
target = "gke"
project = "shop-prod"
region = "us-central1"
repository = "containers"
cluster = "main"
namespace = "shop"
overlay = "k8s/overlays/prod"
"""

DNS = ("not a DNS-1123 label (lowercase letters, digits and '-', "
       "starting and ending with a letter or digit, at most 63 characters)")
VAR = "not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)"


def write_repo(root: Path, text: str) -> Path:
    for dockerfile in ("api/Dockerfile", "web/docker/Dockerfile"):
        (root / dockerfile).parent.mkdir(parents=True, exist_ok=True)
        (root / dockerfile).write_text("FROM scratch\n")
    (root / "shipyard.toml").write_text(text)
    return root


def load(root: Path, text: str) -> config.Config:
    return config.load(write_repo(root, text))


def error(root: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(root, text)
    err = info.value
    assert err.exit_code == 2
    assert "\n" not in err.message
    assert err.message == str(err)
    assert err.hint
    return err.message


# --- a good file -----------------------------------------------------------------------------

def test_minimal_file_loads_with_defaults(tmp_path: Path) -> None:
    cfg = load(tmp_path, BASE)
    assert cfg.root == tmp_path.resolve()
    assert cfg.path == tmp_path.resolve() / "shipyard.toml"
    assert cfg.project == config.Project(name="shop")
    api, web = cfg.services
    assert (api.name, api.port, api.health_path, api.version_path) == (
        "api", 8080, "/healthz", "/version")
    assert api.context == tmp_path / "api"
    assert api.dockerfile == tmp_path / "api" / "Dockerfile"  # default: relative to context
    assert web.dockerfile == tmp_path / "web" / "docker" / "Dockerfile"  # explicit: from root
    local = cfg.environment("local")
    assert local.target == "local"
    assert local.local is not None and local.gcp is None
    assert dict(local.local.proxy_ports) == {"api": 8081, "web": 8082}
    assert (local.local.registry_port, local.local.keep_revisions) == (5000, 3)
    assert local.scan == config.ScanPolicy()


def test_registry_prefixes_are_derived_per_target(tmp_path: Path) -> None:
    text = BASE.replace('target = "local"', 'target = "local"\nregistry_port = 5111')
    cfg = load(tmp_path, text + STAGING + PROD)
    assert cfg.environment("local").registry == "127.0.0.1:5111/shop"
    assert cfg.environment("staging").registry == (
        "europe-west1-docker.pkg.dev/shop-staging/containers")
    assert cfg.environment("prod").registry == "us-central1-docker.pkg.dev/shop-prod/containers"
    prod = cfg.environment("prod").gcp
    assert prod is not None
    assert prod.gke is not None
    assert (prod.cluster, prod.namespace, prod.gke.overlay) == ("main", "shop", "k8s/overlays/prod")
    assert prod.gke.workloads["api"].deployment == "api" and prod.gke.rollout_timeout == 600
    assert prod.gke.lease_duration == 60
    staging = cfg.environment("staging").gcp
    assert staging is not None and staging.cluster is None


def test_cloud_run_visibility_per_service_and_the_invoker(tmp_path: Path) -> None:
    everyone = load(tmp_path, BASE + STAGING + "[environments.staging.run]\n"
                    "allow_unauthenticated = true\n").environment("staging").gcp
    assert everyone is not None and everyone.run is not None
    assert everyone.run.is_public("api") and everyone.run.is_public("web")
    mixed = load(tmp_path, BASE + STAGING + "[environments.staging.run]\n"
                 "allow_unauthenticated = { web = true, api = false }\n"
                 'invoker_service_account = "verifier@shop-staging.iam.gserviceaccount.com"\n'
                 ).environment("staging").gcp
    assert mixed is not None and mixed.run is not None
    assert mixed.run.is_public("web") and not mixed.run.is_public("api")
    assert mixed.run.invoker_service_account == "verifier@shop-staging.iam.gserviceaccount.com"
    default = load(tmp_path, BASE + STAGING).environment("staging").gcp
    assert default is not None and default.run is not None
    assert not default.run.is_public("web") and default.run.invoker_service_account is None


def test_explicit_registry_wins_and_loses_its_trailing_slash(tmp_path: Path) -> None:
    text = BASE.replace('target = "local"', 'target = "local"\nregistry = "reg.example:5000/x/"')
    assert load(tmp_path, text).environment("local").registry == "reg.example:5000/x"


def test_service_details_are_kept(tmp_path: Path) -> None:
    text = BASE.replace("port = 8080", """port = 8080
health_path = "/ready"
secrets = ["DATABASE_URL", "API_KEY"]
build_args = { NODE_ENV = "production", _X1 = "a b" }
env = { FEATURE = "on" }""")
    api = load(tmp_path, text).services[0]
    assert api.health_path == "/ready"
    assert api.secrets == ("DATABASE_URL", "API_KEY")
    assert dict(api.build_args) == {"NODE_ENV": "production", "_X1": "a b"}
    assert dict(api.env) == {"FEATURE": "on"}


def test_environment_scan_overrides_the_top_level_policy(tmp_path: Path) -> None:
    text = BASE + STAGING + """
[scan]
severity = "HIGH"
scanners = ["vuln"]

[environments.local.scan]
severity = "critical"
"""
    cfg = load(tmp_path, text)
    assert cfg.environment("local").scan.severity == "CRITICAL"
    assert cfg.environment("local").scan.scanners == ("vuln",)  # inherited
    assert cfg.environment("staging").scan.severity == "HIGH"


def test_config_objects_are_frozen(tmp_path: Path) -> None:
    cfg = load(tmp_path, BASE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.project.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.services[0].port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.environments["evil"] = cfg.environment("local")  # type: ignore[index]
    with pytest.raises(TypeError):
        cfg.environment("local").local.proxy_ports["api"] = 1  # type: ignore[index,union-attr]


def test_unknown_environment_and_service_are_usage_errors(tmp_path: Path) -> None:
    cfg = load(tmp_path, BASE + STAGING)
    with pytest.raises(UsageError) as env_err:
        cfg.environment("nope")
    assert env_err.value.exit_code == 2
    assert "'nope'" in env_err.value.message
    assert env_err.value.hint == "known environments: local, staging"
    with pytest.raises(UsageError) as svc_err:
        cfg.select(["nope"])
    assert "'nope'" in svc_err.value.message
    assert svc_err.value.hint == "known services: api, web"


def test_select_keeps_config_order(tmp_path: Path) -> None:
    cfg = load(tmp_path, BASE)
    assert [s.name for s in cfg.select()] == ["api", "web"]
    assert [s.name for s in cfg.select(["web", "api"])] == ["api", "web"]
    assert [s.name for s in cfg.select(("web",))] == ["web"]


def test_parse_names_the_given_file(tmp_path: Path) -> None:
    write_repo(tmp_path, BASE)
    data = tomllib.loads(BASE)
    data["project"]["colour"] = "red"
    with pytest.raises(ConfigError, match=r"^other\.toml: project\.colour: unknown key$"):
        config.parse(data, tmp_path, "other.toml")


def test_sample_app_config_loads() -> None:
    if not all((EXAMPLE / p).is_file() for p in (
            "packages/api-server/server/Dockerfile", "meta-verse-visualizer-main/Dockerfile")):
        missing_component("the sample app's Dockerfiles are not in examples/meta-ad-studio",
                          "git checkout -- examples/meta-ad-studio")
    cfg = config.load(EXAMPLE)
    assert cfg.project.name == "meta-ad-studio"
    assert [s.name for s in cfg.services] == ["api-server", "meta-verse-visualizer-main"]
    assert cfg.environment("local").registry == "127.0.0.1:5000/meta-ad-studio"
    assert cfg.environment("staging").registry == (
        "us-central1-docker.pkg.dev/meta-ad-studio-staging/meta-ad-studio")
    assert cfg.environment("prod").target == "gke"
    assert cfg.environment("local").scan.scanners == ("secret", "misconfig")


# --- the file itself -------------------------------------------------------------------------

def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(tmp_path)
    assert info.value.message == f"shipyard.toml not found in {tmp_path.resolve()}"
    assert info.value.exit_code == 2


def test_invalid_toml(tmp_path: Path) -> None:
    message = error(tmp_path, BASE + "\nthis is not toml\n")
    assert message.startswith("shipyard.toml: not valid TOML: ")
    assert "line 20" in message


def test_invalid_utf8(tmp_path: Path) -> None:
    write_repo(tmp_path, BASE)
    (tmp_path / "shipyard.toml").write_bytes(b'[project]\nname = "\xff"\n')
    with pytest.raises(ConfigError, match=r"^shipyard\.toml: not valid TOML: "):
        config.load(tmp_path)


# --- every kind of mistake -------------------------------------------------------------------

CASES = {
    # unknown keys, at every level
    "top": ("colour = 'red'\n" + BASE, "colour: unknown key"),
    "project": (BASE.replace('name = "shop"', 'name = "shop"\nnmae = "x"'),
                "project.nmae: unknown key"),
    "service": (BASE.replace("port = 8080", "port = 8080\nhealthpath = '/'"),
                "services.api.healthpath: unknown key"),
    "environment": (BASE.replace('target = "local"', 'target = "local"\nregion = "eu"'),
                    "environments.local.region: unknown key"),
    "gke key on cloudrun": (BASE + STAGING + 'cluster = "c"\n',
                            "environments.staging.cluster: unknown key"),
    "scan": (BASE + "[scan]\nseverity = 'HIGH'\nignore = []\n", "scan.ignore: unknown key"),
    "env scan": (BASE + "[environments.local.scan]\nlevel = 'HIGH'\n",
                 "environments.local.scan.level: unknown key"),
    "proxy_ports": (BASE.replace("web = 8082", "web = 8082\nworker = 8083"),
                    "environments.local.proxy_ports.worker: unknown key"),
    # wrong types
    "string port": (BASE.replace("port = 8080", 'port = "8080"'),
                    "services.api.port: must be an integer"),
    "bool port": (BASE.replace("port = 8080", "port = true"),
                  "services.api.port: must be an integer"),
    "float port": (BASE.replace("port = 8080", "port = 8080.0"),
                   "services.api.port: must be an integer"),
    "port range": (BASE.replace("port = 8080", "port = 70000"),
                   "services.api.port: must be a port number from 1 to 65535"),
    "port zero": (BASE.replace("api = 8081", "api = 0"),
                  "environments.local.proxy_ports.api: must be a port number from 1 to 65535"),
    "list for table": (BASE.replace("[services.web]", "[[services.web]]"),
                       "services.web: must be a table"),
    "string for list": (BASE.replace("port = 8080", "port = 8080\nsecrets = 'API_KEY'"),
                        "services.api.secrets: must be a list"),
    "number in list": (BASE.replace("port = 8080", "port = 8080\nsecrets = ['A', 1]"),
                       "services.api.secrets[1]: must be a string"),
    "table for string": (BASE.replace('name = "shop"', 'name = "shop"\nremote = {a = 1}'),
                         "project.remote: must be a string"),
    "scalar for table": ("scan = 'HIGH'\n" + BASE, "scan: must be a table"),
    "keep_revisions": (BASE.replace('target = "local"', 'target = "local"\nkeep_revisions = 0'),
                       "environments.local.keep_revisions: must be from 1 to 50"),
    # missing required keys
    "no project": (BASE.replace('[project]\nname = "shop"\n', ""), "project: missing"),
    "no project name": (BASE.replace('name = "shop"', ""), "project.name: missing"),
    "no port": (BASE.replace("port = 8080", ""), "services.api.port: missing"),
    "no context": (BASE.replace('context = "api"', ""), "services.api.context: missing"),
    "no target": (BASE.replace('target = "local"', ""), "environments.local.target: missing"),
    "no proxy_ports": (BASE.split("[environments.local.proxy_ports]")[0],
                       "environments.local.proxy_ports: missing"),
    "service without proxy port": (BASE.replace("web = 8082", ""),
                                   "environments.local.proxy_ports.web: missing"),
    "public, unknown service": (BASE + STAGING + "[environments.staging.run]\n"
                                "allow_unauthenticated = { apii = true }\n",
                                "environments.staging.run.allow_unauthenticated.apii: unknown "
                                "service 'apii'"),
    "public, not a bool": (BASE + STAGING + "[environments.staging.run]\n"
                           "allow_unauthenticated = { api = 'yes' }\n",
                           "environments.staging.run.allow_unauthenticated.api: must be true "
                           "or false"),
    "invoker not an account": (BASE + STAGING + "[environments.staging.run]\n"
                               "invoker_service_account = 'alice@example.com'\n",
                               "environments.staging.run.invoker_service_account: must be a "
                               "service account e-mail, NAME@PROJECT.iam.gserviceaccount.com"),
    "workload container": (BASE + PROD + "[environments.prod.workloads.api]\n"
                           "container = 'App_1'\n",
                           f"environments.prod.workloads.api.container: {DNS}"),
    "lease_duration": (BASE + PROD + "lease_duration = 5\n",
                       "environments.prod.lease_duration: must be from 10 to 3600 seconds"),
    "cloudrun region": (BASE + STAGING.replace('region = "europe-west1"\n', ""),
                        "environments.staging.region: missing"),
    "gke overlay": (BASE + PROD.replace('overlay = "k8s/overlays/prod"\n', ""),
                    "environments.prod.overlay: missing"),
    "no environments": (BASE.split("[environments.local]")[0], "environments: missing"),
    "empty environments": (BASE.split("[environments.local]")[0] + "[environments]\n",
                           "environments: define at least one environment"),
    # files and folders
    "missing dockerfile": (BASE.replace("web/docker/Dockerfile", "web/Dockerfile.prod"),
                           "services.web.dockerfile: file not found: {root}/web/Dockerfile.prod"),
    "missing context": (BASE.replace('context = "api"', 'context = "apii"'),
                        "services.api.context: directory not found: {root}/apii"),
    "context outside": (BASE.replace('context = "api"', 'context = "../x"'),
                        "services.api.context: must stay inside the app repo ({root})"),
    "absolute dockerfile": (BASE.replace('"web/docker/Dockerfile"', '"/etc/hostname"'),
                            "services.web.dockerfile: must stay inside the app repo ({root})"),
    # ports
    "duplicate proxy port": (BASE.replace("web = 8082", "web = 8081"),
                             "environments.local.proxy_ports.web: duplicate port 8081 "
                             "(also environments.local.proxy_ports.api)"),
    "proxy port is registry port": (
        BASE.replace("api = 8081", "api = 5000"),
        "environments.local.proxy_ports.api: duplicate port 5000 "
        "(also environments.local.registry_port)"),
    # names
    "service uppercase": (BASE.replace("services.web]", "services.Web]"), "services.Web: " + DNS),
    "service underscore": (BASE.replace("services.web]", "services.my_web]"),
                           "services.my_web: " + DNS),
    "service leading dash": (BASE.replace("services.web]", "services.-web]"),
                             "services.-web: " + DNS),
    "service 64 chars": (BASE.replace("services.web]", f"services.{'w' * 64}]"),
                         f"services.{'w' * 64}: " + DNS),
    "environment uppercase": (BASE.replace("environments.local", "environments.Local"),
                              "environments.Local: " + DNS),
    "environment trailing dash": (BASE.replace("environments.local", "environments.local-"),
                                  "environments.local-: " + DNS),
    "environment underscore": (BASE.replace("environments.local", "environments.my_local"),
                               "environments.my_local: " + DNS),
    "environment leading dash": (BASE.replace("environments.local", "environments.-local"),
                                 "environments.-local: " + DNS),
    "environment 64 chars": (BASE + STAGING.replace(".staging]", f".{'e' * 64}]"),
                             f"environments.{'e' * 64}: " + DNS),
    "project leading dash": (BASE.replace('name = "shop"', 'name = "-shop"'),
                             "project.name: " + DNS),
    "project name": (BASE.replace('name = "shop"', 'name = "My_Shop"'), "project.name: " + DNS),
    "project name 64": (BASE.replace('name = "shop"', f'name = "{"s" * 64}"'),
                        "project.name: " + DNS),
    "gcp region": (BASE + STAGING.replace("europe-west1", "Europe West"),
                   "environments.staging.region: " + DNS),
    "remote option": (BASE.replace('name = "shop"', 'name = "shop"\nremote = "--upload-pack=x"'),
                      "project.remote: must be a plain name (no spaces, not starting with '-')"),
    # build args, env and secrets
    "build arg with space": (BASE + '[services.api.build_args]\n"A B" = "1"\n',
                             "services.api.build_args.A B: " + VAR),
    "build arg command": (BASE + '[services.api.build_args]\n"$(id)" = "1"\n',
                          "services.api.build_args.$(id): " + VAR),
    "build arg option": (BASE + '[services.api.build_args]\n"-x" = "1"\n',
                         "services.api.build_args.-x: " + VAR),
    "build arg newline": (BASE + '[services.api.build_args]\nA = "1\\nRUN id"\n',
                          "services.api.build_args.A: must not contain newlines or NUL"),
    "env value NUL": (BASE + '[services.api.env]\nA = "1\\u0000"\n',
                      "services.api.env.A: must not contain newlines or NUL"),
    "secret name": (BASE.replace("port = 8080", "port = 8080\nsecrets = ['OK', 'API-KEY']"),
                    "services.api.secrets[1]: " + VAR),
    "secret PATH": (BASE.replace("port = 8080", "port = 8080\nsecrets = ['DATABASE_URL', 'PATH']"),
                    "services.api.secrets[1]: PATH is set by every shell, so the shell's value "
                    "would be taken for the secret; pick an app-specific name (e.g. APP_PATH)"),
    "secret HOME": (BASE.replace("port = 8080", "port = 8080\nsecrets = ['HOME']"),
                    "services.api.secrets[0]: HOME is set by every shell, so the shell's value "
                    "would be taken for the secret; pick an app-specific name (e.g. APP_HOME)"),
    "secret also env": (BASE.replace("port = 8080", "port = 8080\nsecrets = ['A']\nenv = {A='x'}"),
                        "services.api.env: A is also listed in secrets"),
    "health path": (BASE.replace("port = 8080", "port = 8080\nhealth_path = 'healthz'"),
                    "services.api.health_path: must be a URL path starting with '/' "
                    "(ASCII, no spaces)"),
    # tag message
    "tag_message field": (BASE.replace('name = "shop"', 'name = "shop"\ntag_message = "R {name}"'),
                          "project.tag_message: only the placeholder {version} is supported"),
    "tag_message broken": (BASE.replace('name = "shop"', 'name = "shop"\ntag_message = "R {"'),
                           "project.tag_message: only the placeholder {version} is supported"),
    "tag_message attribute": (
        BASE.replace('name = "shop"', 'name = "shop"\ntag_message = "{version.__class__}"'),
        "project.tag_message: only the placeholder {version} is supported"),
    # targets and scan policy
    "unknown target": (BASE.replace('target = "local"', 'target = "heroku"'),
                       "environments.local.target: must be one of local, cloudrun, gke"),
    "scan severity": (BASE + "[scan]\nseverity = 'SEVERE'\n",
                      "scan.severity: must be one of UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL"),
    "scan scanner": (BASE + "[scan]\nscanners = ['vuln', 'license']\n",
                     "scan.scanners: unknown scanner 'license' (vuln, secret, misconfig)"),
    "env scan severity": (BASE + "[environments.local.scan]\nseverity = 'urgent'\n",
                          "environments.local.scan.severity: must be one of UNKNOWN, LOW, "
                          "MEDIUM, HIGH, CRITICAL"),
    "no scanners": (BASE + "[scan]\nscanners = []\n", "scan.scanners: name at least one scanner"),
}


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_mistakes_are_one_line_errors_naming_the_key(
        tmp_path: Path, text: str, expected: str) -> None:
    root = tmp_path / "app"
    root.mkdir()
    expected = expected.replace("{root}", str(root.resolve()))
    assert error(root, text) == f"shipyard.toml: {expected}"


@pytest.mark.parametrize("message", ["Release {version}", "{version}", "no placeholder",
                                     "Release {{literally}} {version}"])
def test_tag_messages_that_are_accepted(tmp_path: Path, message: str) -> None:
    text = BASE.replace('name = "shop"', f'name = "shop"\ntag_message = "{message}"')
    assert load(tmp_path, text).project.tag_message == message


@pytest.mark.parametrize("message", ["Release {}", "Release {0}", "Release {version!r}",
                                     "Release {version:>20}"])
def test_tag_messages_that_would_fail_at_tag_time_are_refused(
        tmp_path: Path, message: str) -> None:
    text = BASE.replace('name = "shop"', f'name = "shop"\ntag_message = "{message}"')
    assert error(tmp_path, text) == (
        "shipyard.toml: project.tag_message: only the placeholder {version} is supported")


def test_control_characters_in_names_stay_on_one_line(tmp_path: Path) -> None:
    message = error(tmp_path, BASE + '[services.api.build_args]\n"A\\nhint: B\\u001b[2J" = "1"\n')
    assert message == r"shipyard.toml: services.api.build_args.A\nhint: B\x1b[2J: " + VAR


def test_63_character_names_are_accepted(tmp_path: Path) -> None:
    long = "a" + "-" * 61 + "z"
    text = (BASE.replace("services.web]", f"services.{long}]")
            .replace("web = 8082", f"{long} = 8082")
            .replace('name = "shop"', f'name = "{long}"'))
    cfg = load(tmp_path, text)
    assert cfg.services[1].name == long
    assert cfg.environment("local").registry == f"127.0.0.1:5000/{long}"


def test_the_example_in_the_docs_loads(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text()
    text = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    for dockerfile in ("packages/api-server/server/Dockerfile",
                       "meta-verse-visualizer-main/Dockerfile"):
        (tmp_path / dockerfile).parent.mkdir(parents=True)
        (tmp_path / dockerfile).write_text("FROM scratch\n")
    (tmp_path / "shipyard.toml").write_text(text)
    cfg = config.load(tmp_path)
    assert cfg.environment("local").scan.severity == "HIGH"
    assert cfg.environment("prod").scan.severity == "CRITICAL"
    assert cfg.environment("staging").registry == (
        "us-central1-docker.pkg.dev/meta-ad-studio-staging/meta-ad-studio")


def test_empty_protected_branches_means_only_the_release_branch(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "Dockerfile").write_text("FROM scratch\n")
    data = {
        "project": {"name": "demo", "release_branch": "trunk", "protected_branches": []},
        "services": {"web": {"context": "web", "port": 8080}},
        "environments": {"local": {"target": "local", "proxy_ports": {"web": 18080}}},
    }
    assert config.parse(data, tmp_path).project.protected_branches == ()
    del data["project"]["protected_branches"]
    assert config.parse(data, tmp_path).project.protected_branches == ("main",)
