"""``manual_responses``: the Responses API with ``store: false`` and the whole window resent every turn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import openai

from convotest.drivers.base import ResponsesDriver, input_messages, register
from convotest.drivers.sdk import item_dict
from convotest.scenario.model import Message, Scenario, Turn

__all__ = ["ManualResponses"]


@register
class ManualResponses(ResponsesDriver):
    """``responses.create(input=history, store=False)``, appending every output item to the history."""

    name = "manual_responses"

    def __init__(self, client: openai.OpenAI | openai.AsyncOpenAI, scenario: Scenario) -> None:
        super().__init__(client, scenario)
        self.history: list[dict[str, Any]] = []

    async def send(self, messages: Sequence[Message]) -> str | None:
        """Append the messages, send the whole window, append every output item."""
        self.history.extend(input_messages(messages))
        response = await self.respond(
            input=list(self.history),
            store=False,
            # With store=false, reasoning items can only be carried forward with their encrypted content.
            include=["reasoning.encrypted_content"],
        )
        self.history.extend(item_dict(item) for item in response.output)
        if self.scenario.server_compaction is not None:
            # The compaction guide: items before the latest compaction item may be dropped.
            last = max((i for i, item in enumerate(self.history) if item.get("type") == "compaction"), default=0)
            self.history = self.history[last:]
        return response.output_text

    async def compact(self, turn: Turn) -> None:
        """``responses.compact(input=window)``; the compacted output becomes the window."""
        self.history = await self.compact_window(turn, input=list(self.history))
