"""``manual_chat``: Chat Completions with the whole history resent every turn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import openai

from convotest.drivers.base import Driver, input_messages, register
from convotest.scenario.model import Message, Scenario

__all__ = ["ManualChat", "chat_params"]


def chat_params(params: dict[str, Any]) -> dict[str, Any]:
    """Map a scenario's Responses-style ``params`` to Chat Completions names."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key == "max_output_tokens":
            out["max_completion_tokens"] = value
        elif key == "reasoning" and isinstance(value, dict) and set(value) <= {"effort", "summary"}:
            # Chat has no reasoning summaries; only the effort carries over.
            if "effort" in value:
                out["reasoning_effort"] = value["effort"]
        else:
            out[key] = value
    return out


@register
class ManualChat(Driver):
    """``chat.completions.create(messages=history)``; instructions are a leading system message."""

    name = "manual_chat"
    api = "chat"

    def __init__(self, client: openai.OpenAI | openai.AsyncOpenAI, scenario: Scenario) -> None:
        super().__init__(client, scenario)
        self.history: list[dict[str, Any]] = []
        if scenario.instructions is not None:
            self.history.append({"role": "system", "content": scenario.instructions})

    async def send(self, messages: Sequence[Message]) -> str | None:
        """Append the messages, send the whole history, append the assistant's reply."""
        self.history.extend(input_messages(messages))
        body: dict[str, Any] = {"model": self.scenario.model, "messages": list(self.history)}
        extra = chat_params(self.extra_params())
        if extra:
            body["extra_body"] = extra
        reply = await self.sdk.chat(body, stream=self.stream)
        self.history.append({"role": "assistant", "content": reply.content})
        return reply.content
