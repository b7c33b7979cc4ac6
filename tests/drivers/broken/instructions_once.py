"""``instructions`` not resent on a ``previous_response_id`` chain: they apply to the first turn only."""

from __future__ import annotations

import openai
from openai import omit

from convotest.scenario.model import Scenario


class Bot:
    """Chained Responses bot that sends the system prompt with the first request only."""

    def __init__(self, client: openai.OpenAI, scenario: Scenario) -> None:
        self.client = client
        self.instructions = scenario.instructions
        self.previous_id: str | None = None

    def send(self, text: str) -> str:
        """Send the new message on the chain."""
        response = self.client.responses.create(
            model="gpt-4.1",
            input=[{"role": "user", "content": text}],
            previous_response_id=self.previous_id or omit,
            # BUG: instructions are not carried over by previous_response_id; they must be sent every turn.
            instructions=self.instructions if self.previous_id is None else omit,
        )
        self.previous_id = response.id
        return response.output_text
