"""`[monitoring]` and the per-environment `monitoring` / `checklist` tables of shipyard.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard import config
from shipyard.errors import ConfigError

BASE = """\
[project]
name = "shop"

[services.api]
context = "api"
port = 8080

[services.web]
context = "web"
port = 3000

[environments.local]
target = "local"
proxy_ports = { api = 8081, web = 8082 }

[environments.staging]
target = "cloudrun"
project = "shop-staging"
region = "europe-west1"
repository = "containers"

[environments.prod]
target = "cloudrun"
project = "shop-prod"
region = "europe-west1"
repository = "containers"
"""


def load(root: Path, text: str) -> config.Config:
    for name in ("api", "web"):
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "Dockerfile").write_text("FROM scratch\n")
    (root / "shipyard.toml").write_text(text)
    return config.load(root)


def error(root: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(root, text)
    assert info.value.exit_code == 2
    return info.value.message


def test_defaults_when_nothing_is_configured(tmp_path: Path) -> None:
    ops = load(tmp_path, BASE).environment("prod").ops
    assert (ops.monitoring.error_rate, ops.monitoring.latency_p95_ms) == (0.05, 2000)
    assert ops.monitoring.uptime_urls == {} and ops.monitoring.notification_channels == ()
    assert not ops.checklist.required and ops.checklist.window is None
    assert ops.checklist.migrations_marker == "migrations/applied/{version}"


def test_environments_override_the_top_level_monitoring_table(tmp_path: Path) -> None:
    text = BASE + """
[monitoring]
error_rate = 0.02
latency_p95_ms = 1500
notification_channels = ["projects/shop/notificationChannels/7"]

[environments.staging.monitoring]
latency_p95_ms = 4000
uptime_urls = { api = "https://api.shop.example/healthz" }
"""
    cfg = load(tmp_path, text)
    staging, prod = (cfg.environment(e).ops.monitoring for e in ("staging", "prod"))
    assert (staging.error_rate, staging.latency_p95_ms) == (0.02, 4000)
    assert (prod.error_rate, prod.latency_p95_ms) == (0.02, 1500)
    assert staging.notification_channels == ("projects/shop/notificationChannels/7",)
    assert dict(staging.uptime_urls) == {"api": "https://api.shop.example/healthz"}
    assert dict(prod.uptime_urls) == {}


def test_a_full_checklist_table(tmp_path: Path) -> None:
    text = BASE + """
[environments.prod.checklist]
required = true
staging = "staging"
service_accounts = ["run@shop-prod.iam.gserviceaccount.com"]
manual = { rollback-plan = "Rollback plan reviewed" }
window = { timezone = "Europe/Madrid", days = ["Mon", "tue"], start = "09:00", end = "16:30" }
cloudsql = { instance = "shop-db", max_backup_age_hours = 12 }
runwayml = { monthly_quota = 100, videos_per_day = 3, cost_per_video = 0.5, monthly_budget = 60 }
"""
    checklist = load(tmp_path, text).environment("prod").ops.checklist
    assert checklist.required and checklist.staging == "staging"
    assert checklist.window is not None and checklist.window.days == ("mon", "tue")
    assert checklist.cloudsql is not None and checklist.cloudsql.max_backup_age_hours == 12
    assert checklist.runwayml is not None and checklist.runwayml.monthly_budget == 60.0
    assert dict(checklist.manual) == {"rollback-plan": "Rollback plan reviewed"}


CASES = {
    "ratio above 1": ("[monitoring]\nerror_rate = 5\n", "monitoring.error_rate: must be a "
                      "number above 0 and at most 1 (a share, 0.05 = 5%)"),
    "ratio as text": ("[monitoring]\nvideo_failure_rate = '10%'\n", "monitoring."
                      "video_failure_rate: must be a number above 0 and at most 1 (a share, "
                      "0.05 = 5%)"),
    "latency zero": ("[monitoring]\nlatency_p95_ms = 0\n",
                     "monitoring.latency_p95_ms: must be 1 or more"),
    "unknown trace service": ("[monitoring]\ntrace_services = ['db']\n",
                              "monitoring.trace_services: unknown service 'db' (known: api, "
                              "web)"),
    "bad channel": ("[monitoring]\nnotification_channels = ['email:me@x']\n",
                    "monitoring.notification_channels: 'email:me@x' is not a channel name "
                    "(projects/PROJECT/notificationChannels/ID)"),
    "uptime at top level": ("[monitoring]\nuptime_urls = { api = 'https://a.b/' }\n",
                            "monitoring.uptime_urls: unknown key"),
    "uptime not a url": ("[environments.prod.monitoring]\nuptime_urls = { api = 'a.b' }\n",
                         "environments.prod.monitoring.uptime_urls.api: must be an http(s) URL"
                         " such as https://api.example.com/healthz"),
    "uptime unknown service": ("[environments.prod.monitoring.uptime_urls]\n"
                               "db = 'https://db.example/'\n",
                               "environments.prod.monitoring.uptime_urls.db: unknown service "
                               "'db' (known: api, web)"),
    "unknown staging": ("[environments.prod.checklist]\nstaging = 'stage'\n",
                        "environments.prod.checklist.staging: unknown environment 'stage'"),
    "marker outside": ("[environments.prod.checklist]\nmigrations_marker = '../x/{version}'\n",
                       "environments.prod.checklist.migrations_marker: must be a path inside "
                       "the app repo"),
    "bad time zone": ("[environments.prod.checklist.window]\ntimezone = 'Mars/Olympus'\n"
                      "start = '09:00'\nend = '10:00'\n",
                      "environments.prod.checklist.window.timezone: unknown time zone "
                      "'Mars/Olympus' (e.g. Europe/Madrid)"),
    "bad day": ("[environments.prod.checklist.window]\ntimezone = 'UTC'\ndays = ['friday']\n"
                "start = '09:00'\nend = '10:00'\n", "environments.prod.checklist.window.days: "
                "'friday' is not one of mon, tue, wed, thu, fri, sat, sun"),
    "bad clock": ("[environments.prod.checklist.window]\ntimezone = 'UTC'\nstart = '9am'\n"
                  "end = '10:00'\n", "environments.prod.checklist.window.start: must be a "
                  "24-hour time HH:MM"),
    "end before start": ("[environments.prod.checklist.window]\ntimezone = 'UTC'\n"
                         "start = '16:00'\nend = '09:00'\n", "environments.prod.checklist."
                         "window.end: must be later than start (same day)"),
    "negative cost": ("[environments.prod.checklist.runwayml]\nmonthly_quota = 1\n"
                      "videos_per_day = 1\ncost_per_video = -1\nmonthly_budget = 1\n",
                      "environments.prod.checklist.runwayml.cost_per_video: must be a number, "
                      "0 or more"),
    "unknown checklist key": ("[environments.prod.checklist]\nrequird = true\n",
                              "environments.prod.checklist.requird: unknown key"),
}


@pytest.mark.parametrize(("extra", "expected"), CASES.values(), ids=CASES.keys())
def test_mistakes_name_the_key(tmp_path: Path, extra: str, expected: str) -> None:
    assert error(tmp_path, BASE + extra) == f"shipyard.toml: {expected}"


def test_the_sample_marks_prod_as_needing_a_checklist_after_staging() -> None:
    sample = Path(__file__).resolve().parents[2] / "examples" / "meta-ad-studio"
    cfg = config.load(sample)
    prod = cfg.environment("prod").ops.checklist
    assert prod.required and prod.staging == "staging"
    assert not cfg.environment("staging").ops.checklist.required
    assert cfg.environment("staging").ops.monitoring.latency_p95_ms == 3000
