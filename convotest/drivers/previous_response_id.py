"""``previous_response_id``: only the new input each turn, chained to the last response by id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import openai

from convotest.drivers.base import ResponsesDriver, input_messages, register
from convotest.scenario.model import Message, Scenario, Turn

__all__ = ["PreviousResponseId"]


@register
class PreviousResponseId(ResponsesDriver):
    """``responses.create(input=new, previous_response_id=last)``; instructions resent every turn."""

    name = "previous_response_id"

    def __init__(self, client: openai.OpenAI | openai.AsyncOpenAI, scenario: Scenario) -> None:
        super().__init__(client, scenario)
        #: The id of the last response of the current chain.
        self.last_id: str | None = None
        #: A compacted window not yet sent: the first request of the next chain starts with it.
        self.pending: list[dict[str, Any]] | None = None

    async def send(self, messages: Sequence[Message]) -> str | None:
        """Send the new messages on the chain (or start a new chain from a compacted window)."""
        fields: dict[str, Any] = {"input": input_messages(messages)}
        if self.pending is not None:
            fields["input"] = [*self.pending, *fields["input"]]
        elif self.last_id is not None:
            fields["previous_response_id"] = self.last_id
        response = await self.respond(**fields)
        self.pending = None
        self.last_id = response.id
        return response.output_text

    async def compact(self, turn: Turn) -> None:
        """``responses.compact(previous_response_id=last)``; the next turn starts a new chain from its output."""
        if self.pending is not None:
            window = await self.compact_window(turn, input=self.pending)
        elif self.last_id is not None:
            window = await self.compact_window(turn, previous_response_id=self.last_id)
        else:
            window = await self.compact_window(turn, input=[])
        self.pending = window
        self.last_id = None
