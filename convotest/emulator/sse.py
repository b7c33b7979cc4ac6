"""Server-sent events: a finished response or chat completion replayed as the real API streams it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["chat_chunks", "chunks", "response_events"]

_CHUNK = re.compile(r"\s*\S+")


def chunks(text: str) -> list[str]:
    """Deltas of ``text``: one per word with its leading whitespace (they concatenate back to ``text``)."""
    parts = _CHUNK.findall(text)
    rest = text[sum(len(p) for p in parts) :]
    if rest:
        parts.append(rest)
    return parts


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {_dump(data)}\n\n".encode()


def response_events(response: Mapping[str, Any]) -> Iterator[bytes]:
    """``response.created`` … ``response.completed`` (or ``response.incomplete``), numbered in sequence."""
    seq = 0

    def emit(name: str, **fields: Any) -> bytes:
        nonlocal seq
        data = {"type": name, **fields, "sequence_number": seq}
        seq += 1
        return _event(name, data)

    # Streamed response objects carry no `billing` (real traffic: the chatlas calibration cassette).
    response = {k: v for k, v in response.items() if k != "billing"}
    pending = {
        **response,
        "status": "in_progress",
        "completed_at": None,
        "incomplete_details": None,
        "output": [],
        "usage": None,
    }
    yield emit("response.created", response=pending)
    yield emit("response.in_progress", response=pending)
    for index, item in enumerate(response["output"]):
        kind = item.get("type")
        if kind == "message":
            item_id = item["id"]
            yield emit(
                "response.output_item.added",
                item={**item, "status": "in_progress", "content": []},
                output_index=index,
            )
            for part_index, part in enumerate(item["content"]):
                text = part.get("text", "")
                yield emit(
                    "response.content_part.added",
                    content_index=part_index,
                    item_id=item_id,
                    output_index=index,
                    part={**part, "text": ""},
                )
                for delta in chunks(text):
                    yield emit(
                        "response.output_text.delta",
                        content_index=part_index,
                        delta=delta,
                        item_id=item_id,
                        logprobs=[],
                        output_index=index,
                    )
                yield emit(
                    "response.output_text.done",
                    content_index=part_index,
                    item_id=item_id,
                    logprobs=[],
                    output_index=index,
                    text=text,
                )
                yield emit(
                    "response.content_part.done",
                    content_index=part_index,
                    item_id=item_id,
                    output_index=index,
                    part=part,
                )
            yield emit("response.output_item.done", item=item, output_index=index)
        elif kind == "compaction":
            yield emit("response.compaction.compacting", item_id=item["id"], output_index=index)
            yield emit("response.output_item.added", item=item, output_index=index)
            yield emit("response.output_item.done", item=item, output_index=index)
        else:
            yield emit("response.output_item.added", item=item, output_index=index)
            yield emit("response.output_item.done", item=item, output_index=index)
    final = "response.incomplete" if response.get("status") == "incomplete" else "response.completed"
    yield emit(final, response=response)


def chat_chunks(completion: Mapping[str, Any], include_usage: bool) -> Iterator[bytes]:
    """``chat.completion.chunk`` data lines for a completion, a usage chunk if asked, then ``[DONE]``."""
    base: dict[str, Any] = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
        "service_tier": completion.get("service_tier"),
        "system_fingerprint": completion.get("system_fingerprint"),
    }

    def line(choices: list[dict[str, Any]], usage: Any = None) -> bytes:
        data = {**base, "choices": choices}
        if include_usage:
            data["usage"] = usage
        return f"data: {_dump(data)}\n\n".encode()

    for choice in completion["choices"]:
        index = choice["index"]
        yield line(
            [
                {
                    "index": index,
                    "delta": {"role": "assistant", "content": "", "refusal": None},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ]
        )
        for delta in chunks(choice["message"]["content"] or ""):
            yield line([{"index": index, "delta": {"content": delta}, "logprobs": None, "finish_reason": None}])
        yield line([{"index": index, "delta": {}, "logprobs": None, "finish_reason": choice["finish_reason"]}])
    if include_usage:
        yield line([], completion["usage"])
    yield b"data: [DONE]\n\n"
