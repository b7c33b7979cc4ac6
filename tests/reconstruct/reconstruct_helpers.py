"""Builders of hand-made exchanges for the reconstruction tests."""

from __future__ import annotations

from typing import Any

from convotest.transcript import Exchange

_counter = {"n": 0}


def _next() -> int:
    _counter["n"] += 1
    return _counter["n"]


def out_msg(text: str, mid: str | None = None) -> dict[str, Any]:
    """An assistant output message item."""
    return {
        "type": "message",
        "id": mid or f"msg_{_next()}",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def reasoning(rid: str | None = None, encrypted: str | None = "enc") -> dict[str, Any]:
    """A reasoning output item."""
    item: dict[str, Any] = {"type": "reasoning", "id": rid or f"rs_{_next()}", "summary": []}
    if encrypted is not None:
        item["encrypted_content"] = encrypted
    return item


def compaction(cid: str | None = None) -> dict[str, Any]:
    """A compaction item."""
    return {"type": "compaction", "id": cid or f"cmp_{_next()}", "encrypted_content": "gAAAA…"}


def user(text: str) -> dict[str, Any]:
    """A short-form user input item."""
    return {"role": "user", "content": text}


def typed_user(text: str, mid: str | None = None) -> dict[str, Any]:
    """A typed user message item."""
    item: dict[str, Any] = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    if mid:
        item["id"] = mid
    return item


def responses_usage(inp: int = 10, out: int = 5, cached: int = 0, reasoning_tokens: int = 0) -> dict[str, Any]:
    """A Responses usage object."""
    return {
        "input_tokens": inp,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": inp + out,
    }


def resp(
    index: int,
    request: dict[str, Any],
    output: list[dict[str, Any]] | None,
    *,
    rid: str | None = None,
    turn: int | None = None,
    status: str = "completed",
    http: int = 200,
    path: str = "/v1/responses",
    usage: dict[str, Any] | None = None,
) -> Exchange:
    """A POST /responses (or /responses/compact) exchange."""
    body: dict[str, Any] | None
    if http >= 400:
        body = {"error": {"message": "boom", "type": "invalid_request_error", "param": None, "code": "x"}}
    else:
        body = {
            "id": rid or f"resp_{_next()}",
            "object": "response.compaction" if path.endswith("/compact") else "response",
            "status": status,
            "output": output or [],
            "usage": usage or responses_usage(),
            "model": "gpt-4.1-2025-04-14",
        }
        if path.endswith("/compact"):
            del body["status"]
    return Exchange(index=index, method="POST", path=path, request=request, status=http, response=body, turn=turn)


def chat(
    index: int,
    messages: list[dict[str, Any]],
    reply: str,
    *,
    turn: int | None = None,
    finish: str = "stop",
    path: str = "/v1/chat/completions",
) -> Exchange:
    """A POST /chat/completions exchange."""
    body = {
        "id": f"chatcmpl-{_next()}",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": reply, "refusal": None}, "finish_reason": finish}
        ],
        "usage": {
            "prompt_tokens": 20,
            "completion_tokens": 4,
            "total_tokens": 24,
            "prompt_tokens_details": {"cached_tokens": 8},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }
    return Exchange(
        index=index,
        method="POST",
        path=path,
        request={"model": "gpt-4o-mini", "messages": messages},
        response=body,
        turn=turn,
    )


def other(
    index: int,
    method: str,
    path: str,
    request: Any = None,
    response: Any = None,
    *,
    query: dict[str, str] | None = None,
) -> Exchange:
    """A non-model exchange (conversations, items, retrieve)."""
    return Exchange(index=index, method=method, path=path, request=request, response=response, query=query or {})
