"""Reasoning items resent without ``include=["reasoning.encrypted_content"]`` under ``store: false``."""

from __future__ import annotations

from typing import Any

import openai


class Bot:
    """``store: false`` bot on a reasoning model that resends its output but never asked for the content."""

    def __init__(self, client: openai.OpenAI) -> None:
        self.client = client
        self.history: list[Any] = []

    def send(self, text: str) -> str:
        """Send the history and the new message."""
        self.history.append({"role": "user", "content": text})
        # BUG: without include=["reasoning.encrypted_content"] the reasoning item is only an id the
        # server did not keep.
        response = self.client.responses.create(model="gpt-5-mini", input=self.history, store=False)
        self.history.extend(item.to_dict() for item in response.output)
        return response.output_text
