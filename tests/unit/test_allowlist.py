"""The allow list file: what is accepted, what is refused (exit 2, naming file, entry, key)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from shipyard.errors import ConfigError
from shipyard.scan import allowlist
from shipyard.scan.allowlist import AllowEntry

SERVICES = ("api-server", "web")
GOOD = """\
[[allow]]
id = "CVE-2024-12345"
reason = "  not reachable: no untrusted XML  "
expires = 2026-06-30

[[allow]]
id = "DS-0002"
reason = "base image runs as root until #42"
expires = 2026-01-31
service = "web"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trivy-allowlist.toml"
    path.write_text(text)
    return path


def test_valid_file(tmp_path: Path) -> None:
    allow = allowlist.load(write(tmp_path, GOOD), SERVICES, shown_as="trivy-allowlist.toml")
    assert allow.entries == (
        AllowEntry(1, "CVE-2024-12345", "not reachable: no untrusted XML", dt.date(2026, 6, 30)),
        AllowEntry(2, "DS-0002", "base image runs as root until #42", dt.date(2026, 1, 31), "web"),
    )


def test_missing_file_allows_nothing(tmp_path: Path) -> None:
    allow = allowlist.load(tmp_path / "trivy-allowlist.toml", SERVICES)
    assert allow.path is None and allow.entries == ()


def test_an_entry_applies_through_its_expiry_day_and_not_after() -> None:
    entry = AllowEntry(1, "CVE-1", "r", dt.date(2026, 6, 30))
    assert not entry.expired(dt.date(2026, 6, 30))
    assert entry.expired(dt.date(2026, 7, 1))
    allow = allowlist.AllowList(Path("x"), (entry,))
    later = dt.date(2026, 7, 1)
    assert allow.active(later) == () and allow.expired(later) == (entry,)


def test_covers_matches_id_in_any_case_and_respects_the_service() -> None:
    everywhere = AllowEntry(1, "cve-2024-1", "r", dt.date(2030, 1, 1))
    only_web = AllowEntry(2, "github-pat", "r", dt.date(2030, 1, 1), "web")
    assert everywhere.covers("CVE-2024-1", "api-server")
    assert only_web.covers("github-pat", "web")
    assert not only_web.covers("github-pat", "api-server")
    assert not everywhere.covers("CVE-2024-10", "web")


ENTRY = 'id = "CVE-1"\nreason = "why"\nexpires = 2026-06-30\n'


@pytest.mark.parametrize(("text", "where"), [
    ('[[allow]]\nreason = "why"\nexpires = 2026-06-30\n', "entry 1: key 'id'"),
    ('[[allow]]\nid = "CVE 1"\nreason = "why"\nexpires = 2026-06-30\n', "entry 1: key 'id'"),
    (f'[[allow]]\n{ENTRY}[[allow]]\nid = "CVE-2"\nexpires = 2026-06-30\n', "entry 2: key 'reason'"),
    ('[[allow]]\nid = "CVE-1"\nreason = "   "\nexpires = 2026-06-30\n', "entry 1: key 'reason'"),
    ('[[allow]]\nid = "CVE-1"\nreason = "why"\n', "entry 1: key 'expires'"),
    ('[[allow]]\nid = "CVE-1"\nreason = "why"\nexpires = "2026-06-30"\n', "entry 1: key 'expires'"),
    ('[[allow]]\nid = "CVE-1"\nreason = "why"\nexpires = 2026-06-30T10:00:00Z\n',
     "entry 1: key 'expires'"),
    (f'[[allow]]\n{ENTRY}service = "worker"\n', "entry 1: key 'service': unknown service"),
    (f'[[allow]]\n{ENTRY}services = "web"\n', "entry 1: unknown key 'services'"),
    (f'[[allow]]\n{ENTRY}[[allow]]\n[[allow]]\n{ENTRY}', "entry 2: key 'id'"),
    ('allow = ["CVE-1"]\n', "entry 1: must be a table"),
    ('allow = "CVE-1"\n', "'allow' must be an array of tables"),
    (f'[ignore]\n{ENTRY}', "unknown top-level key 'ignore'"),
    ('[[allow]\nid = "CVE-1"\n', "not a valid TOML file"),
])
def test_invalid_entries_exit_2_naming_file_entry_and_key(
        tmp_path: Path, text: str, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        allowlist.load(write(tmp_path, text), SERVICES, shown_as="trivy-allowlist.toml")
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith("trivy-allowlist.toml: ")
    assert where in caught.value.message
    assert "docs/scanning.md" in (caught.value.hint or "")
