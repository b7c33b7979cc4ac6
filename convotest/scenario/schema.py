"""The JSON Schema (draft 2020-12) of scenario format v1, shipped as package data."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = ["SCHEMA_RESOURCE", "schema", "schema_text"]

#: Where the schema lives inside the installed package.
SCHEMA_RESOURCE = "schemas/scenario.schema.json"


@lru_cache(maxsize=1)
def schema_text() -> str:
    """The schema file's text, exactly as shipped (what ``convotest schema`` prints)."""
    return resources.files("convotest").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")


def schema() -> dict[str, Any]:
    """The scenario JSON Schema as a fresh dict (callers may modify it)."""
    result: dict[str, Any] = json.loads(schema_text())
    return result
