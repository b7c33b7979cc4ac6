"""Conversation id reused across scenarios: a module-level cache outlives the conversation it belongs to."""

from __future__ import annotations

import openai

# BUG: module state is shared by every Bot (every user, every test) in the process.
_CONVERSATION_ID: str | None = None


class Bot:
    """Conversations bot that creates its conversation once per process instead of once per chat."""

    def __init__(self, client: openai.OpenAI) -> None:
        self.client = client

    def send(self, text: str) -> str:
        """Send the new message on the (cached) conversation."""
        global _CONVERSATION_ID
        if _CONVERSATION_ID is None:
            _CONVERSATION_ID = self.client.conversations.create().id
        response = self.client.responses.create(
            model="gpt-4.1", input=[{"role": "user", "content": text}], conversation=_CONVERSATION_ID
        )
        return response.output_text
