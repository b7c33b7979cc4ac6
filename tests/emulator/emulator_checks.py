"""Helpers for the emulator tests: strict validation against the SDK's pydantic types."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

#: Top-level keys the real API sends (seen in ../shared/calibration) that the SDK's types do not declare.
REAL_EXTRAS: dict[str, frozenset[str]] = {
    "Response": frozenset({"billing", "frequency_penalty", "presence_penalty", "store"}),
}


def strict(model: type[BaseModel], data: Any, extra: Iterable[str] = ()) -> Any:
    """``model.model_validate(data)`` that also fails on top-level keys the type does not declare."""
    assert isinstance(data, dict), data
    allowed = set(model.model_fields) | set(extra) | REAL_EXTRAS.get(model.__name__, frozenset())
    unknown = set(data) - allowed
    assert not unknown, f"{model.__name__}: undeclared keys {sorted(unknown)}"
    return model.model_validate(data)
