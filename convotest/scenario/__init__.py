"""Scenario files (format v1): the model, the loader, the JSON Schema and validation."""

from __future__ import annotations

from convotest.scenario.cache import ScenarioCache
from convotest.scenario.loader import check_text, discover, load_file, load_text
from convotest.scenario.model import ALL_MODES, RESPONSES_MODES, Scenario, Turn
from convotest.scenario.schema import schema
from convotest.scenario.validate import run_validate, validate_paths

__all__ = [
    "ALL_MODES",
    "RESPONSES_MODES",
    "Scenario",
    "ScenarioCache",
    "Turn",
    "check_text",
    "discover",
    "load_file",
    "load_text",
    "run_validate",
    "schema",
    "validate_paths",
]
