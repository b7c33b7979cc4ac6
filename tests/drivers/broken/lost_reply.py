"""History not appended: the assistant's reply never goes back into the history, so turns are lost."""

from __future__ import annotations

from typing import Any

import openai


class Bot:
    """Chat Completions bot that appends the user's messages but forgets the assistant's replies."""

    def __init__(self, client: openai.OpenAI) -> None:
        self.client = client
        self.history: list[Any] = []

    def send(self, text: str) -> str:
        """Send one user message with the history so far."""
        self.history.append({"role": "user", "content": text})
        completion = self.client.chat.completions.create(model="gpt-4.1", messages=self.history)
        # BUG: should be self.history.append({"role": "assistant", "content": reply})
        return completion.choices[0].message.content or ""
