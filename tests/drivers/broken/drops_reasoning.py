"""Reasoning items dropped: a stateless reasoning-model bot keeps only the messages of each output."""

from __future__ import annotations

from typing import Any

import openai


class Bot:
    """``store: false`` bot on a reasoning model that filters its history down to messages."""

    def __init__(self, client: openai.OpenAI) -> None:
        self.client = client
        self.history: list[Any] = []

    def send(self, text: str) -> str:
        """Send the history and the new message."""
        self.history.append({"role": "user", "content": text})
        response = self.client.responses.create(
            model="gpt-5-mini",
            input=self.history,
            store=False,
            include=["reasoning.encrypted_content"],
        )
        # BUG: the reasoning items (with their encrypted content) must be carried forward too.
        self.history.extend(item.to_dict() for item in response.output if item.type == "message")
        return response.output_text
