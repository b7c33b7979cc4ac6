"""The worked example of docs/custom-drivers.md: an app's own chat class, driven by convotest."""

from __future__ import annotations

from typing import Any

import openai
from openai import omit

from convotest.scenario.model import Scenario


class SupportBot:
    """The application's conversation code: chains turns with previous_response_id."""

    def __init__(self, client: openai.OpenAI, model: str = "gpt-4.1-mini") -> None:
        self.client = client
        self.model = model
        self.instructions = "You are a concise support agent."
        self.last_id: str | None = None
        # After a compaction: the compacted window, sent with the next message to start a new chain.
        self.pending: list[Any] = []

    def send(self, text: str) -> str:
        """Send one user message; return the assistant's reply."""
        return self.send_messages([{"role": "user", "content": text}])

    def send_messages(self, messages: list[dict[str, Any]]) -> str:
        """Send several messages at once (an ``input:`` turn); return the assistant's reply."""
        response = self.client.responses.create(
            model=self.model,
            instructions=self.instructions,  # not carried by previous_response_id: send every turn
            input=[*self.pending, *messages],
            previous_response_id=self.last_id or omit,
        )
        self.pending = []
        self.last_id = response.id
        return response.output_text

    def compact(self) -> None:
        """Compact the chain; the next message starts a new chain from the compacted window."""
        if self.last_id is None:
            return
        compacted = self.client.responses.compact(model=self.model, previous_response_id=self.last_id)
        # Compacted user messages parse into output-message models: skip pydantic's warnings about that.
        self.pending = [item.to_dict(warnings=False) for item in compacted.output]
        self.last_id = None


class ScenarioBot(SupportBot):
    """Takes the scenario too, to use its model and instructions."""

    def __init__(self, client: openai.OpenAI, scenario: Scenario) -> None:
        super().__init__(client, scenario.model)
        self.instructions = scenario.instructions or self.instructions


class AsyncSupportBot:
    """The same app code over ``AsyncOpenAI``: coroutine methods are awaited."""

    def __init__(self, client: openai.AsyncOpenAI) -> None:
        self.client = client
        self.last_id: str | None = None

    async def send(self, text: str) -> str:
        """Send one user message; return the assistant's reply."""
        response = await self.client.responses.create(
            model="gpt-4.1-mini",
            input=[{"role": "user", "content": text}],
            previous_response_id=self.last_id or omit,
        )
        self.last_id = response.id
        return response.output_text
