"""convotest: record and replay multi-turn OpenAI conversations, checking per turn what the model saw."""

from __future__ import annotations

from convotest.errors import (
    CassetteError,
    ConfigError,
    ConvotestError,
    DriftError,
    DriverError,
    ScenarioError,
    SourceLoc,
)
from convotest.failures import Failure

__version__ = "0.1.0"

__all__ = [
    "CassetteError",
    "ConfigError",
    "ConvotestError",
    "DriftError",
    "DriverError",
    "Failure",
    "ScenarioError",
    "SourceLoc",
    "__version__",
]
