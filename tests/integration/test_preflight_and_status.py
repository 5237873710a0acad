"""`invoke release`'s preflight with several failures at once, and plain-text `invoke status`.

Preflight runs every check, shows them in one table, names every failure in its one `error:`
line and changes nothing; it exits 1, or 2 when every failure is bad input (missing secrets).
Real git, Docker engine, registry, trivy and nginx, as in the release tests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.integration.release_fixtures import SERVICES, ReleaseApp, table, write_secrets

pytestmark = pytest.mark.integration

V1, V2, V3 = "v1.0.0", "v2.0.0", "v3.0.0"
SECRETS_HINT = ("hint: add them to the environment's secrets source (names only are checked; "
                "see docs/local-environment.md)")


def preflight_table(ran_out: str) -> dict[str, tuple[str, str]]:
    """check → (result, detail) of the preflight table."""
    rows = table(ran_out, f"preflight {V3} → local")
    return {name: (cells[0], cells[1]) for name, cells in rows.items()}


def said(ran_err: str) -> list[str]:
    return [line for line in ran_err.splitlines() if line.startswith(("error: ", "hint: "))]


@pytest.fixture
def released(app: ReleaseApp) -> ReleaseApp:
    app.ok("release", "--version", V1)
    app.change("v3")
    return app


def test_every_preflight_failure_is_named_in_one_table_and_nothing_changes(
        released: ReleaseApp, tmp_path: Path) -> None:
    app = released
    write_secrets(app.secrets_file, {"CANARY_TOKEN": app.canary})  # ALPHA_DB_PASSWORD is gone
    (app.work / "alpha" / "content.txt").write_text("an uncommitted edit\n")  # a dirty tree
    before = app.snapshot()

    ran = app.invoke("release", "--version", V3)
    assert ran.code == 1, ran.text  # the dirty tree is not bad input: exit 1, not 2
    assert "Traceback" not in ran.text
    checks = preflight_table(ran.out)
    assert list(checks) == ["config", "git", "docker", "registry", "proxy", "trivy", "secrets"]
    assert checks["git"] == ("FAILED", "the work tree is not clean (alpha/content.txt)")
    assert checks["secrets"] == ("FAILED", "missing secrets (alpha: ALPHA_DB_PASSWORD)")
    assert {name: result for name, (result, _) in checks.items()
            if name not in ("git", "secrets")} == dict.fromkeys(
        ("config", "docker", "registry", "proxy", "trivy"), "ok")
    assert said(ran.err) == [
        "error: preflight failed, nothing was changed: git: the work tree is not clean "
        "(alpha/content.txt); secrets: missing secrets (alpha: ALPHA_DB_PASSWORD)",
        "hint: commit or stash your changes, then rerun"], ran.err  # the first failure's hint
    assert app.canary not in ran.text and app.password not in ran.text

    # A third failure at the same time: trivy cannot be found.
    missing = tmp_path / "nowhere" / "trivy"
    ran = invoke(app.work, "release", "--version", V3, env={"SHIPYARD_TRIVY": str(missing)})
    assert ran.code == 1, ran.text
    checks = preflight_table(ran.out)
    assert [name for name, (result, _) in checks.items() if result == "FAILED"] == [
        "git", "trivy", "secrets"]
    assert checks["trivy"] == ("FAILED", f"trivy not found: SHIPYARD_TRIVY={missing} is not an "
                                         "executable")
    assert said(ran.err)[0] == (
        "error: preflight failed, nothing was changed: git: the work tree is not clean "
        f"(alpha/content.txt); trivy: trivy not found: SHIPYARD_TRIVY={missing} is not an "
        "executable; secrets: missing secrets (alpha: ALPHA_DB_PASSWORD)")

    assert app.snapshot() == before  # no tag, no build, no push, no deploy, no record
    assert app.versions() == {"alpha": V1, "beta": V1}


def test_preflight_exits_2_when_every_failure_is_bad_input(released: ReleaseApp) -> None:
    app = released
    write_secrets(app.secrets_file, {"UNRELATED": "some-value"})  # every secret is missing
    before = app.snapshot()
    ran = app.invoke("release", "--version", V3)
    assert ran.code == 2, ran.text
    checks = preflight_table(ran.out)
    assert [name for name, (result, _) in checks.items() if result == "FAILED"] == ["secrets"]
    assert checks["secrets"] == (
        "FAILED", "missing secrets (alpha: CANARY_TOKEN, ALPHA_DB_PASSWORD; beta: CANARY_TOKEN)")
    assert said(ran.err) == [
        "error: preflight failed, nothing was changed: secrets: missing secrets (alpha: "
        "CANARY_TOKEN, ALPHA_DB_PASSWORD; beta: CANARY_TOKEN)", SECRETS_HINT], ran.err
    assert app.snapshot() == before


def test_plain_status_shows_each_service_its_version_digest_url_and_the_last_deploys(
        app: ReleaseApp) -> None:
    app.ok("release", "--version", V1)
    app.change("v2")
    app.ok("release", "--version", V2)

    ran = app.ok("status")
    assert ran.err == ""
    serving = table(ran.out, f"local (local): serving {V2}")
    running = {name.split("-")[3]: name for name in app.containers(running_only=True)}
    assert serving == {
        s: [V2, str(app.registry.digest(f"demo/{s}", V2))[:19],
            f"http://127.0.0.1:{app.ports[s]}", running[s]] for s in SERVICES}

    history = json.loads((app.state / "history" / "local.json").read_text())["deploys"]
    deploys = table(ran.out, "last deploys (newest first)")
    assert list(deploys) == [V2, V1]  # newest first
    assert deploys == {e["version"]: ["release", e["when"], "yes"] for e in history}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e["when"]) for e in history)
