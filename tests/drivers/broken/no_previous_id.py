"""previous_response_id ignored: the id is kept but never sent, so every turn starts from scratch."""

from __future__ import annotations

import openai


class Bot:
    """Responses bot that records the last response id and then forgets to pass it."""

    def __init__(self, client: openai.OpenAI) -> None:
        self.client = client
        self.last_id: str | None = None

    def send(self, text: str) -> str:
        """Send the new message (and, it believes, the chain)."""
        response = self.client.responses.create(
            model="gpt-4.1",
            input=[{"role": "user", "content": text}],
            # BUG: previous_response_id=self.last_id is missing.
        )
        self.last_id = response.id
        return response.output_text
