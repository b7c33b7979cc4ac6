"""previous_response_id pointing at the wrong (older) response: the chain forks from turn 1 every time."""

from __future__ import annotations

import openai
from openai import omit


class Bot:
    """Responses bot that remembers only the first response id (``or`` instead of assignment)."""

    def __init__(self, client: openai.OpenAI) -> None:
        self.client = client
        self.previous_id: str | None = None

    def send(self, text: str) -> str:
        """Send the new message chained to ``previous_id``."""
        response = self.client.responses.create(
            model="gpt-4.1",
            input=[{"role": "user", "content": text}],
            previous_response_id=self.previous_id or omit,
        )
        # BUG: keeps the first id forever; should be self.previous_id = response.id
        self.previous_id = self.previous_id or response.id
        return response.output_text
