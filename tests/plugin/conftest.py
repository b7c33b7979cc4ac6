"""Fixtures for the plugin's end-to-end tests: cassettes recorded once, and xdist on and off."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_helpers import CHAINED, GREETING, SECRETIVE, record


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cassettes of the helper scenarios in all their modes, recorded once for the session."""
    scenarios = {"greeting": GREETING, "chained": CHAINED, "secretive": SECRETIVE}
    return record(scenarios, tmp_path_factory.mktemp("recorded"))


@pytest.fixture(params=["serial", "xdist"])
def xdist(request: pytest.FixtureRequest) -> list[str]:
    """Extra command-line arguments: none, or two xdist workers."""
    return ["-n", "2"] if request.param == "xdist" else []
