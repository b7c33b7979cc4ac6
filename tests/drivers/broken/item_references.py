"""``store: false`` with ``item_reference``s: references to items the server never kept."""

from __future__ import annotations

from typing import Any

import openai


class Bot:
    """Stateless Responses bot that saves bandwidth by referencing earlier output items by id."""

    def __init__(self, client: openai.OpenAI) -> None:
        self.client = client
        self.history: list[Any] = []

    def send(self, text: str) -> str:
        """Send the history (earlier outputs as references) and the new message."""
        self.history.append({"role": "user", "content": text})
        response = self.client.responses.create(model="gpt-4.1", input=self.history, store=False)
        # BUG: with store=False the server keeps nothing; the full items must be sent back.
        self.history.extend({"type": "item_reference", "id": item.id} for item in response.output)
        return response.output_text
