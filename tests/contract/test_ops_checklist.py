"""`invoke checklist --env prod` in a copy of the sample, through the real gcloud against the
Cloud SQL / Resource Manager stand-in: it passes when everything holds, and each automated
check, broken in turn, fails it alone. `release --env prod` is refused without a passing
report and goes on (to preflight) with one or with a recorded override."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shipyard.config.ops import DAYS
from shipyard.ops.checklist import report
from shipyard.state import audit
from tests.contract.cloudsql_iam_standin import CloudSqlIamStandIn
from tests.contract.gcloud_env import hermetic
from tests.support.apps import sample_copy
from tests.support.cli import Ran, invoke

pytestmark = pytest.mark.contract

PROJECT = "meta-ad-studio-prod"
SA = "meta-ad-studio-run@meta-ad-studio-prod.iam.gserviceaccount.com"
REPORT = ".shipyard/checklists/prod/v1.1.0.json"
WINDOW = 'days = ["mon", "tue", "wed", "thu"]\nstart = "09:00"\nend = "16:00"'
ALWAYS = 'days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]\nstart = "00:00"\nend = "23:59"'


@dataclass
class Prod:
    app: Path
    cloud: CloudSqlIamStandIn

    def run(self, *args: str) -> Ran:
        nowhere = "http://127.0.0.1:9/"
        env = {**hermetic(self.app.parent / "gcloud-config", PROJECT),
               "CLOUDSDK_API_ENDPOINT_OVERRIDES_SQL": self.cloud.endpoint,
               "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER": self.cloud.endpoint,
               "CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER": nowhere,
               "CLOUDSDK_API_ENDPOINT_OVERRIDES_SECRETMANAGER": nowhere,
               "SHIPYARD_SECRETMANAGER_ENDPOINT": nowhere}
        return invoke(self.app, *args, env=env, timeout=600)

    def edit(self, old: str, new: str) -> None:
        config = self.app / "shipyard.toml"
        text = config.read_text()
        assert old in text
        config.write_text(text.replace(old, new))

    def report(self) -> dict[str, Any]:
        return json.loads((self.app / REPORT).read_text())


@pytest.fixture
def prod(tmp_path: Path) -> Iterator[Prod]:
    """Everything the checklist checks holds: v1.1.0 verified in staging, v1.0.0 serving in
    prod, a fresh backup, the marker, no primitive role, an always-open window, both manual
    items confirmed."""
    app = tmp_path / "meta-ad-studio"
    sample_copy(app, tmp_path / "remote.git")
    with CloudSqlIamStandIn(PROJECT) as cloud:
        cloud.instance("meta-ad-studio-db",
                       backups=[("SUCCESSFUL", datetime.now(UTC) - timedelta(hours=3)),
                                ("FAILED", datetime.now(UTC) - timedelta(hours=1))])
        cloud.bind("roles/run.invoker", f"serviceAccount:{SA}")
        cloud.bind("roles/owner", "user:cto@meta-ad-studio.example")
        setup = Prod(app, cloud)
        setup.edit(WINDOW, ALWAYS)
        audit.record_deploy(app, "staging", "v1.1.0", "release", True)
        audit.record_deploy(app, "prod", "v1.0.0", "release", True)
        (app / "migrations/applied").mkdir(parents=True)
        (app / "migrations/applied/v1.1.0").write_text("applied 2026-12-01\n")
        report.save_confirmations(app, "prod", "v1.1.0", {
            item: {"by": "Ana", "when": "2026-12-01T09:00:00Z", "user": "ana"}
            for item in ("rollback-plan", "stakeholders")})
        yield setup


def statuses(result: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in result["checks"]}


def test_everything_holds_so_it_passes_and_release_goes_on(prod: Prod) -> None:
    refused = prod.run("release", "--env", "prod", "--version", "v1.1.0")
    assert refused.code == 2, refused.text
    assert refused.line("error: ") == "prod needs a passing checklist for v1.1.0; there is none"
    assert "invoke checklist --env prod --version v1.1.0" in refused.line("hint: ")

    done = prod.run("checklist", "--env", "prod", "--version", "v1.1.0", "--json")
    assert done.code == 0, done.text
    printed = json.loads(done.out)
    assert printed == prod.report() and printed["passed"] is True
    assert set(statuses(printed).values()) == {"pass"}
    markdown = (prod.app / REPORT).with_suffix(".md").read_text()
    assert "Result: **PASSED**" in markdown and "| a rollback target exists | pass |" in markdown
    assert prod.cloud.unhandled == []

    going = prod.run("release", "--env", "prod", "--version", "v1.1.0")
    assert "checklist" not in going.err  # past the gate; preflight (no cluster here) stops it
    assert "preflight" in going.err and going.code == 1, going.text


def test_a_manual_item_is_recorded_with_who_and_when(prod: Prod) -> None:
    (prod.app / ".shipyard/checklists/prod/v1.1.0.confirmations.json").unlink()
    pending = prod.run("checklist", "--env", "prod", "--version", "v1.1.0")
    assert pending.code == 1, pending.text
    assert statuses(prod.report())["manual:stakeholders"] == "pending"
    refused = prod.run("checklist", "--env", "prod", "--version", "v1.1.0", "--confirm",
                       "stakeholders")
    assert refused.code == 2 and refused.line("error: ") == "--confirm needs --by NAME (who " \
                                                           "confirms it)"
    done = prod.run("checklist", "--env", "prod", "--version", "v1.1.0", "--confirm",
                    "stakeholders", "--confirm", "rollback-plan", "--by", "Ana García")
    assert done.code == 0, done.text
    detail = {c["id"]: c["detail"] for c in prod.report()["checks"]}["manual:stakeholders"]
    assert detail.startswith("confirmed by Ana García at 20")


def later(days: int) -> str:
    return DAYS[(datetime.now(UTC).weekday() + days) % 7]


BREAKS: dict[str, Callable[[Prod], None]] = {
    "staging": lambda p: (p.app / ".shipyard/history/staging.json").unlink(),
    "backups": lambda p: p.cloud.instance("meta-ad-studio-db", backups=[
        ("SUCCESSFUL", datetime.now(UTC) - timedelta(hours=40))]),
    "migrations": lambda p: (p.app / "migrations/applied/v1.1.0").unlink(),
    "runwayml": lambda p: p.edit("videos_per_day = 60 ", "videos_per_day = 400 "),
    "roles": lambda p: p.cloud.bind("roles/editor", f"serviceAccount:{SA}"),
    "window": lambda p: p.edit(ALWAYS, f'days = ["{later(2)}", "{later(3)}"]\n'
                                       'start = "00:00"\nend = "23:59"'),
    "rollback": lambda p: (p.app / ".shipyard/history/prod.json").unlink(),
    "tracing": lambda p: p.edit('OTEL_TRACES_EXPORTER = "otlp"',
                                'OTEL_TRACES_EXPORTER = "none"'),
}


@pytest.mark.parametrize("broken", BREAKS)
def test_each_automated_check_fails_the_checklist_alone(prod: Prod, broken: str) -> None:
    BREAKS[broken](prod)
    done = prod.run("checklist", "--env", "prod", "--version", "v1.1.0")
    assert done.code == 1, done.text
    result = prod.report()
    assert result["passed"] is False
    assert {k for k, v in statuses(result).items() if v != "pass"} == {broken}
    title = next(c["title"] for c in result["checks"] if c["id"] == broken)
    assert done.line("error: ") == f"checklist for v1.1.0 → prod not passed: {title}"
    refused = prod.run("release", "--env", "prod", "--version", "v1.1.0")
    assert refused.code == 2
    assert refused.line("error: ") == (f"the checklist for v1.1.0 → prod did not pass "
                                       f"({title})")


def test_the_override_is_recorded_and_release_goes_on(prod: Prod) -> None:
    done = prod.run("release", "--env", "prod", "--version", "v1.1.0", "--skip-checklist",
                    "incident 42: hotfix")
    assert "preflight" in done.err and done.code == 1, done.text
    log = [json.loads(line) for line in (prod.app / ".shipyard/audit.log").read_text()
           .splitlines()]
    assert [(e["action"], e["result"], e.get("reason")) for e in log][0] == (
        "checklist-skipped", "override", "incident 42: hotfix")
