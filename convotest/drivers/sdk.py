"""One small seam over the sync and async SDK clients, so each mode's logic is written once.

Every call here is an ``async def``. With an ``AsyncOpenAI`` client it awaits the SDK; with a sync ``OpenAI``
client it calls the SDK directly and never suspends, so ``run_sync`` can finish the coroutine without an
event loop. Drivers are written as coroutines against ``Sdk`` and run either way.

Streaming is handled here too: a streamed call is consumed in full and returns the same final object an
unstreamed call would (the ``response.completed`` event's response; for Chat, the concatenated deltas).
"""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.conversations import Conversation
from openai.types.responses import (
    CompactedResponse,
    Response,
    ResponseCompletedEvent,
    ResponseFailedEvent,
    ResponseIncompleteEvent,
    ResponseStreamEvent,
)

from convotest.errors import DriverError

__all__ = ["ChatReply", "Sdk", "item_dict", "run_sync"]

T = TypeVar("T")

#: The Conversations API takes at most this many items per create / items.create call.
MAX_ITEMS_PER_CALL = 20


@dataclass(frozen=True)
class ChatReply:
    """The assistant message of a chat completion (assembled from deltas when streamed)."""

    content: str | None
    finish_reason: str | None


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Finish a coroutine that never suspends (a driver over a sync client) without an event loop."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return cast(T, stop.value)
    coro.close()
    raise DriverError(
        "the driver awaited something that needs an event loop while driving a synchronous OpenAI client; "
        "use ClientOptions(use_async=True) for async drivers"
    )


def item_dict(item: Any) -> dict[str, Any]:
    """An SDK output item as the JSON the server sent (unset fields left out), ready to send back as input."""
    if isinstance(item, dict):
        return dict(item)
    # The SDK parses loosely (a compacted user message lands in an output-message model), so the dump is
    # faithful to the wire but pydantic would warn about the unexpected values.
    return cast(dict[str, Any], item.to_dict(mode="json", warnings=False))


def _terminal_response(event: ResponseStreamEvent) -> Response | None:
    """The final response carried by a terminal stream event, else ``None``."""
    if isinstance(event, ResponseCompletedEvent | ResponseIncompleteEvent | ResponseFailedEvent):
        return event.response
    return None


class _ChatAssembler:
    """Accumulates streamed chat chunks into the final assistant message."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.finish_reason: str | None = None
        self.saw_content = False

    def add(self, chunk: ChatCompletionChunk) -> None:
        for choice in chunk.choices:
            if choice.index != 0:
                continue
            if choice.delta.content is not None:
                self.saw_content = True
                self.parts.append(choice.delta.content)
            if choice.finish_reason is not None:
                self.finish_reason = choice.finish_reason

    def reply(self) -> ChatReply:
        return ChatReply("".join(self.parts) if self.saw_content else None, self.finish_reason)


class Sdk:
    """The SDK calls the drivers make, over either an ``OpenAI`` or an ``AsyncOpenAI`` client."""

    def __init__(self, client: openai.OpenAI | openai.AsyncOpenAI) -> None:
        self.client = client
        self._async = client if isinstance(client, openai.AsyncOpenAI) else None
        self._sync = client if isinstance(client, openai.OpenAI) else None

    @property
    def is_async(self) -> bool:
        """Whether the client is an ``AsyncOpenAI``."""
        return self._async is not None

    async def chat(self, body: dict[str, Any], *, stream: bool) -> ChatReply:
        """``chat.completions.create(**body)``; streamed with usage when ``stream``."""
        if stream:
            assembler = _ChatAssembler()
            options: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}}
            if self._async is not None:
                async_stream = await self._async.chat.completions.create(**body, **options)
                async for chunk in async_stream:
                    assembler.add(chunk)
            else:
                assert self._sync is not None
                sync_stream = self._sync.chat.completions.create(**body, **options)
                for chunk in sync_stream:
                    assembler.add(chunk)
            return assembler.reply()
        completion: ChatCompletion
        if self._async is not None:
            completion = await self._async.chat.completions.create(**body)
        else:
            assert self._sync is not None
            completion = self._sync.chat.completions.create(**body)
        if not completion.choices:
            raise DriverError(f"chat completion {completion.id} has no choices")
        choice = completion.choices[0]
        return ChatReply(choice.message.content, choice.finish_reason)

    async def respond(self, body: dict[str, Any], *, stream: bool) -> Response:
        """``responses.create(**body)``; when ``stream``, the final response of the event stream."""
        if not stream:
            # ``**body`` makes mypy unable to pick the overload: name the type.
            response: Response
            if self._async is not None:
                response = await self._async.responses.create(**body)
            else:
                assert self._sync is not None
                response = self._sync.responses.create(**body)
            return response
        final: Response | None = None
        if self._async is not None:
            async_events = await self._async.responses.create(**body, stream=True)
            async for event in async_events:
                final = _terminal_response(event) or final
        else:
            assert self._sync is not None
            for event in self._sync.responses.create(**body, stream=True):
                final = _terminal_response(event) or final
        if final is None:
            raise DriverError("the response stream ended without a response.completed/incomplete/failed event")
        return final

    async def compact(self, body: dict[str, Any]) -> CompactedResponse:
        """``responses.compact(**body)``."""
        if self._async is not None:
            return await self._async.responses.compact(**body)
        assert self._sync is not None
        return self._sync.responses.compact(**body)

    async def create_conversation(self, items: Sequence[dict[str, Any]] = ()) -> Conversation:
        """``conversations.create()``, seeded with ``items`` (the first 20 at create, the rest added after)."""
        first = list(items[:MAX_ITEMS_PER_CALL])
        kwargs: dict[str, Any] = {"items": first} if first else {}
        if self._async is not None:
            conversation = await self._async.conversations.create(**kwargs)
        else:
            assert self._sync is not None
            conversation = self._sync.conversations.create(**kwargs)
        rest = list(items[MAX_ITEMS_PER_CALL:])
        for start in range(0, len(rest), MAX_ITEMS_PER_CALL):
            await self.add_conversation_items(conversation.id, rest[start : start + MAX_ITEMS_PER_CALL])
        return conversation

    async def add_conversation_items(self, conversation_id: str, items: Sequence[dict[str, Any]]) -> None:
        """``conversations.items.create(conversation_id, items=items)`` (at most 20 items)."""
        payload: Any = list(items)
        if self._async is not None:
            await self._async.conversations.items.create(conversation_id, items=payload)
        else:
            assert self._sync is not None
            self._sync.conversations.items.create(conversation_id, items=payload)
