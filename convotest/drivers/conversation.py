"""``conversation``: a durable Conversation object holds the state; each turn sends only the new input."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import openai

from convotest.drivers.base import ResponsesDriver, input_messages, register
from convotest.scenario.model import Message, Scenario, Turn

__all__ = ["ConversationMode"]


@register
class ConversationMode(ResponsesDriver):
    """``conversations.create()`` once, then ``responses.create(conversation=id, input=new)`` each turn."""

    name = "conversation"

    def __init__(self, client: openai.OpenAI | openai.AsyncOpenAI, scenario: Scenario) -> None:
        super().__init__(client, scenario)
        self.conversation_id: str | None = None
        #: The last response made in the current conversation.
        self.last_id: str | None = None
        #: The items the current conversation was seeded with (a compacted window), if any.
        self.seed: list[dict[str, Any]] = []

    async def _conversation(self) -> str:
        # Created lazily so the request is tagged with the first turn, not with client setup.
        if self.conversation_id is None:
            self.conversation_id = (await self.sdk.create_conversation()).id
        return self.conversation_id

    async def send(self, messages: Sequence[Message]) -> str | None:
        """Send only the new messages on the conversation."""
        conversation = await self._conversation()
        response = await self.respond(input=input_messages(messages), conversation=conversation)
        self.last_id = response.id
        return response.output_text

    async def compact(self, turn: Turn) -> None:
        """Compact the window of the last response, then continue on a new conversation seeded with it."""
        if self.last_id is not None:
            window = await self.compact_window(turn, previous_response_id=self.last_id)
        else:
            window = await self.compact_window(turn, input=list(self.seed))
        self.conversation_id = (await self.sdk.create_conversation(window)).id
        self.seed = window
        self.last_id = None
