"""Chat Completions and streaming (Responses SSE and Chat chunks) through the real SDK."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from emulator_checks import strict
from openai import OpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response

from convotest.tokens import count_request_tokens

MODEL = "gpt-4o-mini"
HISTORY: list[Any] = [
    {"role": "system", "content": "Be nice."},
    {"role": "user", "content": "My name is Alice."},
    {"role": "assistant", "content": "Hello Alice."},
    {"role": "user", "content": "What is my name?"},
]


def test_chat_completion_shape_reply_and_tokens(client: OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=HISTORY)
    data = raw.http_response.json()
    strict(ChatCompletion, data)
    assert data["id"].startswith("chatcmpl-") and data["model"] == "gpt-4o-mini-2024-07-18"
    [choice] = data["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["message"] == {
        "role": "assistant",
        "content": 'I have seen 3 messages. You first said: "My name is Alice.". You just said: "What is my name?".',
        "refusal": None,
        "annotations": [],
    }
    body = {"model": MODEL, "messages": HISTORY}
    assert data["usage"]["prompt_tokens"] == count_request_tokens("/v1/chat/completions", body)
    assert raw.http_response.headers["x-request-id"].startswith("req_")


def test_chat_length_limit_reasoning_and_errors(client: OpenAI) -> None:
    cut = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Say 200 words"}], max_completion_tokens=25
    )
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage is not None and cut.usage.completion_tokens <= 25
    reasoning = client.chat.completions.create(model="o3-mini", messages=[{"role": "user", "content": "hi"}])
    assert reasoning.usage is not None and reasoning.usage.completion_tokens_details is not None
    assert reasoning.usage.completion_tokens_details.reasoning_tokens > 0
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model=MODEL, messages=[{"role": "robot", "content": "hi"}])  # type: ignore[misc,list-item]
    assert bad.value.code == "invalid_value" and bad.value.param == "messages[0].role"


def test_chat_context_length_wording(fresh: Any) -> None:
    from convotest.emulator import EmulatorConfig

    srv = fresh(EmulatorConfig(model_limits={"gpt-small": (50, 100)}))
    client = OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-small", messages=[{"role": "user", "content": "word " * 80}])
    assert info.value.code == "context_length_exceeded" and info.value.param == "messages"
    message = info.value.body["message"]  # type: ignore[index]
    assert message.startswith("This model's maximum context length is 50 tokens. However, your messages resulted in ")


def test_chat_stream_with_usage_equals_unstreamed(client: OpenAI) -> None:
    plain = client.chat.completions.create(model=MODEL, messages=HISTORY)
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=HISTORY, stream=True, stream_options={"include_usage": True}
        )
    )
    for chunk in chunks:
        strict(ChatCompletionChunk, chunk.model_dump(exclude_unset=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage == plain.usage
    assert chunks[-2].choices[0].finish_reason == "stop"
    no_usage = list(client.chat.completions.create(model=MODEL, messages=HISTORY, stream=True))
    assert all(c.usage is None for c in no_usage)


def test_chat_stream_ends_with_done(server: Any) -> None:
    import httpx2

    response = httpx2.post(
        server.base_url + "/chat/completions",
        headers={"authorization": "Bearer sk-test"},
        json={"model": MODEL, "messages": HISTORY, "stream": True},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.endswith("data: [DONE]\n\n")


def test_responses_stream_events_and_state(client: OpenAI) -> None:
    plain = client.responses.create(model="gpt-5-mini", input="stream me")
    events = list(client.responses.create(model="gpt-5-mini", input="stream me", stream=True))
    names = [e.type for e in events]
    assert names[:2] == ["response.created", "response.in_progress"]
    assert names[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "response.output_text.delta" in names and names.count("response.output_item.added") == 2
    order = [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ]
    message_events = [n for n in names if n in order]
    assert [n for i, n in enumerate(message_events) if i == 0 or n != message_events[i - 1]][-6:] == order
    final = events[-1].response  # type: ignore[union-attr]
    strict(Response, final.model_dump(exclude_unset=True))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")  # type: ignore[union-attr]
    assert deltas == plain.output_text == final.output_text
    assert final.usage == plain.usage
    # The streamed response is stored and chains exactly like an unstreamed one.
    chained = client.responses.create(model="gpt-5-mini", input="next", previous_response_id=final.id)
    assert chained.output_text.startswith('I have seen 3 messages. You first said: "stream me".')


def test_responses_stream_helper_and_incomplete(client: OpenAI) -> None:
    with client.responses.stream(model=MODEL, input="helper") as stream:
        final = stream.get_final_response()
    assert final.output_text.startswith("I have seen 1 messages.")
    events = list(client.responses.create(model=MODEL, input="Give 500 words", max_output_tokens=20, stream=True))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"  # type: ignore[union-attr]


def test_streamed_compaction_has_its_event(client: OpenAI) -> None:
    manage: Any = [{"type": "compaction", "compact_threshold": 1000}]
    events = list(
        client.responses.create(model="gpt-4.1", input="Write 900 words", context_management=manage, stream=True)
    )
    names = [e.type for e in events]
    assert "response.compaction.compacting" in names
    assert [o.type for o in events[-1].response.output] == ["message", "compaction"]  # type: ignore[union-attr]


def test_chat_instructions_are_not_counted_as_a_message(client: OpenAI) -> None:
    # The same context in Chat (instructions as a leading system message) and in Responses
    # (the instructions parameter) gets the same reply, so replies agree across modes.
    chat = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    )
    responses = client.responses.create(model="gpt-4o-mini", instructions="Be brief.", input="Hi")
    assert chat.choices[0].message.content == responses.output_text
    assert responses.output_text.startswith("I have seen 1 messages.")
