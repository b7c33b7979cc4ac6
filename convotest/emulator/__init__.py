"""A local, deterministic stand-in for the OpenAI API (Responses, Conversations, compaction, Chat)."""

from __future__ import annotations

from convotest.emulator.app import create_app
from convotest.emulator.config import EmulatorConfig, FaultConfig
from convotest.emulator.replies import reply_for

__all__ = ["EmulatorConfig", "FaultConfig", "create_app", "reply_for"]
