"""Model names: dated snapshots echoed back, which models reason, which exist, and their limits."""

from __future__ import annotations

import re

from convotest.emulator.config import EmulatorConfig
from convotest.tokens import ModelLimits, model_limits

__all__ = ["default_effort", "is_known_model", "is_reasoning_model", "limits_for", "reasons", "snapshot"]

#: Base name → the dated snapshot the real API reports in ``model``.
SNAPSHOTS: dict[str, str] = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-4-turbo": "gpt-4-turbo-2024-04-09",
    "gpt-4": "gpt-4-0613",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
    "o1": "o1-2024-12-17",
    "o3": "o3-2025-04-16",
    "o3-mini": "o3-mini-2025-01-31",
    "o4-mini": "o4-mini-2025-04-16",
    "gpt-5": "gpt-5-2025-08-07",
    "gpt-5-mini": "gpt-5-mini-2025-08-07",
    "gpt-5-nano": "gpt-5-nano-2025-08-07",
}

# Names the real API could plausibly serve; anything else is `model_not_found` (as a typo would be).
_PLAUSIBLE = re.compile(r"^(ft:)?(gpt-|o\d|chatgpt-|codex-|computer-use-)", re.IGNORECASE)


def snapshot(model: str) -> str:
    """The dated name the server reports for ``model`` (unchanged when unknown or already dated)."""
    return SNAPSHOTS.get(model, model)


def is_reasoning_model(model: str) -> bool:
    """Reasoning models (``o*``, ``gpt-5*``) emit a reasoning item and reasoning tokens."""
    name = model.lower()
    if name.startswith("ft:"):
        name = name[3:]
    return bool(re.match(r"o\d", name)) or name.startswith("gpt-5")


def default_effort(model: str) -> str | None:
    """The ``reasoning.effort`` the server reports when none is asked: gpt-5.N (dotted) defaults to "none"."""
    if not is_reasoning_model(model):
        return None
    name = model.lower().removeprefix("ft:")
    return "none" if re.match(r"gpt-5\.\d", name) else "medium"


def reasons(model: str, effort: object) -> bool:
    """Whether a reply of ``model`` at ``effort`` (None: the default) has a reasoning item and tokens."""
    if not is_reasoning_model(model):
        return False
    return (effort if effort is not None else default_effort(model)) != "none"


def is_known_model(model: str, config: EmulatorConfig) -> bool:
    """Whether the emulator serves ``model``: configured names and OpenAI-looking names."""
    if any(model == k or model.startswith(k + "-") for k in config.model_limits):
        return True
    return bool(_PLAUSIBLE.match(model))


def limits_for(model: str, config: EmulatorConfig) -> ModelLimits:
    """Context window and output cap for ``model`` (configured, built-in table, else the default)."""
    for name, (window, out) in config.model_limits.items():
        if model == name or model.startswith(name + "-"):
            return ModelLimits(window, out)
    window, out = config.default_limits
    return model_limits(model, default=ModelLimits(window, out))
