"""The counting rules on hand-computed cases (token counts of the pieces noted next to each case)."""

from __future__ import annotations

from typing import Any

import pytest

from convotest import tokens
from convotest.tokens import count_items_tokens, count_request_tokens, count_text

# o200k_base: "hello world" 2, "What is the capital of France?" 7, "The capital is Paris." 5,
# "Be brief." 3, "Alice" 1, and every role name ("user", "assistant", "system", "developer", "tool") 1.
Q = "What is the capital of France?"
A = "The capital is Paris."


def test_piece_counts_the_cases_rely_on() -> None:
    assert [count_text(s, "gpt-4o") for s in ("hello world", Q, A, "Be brief.", "Alice", "hel", "lo", "hello")] == [
        2,
        7,
        5,
        3,
        1,
        1,
        1,
        1,
    ]
    assert all(count_text(r, "gpt-4o") == 1 for r in ("user", "assistant", "system", "developer", "tool"))


def test_chat_one_message() -> None:
    # (3 + user 1 + 2) + primer 3
    assert (
        count_request_tokens(
            "/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello world"}]}
        )
        == 9
    )


def test_chat_history_with_system() -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},  # 3 + 1 + 3 = 7
            {"role": "user", "content": Q},  # 3 + 1 + 7 = 11
            {"role": "assistant", "content": A},  # 3 + 1 + 5 = 9
            {"role": "user", "content": "hello world"},  # 3 + 1 + 2 = 6
        ],
    }
    assert count_request_tokens("https://api.openai.com/v1/chat/completions", body) == 7 + 11 + 9 + 6 + 3


def test_name_costs_one_plus_its_tokens() -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "name": "Alice", "content": "hello world"}]}
    assert count_request_tokens("/v1/chat/completions", body) == 9 + 1 + 1


def test_responses_instructions_count_as_a_system_message() -> None:
    body = {"model": "gpt-4.1", "instructions": "Be brief.", "input": "hello world"}
    # system (3 + 1 + 3) + user (3 + 1 + 2) + 3
    assert count_request_tokens("/v1/responses", body) == 7 + 6 + 3


def test_responses_string_input_equals_one_user_message() -> None:
    as_string = count_request_tokens("/v1/responses", {"model": "gpt-4.1", "input": Q})
    as_item = count_request_tokens("/v1/responses", {"model": "gpt-4.1", "input": [{"role": "user", "content": Q}]})
    assert as_string == as_item == 3 + 1 + 7 + 3


def test_typed_content_parts_are_concatenated_before_counting() -> None:
    # "hel" + "lo" is "hello": 1 token, not 2.
    item = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "hel"}, {"type": "input_text", "text": "lo"}],
    }
    assert count_items_tokens([item], model="gpt-4o", instructions=None) == 3 + 1 + 1 + 3


def test_output_items_fed_back_count_like_short_form_messages() -> None:
    typed = {
        "type": "message",
        "id": "msg_1",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": A, "annotations": []}],
    }
    short = {"role": "assistant", "content": A}
    assert count_items_tokens([typed], model="gpt-4o") == count_items_tokens([short], model="gpt-4o") == 3 + 1 + 5 + 3


def test_input_tokens_endpoint_counts_like_responses() -> None:
    body = {"model": "gpt-4.1-mini", "instructions": "Be brief.", "input": Q}
    assert (
        count_request_tokens("/v1/responses/input_tokens", body)
        == count_request_tokens("/v1/responses", body)
        == 7 + 11 + 3
    )


def test_compact_endpoint_adds_its_overhead() -> None:
    body = {"model": "gpt-4o-mini", "input": [{"role": "user", "content": Q}, {"role": "assistant", "content": A}]}
    assert tokens.COMPACT_OVERHEAD == 93
    assert count_request_tokens("/v1/responses/compact", body) == 11 + 9 + 3 + 93


def test_gpt5_assistant_messages_cost_two_more_and_the_primer_one_less() -> None:
    items = [
        {"role": "user", "content": Q},
        {"role": "assistant", "content": A},
        {"role": "user", "content": "hello world"},
    ]
    assert count_items_tokens(items, model="gpt-4o") == 11 + 9 + 6 + 3
    assert count_items_tokens(items, model="gpt-5-mini") == 11 + (9 + 2) + 6 + 2
    assert count_items_tokens(items, model="gpt-5.4-2026-03-05") == 11 + 11 + 6 + 2


def test_reply_primer() -> None:
    assert tokens.reply_primer("gpt-4o") == tokens.REPLY_PRIMER == 3
    assert tokens.reply_primer("gpt-5-nano") == 2
    assert count_items_tokens([], model="gpt-5") == 2


def test_context_replaces_the_body_input() -> None:
    body = {"model": "gpt-4.1", "previous_response_id": "resp_1", "input": "hello world", "instructions": "Be brief."}
    rebuilt = [
        {"role": "user", "content": Q},
        {"role": "assistant", "content": A},
        {"role": "user", "content": "hello world"},
    ]
    assert count_request_tokens("/v1/responses", body) == 7 + 6 + 3
    assert count_request_tokens("/v1/responses", body, context=rebuilt) == 7 + 11 + 9 + 6 + 3
    assert count_request_tokens("/v1/responses", body, context=rebuilt) == count_items_tokens(
        rebuilt, model="gpt-4.1", instructions="Be brief."
    )


def test_reasoning_items_and_references_count_nothing() -> None:
    items: list[dict[str, Any]] = [
        {"role": "user", "content": Q},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "x" * 500},
        {"type": "item_reference", "id": "msg_9"},
    ]
    assert count_items_tokens(items, model="o3") == 11 + 3


def test_compaction_item_estimate_and_what_it_replaces() -> None:
    compaction = {"type": "compaction", "id": "cmp_1", "encrypted_content": "g" * 1000}
    est = round(1000 * tokens.COMPACTION_TOKENS_PER_CHAR)
    assert est == 98
    items = [
        {"role": "user", "content": Q},  # kept: user messages survive compaction
        {"role": "assistant", "content": A},  # dropped: the compaction item stands for it
        compaction,
        {"role": "user", "content": "hello world"},
    ]
    assert count_items_tokens(items, model="gpt-4.1") == 11 + est + 6 + 3
    # Without a compaction item nothing is dropped.
    assert count_items_tokens([items[0], items[1], items[3]], model="gpt-4.1") == 11 + 9 + 6 + 3


def test_readable_compaction_summary_counts_its_text() -> None:
    summary: dict[str, Any] = {"type": "compaction_summary", "summary": [{"type": "summary_text", "text": A}]}
    items: list[dict[str, Any]] = [
        {"role": "assistant", "content": Q},
        summary,
        {"role": "user", "content": "hello world"},
    ]
    assert count_items_tokens(items, model="gpt-4.1") == (3 + 5) + 6 + 3


def test_function_call_and_output_estimates() -> None:
    call = {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city":"Paris"}'}
    out = {"type": "function_call_output", "call_id": "c1", "output": "Sunny"}
    # 3 + 5 + name 2 + arguments 5 ; 3 + 5 + output 1
    assert count_items_tokens([call, out], model="gpt-4.1") == 15 + 9 + 3


def test_images_are_flat_estimates() -> None:
    low = {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"}
    high = {"type": "input_image", "image_url": "https://example.com/a.png"}
    msg = {"role": "user", "content": [{"type": "input_text", "text": "hello world"}, low, high]}
    assert count_items_tokens([msg], model="gpt-4o") == 3 + 1 + 2 + 85 + 765 + 3
    chat = {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}],
    }
    assert count_request_tokens("/v1/chat/completions", {"model": "gpt-4o", "messages": [chat]}) == 3 + 1 + 85 + 3


def test_function_tools_follow_the_cookbook_estimate() -> None:
    fn = {
        "name": "get_weather",
        "description": "Get weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    # 7 + "get_weather:Get weather" 4 + 3 + (3 + "city:string:" 3) + 12
    chat = {"model": "gpt-4o", "messages": [], "tools": [{"type": "function", "function": fn}]}
    assert count_request_tokens("/v1/chat/completions", chat) == 3 + 32
    responses = {"model": "gpt-4o", "input": [], "tools": [{"type": "function", **fn}]}
    assert count_request_tokens("/v1/responses", responses) == 3 + 32 + tokens.RESPONSES_TOOLS_DELTA


def test_encodings_by_model() -> None:
    assert tokens.encoding_for("gpt-4o").name == "o200k_base"
    assert tokens.encoding_for("gpt-4-0613").name == "cl100k_base"
    assert tokens.encoding_for("gpt-3.5-turbo").name == "cl100k_base"
    assert tokens.encoding_for("gpt-5.4").name == "o200k_base"
    assert tokens.encoding_for("some-future-model").name == "o200k_base"
    # "Sunny" is one o200k token and two cl100k tokens.
    assert count_text("Sunny", "gpt-4o") == 1
    assert count_text("Sunny", "gpt-4") == 2


def test_special_token_text_is_plain_text() -> None:
    assert count_text("<|endoftext|>", "gpt-4o") > 1


def test_unknown_endpoint_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a model endpoint"):
        count_request_tokens("/v1/embeddings", {"model": "gpt-4o", "input": "x"})
