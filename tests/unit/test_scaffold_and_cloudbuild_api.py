"""Pure parts of `shipyard init` (finding services) and of the Cloud Build tasks (which
substitutions may be passed; when a trigger counts as unchanged)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.cloudbuild.submit_checks import checked_substitutions, load
from shipyard.cloudbuild.trigger import owned
from shipyard.commands import gcloud_builds as gb
from shipyard.errors import UsageError
from shipyard.scaffold.discover import find_services, kebab
from shipyard.scaffold.render import local_ports


def write(root: Path, rel: str, text: str = "") -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)


def test_services_come_from_dockerfiles_outside_vendored_folders(tmp_path: Path) -> None:
    write(tmp_path, "web/Dockerfile", "FROM x\nCOPY www/ /srv/\nEXPOSE 3000\nUSER 1001:1001\n")
    write(tmp_path, "web/www/index.html")
    # copies `server/...`: the context is the parent folder, named after it
    write(tmp_path, "packages/Api_Server/server/Dockerfile",
          "FROM x\nCOPY server/app \\\n  /app\nCOPY --from=build /out /out\n")
    write(tmp_path, "packages/Api_Server/server/app")
    write(tmp_path, "node_modules/dep/Dockerfile", "FROM x\n")
    write(tmp_path, ".git/Dockerfile", "FROM x\n")
    write(tmp_path, "vendor/lib/Dockerfile", "FROM x\n")
    found = find_services(tmp_path)
    assert [(s.name, s.context, s.dockerfile, s.port, s.uid) for s in found] == [
        ("api-server", "packages/Api_Server", "packages/Api_Server/server/Dockerfile", 8080,
         None),
        ("web", "web", "web/Dockerfile", 3000, 1001)]


def test_two_services_that_would_share_a_name_are_told_apart(tmp_path: Path) -> None:
    write(tmp_path, "a/server/Dockerfile", "FROM x\n")
    write(tmp_path, "b/server/Dockerfile", "FROM x\n")
    assert [s.name for s in find_services(tmp_path)] == ["a-server", "b-server"]


def test_kebab() -> None:
    assert kebab("Meta_Verse Visualizer--") == "meta-verse-visualizer"
    assert kebab("___") == "app"
    assert len(kebab("x" * 80)) == 63


def test_a_rerun_keeps_the_ports_an_earlier_init_chose() -> None:
    from shipyard.scaffold.discover import FoundService

    services = [FoundService("a", "a", "a/Dockerfile", 8080, None),
                FoundService("b", "b", "b/Dockerfile", 8080, None)]
    registry, proxies = local_ports(services, {"": 5123, "a": 9001, "b": 9002})
    assert (registry, proxies) == (5123, [9001, 9002])
    registry, proxies = local_ports(services, {"a": 9001})
    assert proxies[0] == 9001 and len({registry, *proxies}) == 3


BUILD = """\
substitutions:
  _VERSION: ${TAG_NAME}
  _ENV: staging
  _UNUSED: x
steps:
  - name: ubuntu
    args: [echo, "${_VERSION}", "$_ENV", "$$_REGION"]
"""


def test_only_declared_and_used_substitutions_are_passed(tmp_path: Path) -> None:
    write(tmp_path, "cb.yaml", BUILD)
    build = load(tmp_path, "cb.yaml")
    optional = frozenset({"_REGION", "_PROJECT_ID"})
    # _REGION appears only escaped ($$): not used, and derived, so it is dropped.
    wanted = {"_VERSION": "v1.0.0", "_ENV": "e", "_REGION": "r"}
    assert checked_substitutions(build, "cb.yaml", wanted, optional) == {"_VERSION": "v1.0.0",
                                                                         "_ENV": "e"}
    with pytest.raises(UsageError, match="does not declare the substitution _NEW"):
        checked_substitutions(build, "cb.yaml", {"_NEW": "x"}, optional)
    write(tmp_path, "cb2.yaml", BUILD.replace('"$_ENV", ', ""))
    with pytest.raises(UsageError, match="never uses the substitution _ENV"):
        checked_substitutions(load(tmp_path, "cb2.yaml"), "cb2.yaml", {"_ENV": "e"}, optional)


def test_a_build_file_outside_the_repo_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "app", "x.yaml", BUILD)
    write(tmp_path, "outside.yaml", BUILD)
    with pytest.raises(UsageError, match="outside the app repo"):
        load(tmp_path / "app", "../outside.yaml")


def trigger(**changes: object) -> gb.TagTrigger:
    base = dict(name="t", project="p", region="r", build_file="ci-cd/cloudbuild.yaml",
                tag_pattern="^v$", service_account="d@p.iam.gserviceaccount.com",
                substitutions={"_ENV": "e"}, require_approval=False, description="d",
                github_owner="o", github_name="n")
    base.update(changes)
    return gb.TagTrigger(**base)  # type: ignore[arg-type]


def test_a_trigger_as_read_back_counts_as_unchanged() -> None:
    body = gb.trigger_body(trigger())
    # What Cloud Build answers for the create: output-only fields, no approvalConfig.
    answered = {k: v for k, v in body.items() if k != "approvalConfig"}
    answered |= {"id": "123", "createTime": "2026-01-01T00:00:00Z", "resourceName": "x"}
    assert owned(answered) == owned(body)
    assert owned({**answered, "approvalConfig": {"approvalRequired": True}}) != owned(body)
    assert owned({**answered, "substitutions": {"_ENV": "prod"}}) != owned(body)


def test_a_submit_reads_the_file_with_paritys_rules(tmp_path: Path) -> None:
    """One reader: a substitution in availableSecrets' versionName is used (Cloud Build's
    documented form), shell syntax like ${_X:-y} is not a use, and a real field local parity
    cannot run (artifacts) does not stop a submit to Cloud Build itself."""
    write(tmp_path, "cb.yaml", """\
substitutions: {_SECRETS: p, _SHELL: x}
steps:
  - name: ubuntu
    args: [bash, -c, "echo ${_SHELL:-y}"]
    secretEnv: [TOKEN]
availableSecrets:
  secretManager:
    - {versionName: "projects/${_SECRETS}/secrets/t/versions/1", env: TOKEN}
artifacts: {images: [x]}
""")
    build = load(tmp_path, "cb.yaml")
    optional = frozenset({"_SHELL"})
    assert checked_substitutions(build, "cb.yaml", {"_SECRETS": "p", "_SHELL": "x"},
                                 optional) == {"_SECRETS": "p"}
    with pytest.raises(UsageError, match="cb.yaml never uses the substitution _SHELL"):
        checked_substitutions(build, "cb.yaml", {"_SHELL": "x"}, frozenset())


def test_a_broken_build_file_is_named_with_its_line(tmp_path: Path) -> None:
    write(tmp_path, "cb.yaml", "steps: [\n  {name: a\n")
    with pytest.raises(UsageError, match=r"cb.yaml: not valid YAML \(.*line \d+\)"):
        load(tmp_path, "cb.yaml")
