"""Continuation after a compact step, server-side (inline) compaction, and starts_with_compaction."""

from __future__ import annotations

from typing import Any

import pytest

from convotest.compaction import (
    Problem,
    check_continuation,
    check_inline_compaction,
    check_inline_continuation,
)

CMP = {"type": "compaction", "id": "cmp_1", "encrypted_content": "gAAAA-one"}
OUTPUT: list[dict[str, Any]] = [
    {"type": "message", "id": "msg_u1", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
    {"type": "message", "id": "msg_u2", "role": "user", "content": [{"type": "input_text", "text": "Lyon?"}]},
    CMP,
]
OLD_HISTORY: list[dict[str, Any]] = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Lyon?"},
    {"role": "assistant", "content": "A city."},
]
NEW = {"role": "user", "content": "And Paris?"}


def _codes(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(p.code, p.path) for p in problems]


@pytest.mark.parametrize("mode", ["manual_responses", "previous_response_id", "custom"])
def test_input_starting_with_compacted_window_is_accepted(mode: str) -> None:
    assert check_continuation(OUTPUT, {"input": [*OUTPUT, NEW]}, mode=mode) == []


def test_short_form_resend_of_kept_user_messages_is_accepted() -> None:
    resent = [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Lyon?"}, dict(CMP), NEW]
    assert check_continuation(OUTPUT, {"input": resent}, mode="manual_responses") == []


def test_driver_that_forgets_the_compacted_window_is_caught() -> None:
    problems = check_continuation(OUTPUT, {"input": [*OLD_HISTORY, NEW]}, mode="manual_responses")
    assert [(p.code, p.path, p.message) for p in problems] == [
        (
            "continuation_window",
            "$.input[0]",
            "the next request does not carry the compacted window: compaction item cmp_1 is not in it "
            "(it starts with user message 'Hi')",
        )
    ]


def test_compaction_item_not_first_after_kept_messages() -> None:
    window = [OUTPUT[0], {"role": "assistant", "content": "Hello!"}, OUTPUT[1], CMP, NEW]
    problems = check_continuation(OUTPUT, {"input": window}, mode="manual_responses")
    assert [(p.code, p.path, p.message) for p in problems] == [
        (
            "continuation_window",
            "$.input[1]",
            "the next request does not start with the compacted window: item 1 should be user message "
            "'Lyon?', got assistant message 'Hello!'",
        )
    ]


def test_only_compaction_item_sent_is_its_own_problem() -> None:
    problems = check_continuation(OUTPUT, {"input": [CMP, NEW]}, mode="manual_responses")
    assert _codes(problems) == [("continuation_user_messages_dropped", "$.input[0]")]


def test_previous_response_id_mode_needs_a_fresh_chain() -> None:
    chained = {"previous_response_id": "resp_old", "input": [NEW]}
    problems = check_continuation(OUTPUT, chained, mode="previous_response_id")
    assert _codes(problems) == [
        ("continuation_chained", "$.previous_response_id"),
        ("continuation_window", "$.input[0]"),
    ]
    assert problems[0].message == (
        "the next request continues the old chain (previous_response_id 'resp_old') instead of a fresh chain: "
        "everything before the compact step is sent again"
    )
    # Chaining from the old response while also resending the compacted window is still wrong.
    both = {"previous_response_id": "resp_old", "input": [*OUTPUT, NEW]}
    assert _codes(check_continuation(OUTPUT, both, mode="previous_response_id")) == [
        ("continuation_chained", "$.previous_response_id")
    ]


def test_conversation_mode_needs_a_fresh_conversation() -> None:
    before = {"conversation": "conv_old", "input": [NEW]}
    fresh = {"conversation": {"id": "conv_new"}, "input": [*OUTPUT, NEW]}
    assert check_continuation(OUTPUT, fresh, mode="conversation", previous_request=before) == []
    reused = {"conversation": "conv_old", "input": [*OUTPUT, NEW]}
    problems = check_continuation(OUTPUT, reused, mode="conversation", previous_request=before)
    assert [(p.code, p.message) for p in problems] == [
        (
            "continuation_same_conversation",
            "the next request reuses conversation 'conv_old' from before the compact step: expected a fresh "
            "conversation built from the compacted window",
        )
    ]
    assert _codes(check_continuation(OUTPUT, {"input": [*OUTPUT, NEW]}, mode="conversation")) == [
        ("continuation_no_conversation", "$.conversation")
    ]


def test_conversation_seeded_with_the_window_is_checked_through_context() -> None:
    # The driver created conv_new with the compacted items; the request only carries the new message.
    request = {"conversation": "conv_new", "input": [NEW]}
    assert _codes(check_continuation(OUTPUT, request, mode="conversation")) == [("continuation_window", "$.input[0]")]
    assert check_continuation(OUTPUT, request, mode="conversation", context=[*OUTPUT, NEW]) == []
    problems = check_continuation(OUTPUT, request, mode="conversation", context=[*OLD_HISTORY, *OUTPUT, NEW])
    assert _codes(problems) == [("continuation_window", "$.context[1]")]  # old "Hi" matches the kept one


INLINE_RESPONSE: dict[str, Any] = {
    "id": "resp_2",
    "object": "response",
    "conversation": {"id": "conv_1"},
    "output": [
        {"type": "message", "id": "msg_a", "role": "assistant", "content": [{"type": "output_text", "text": "Ok"}]},
        {"type": "compaction", "id": "cmp_inline", "encrypted_content": "gAAAA-inline"},
    ],
    "usage": {"input_tokens": 900, "output_tokens": 100, "total_tokens": 1000},
}


def test_inline_compaction_checks() -> None:
    assert check_inline_compaction(INLINE_RESPONSE) == []
    two = {**INLINE_RESPONSE, "output": [*INLINE_RESPONSE["output"], {**INLINE_RESPONSE["output"][1], "id": "cmp_x"}]}
    assert [(p.code, p.message) for p in check_inline_compaction(two)] == [
        ("compaction_count", "expected one compaction item in output, found 2 (at $.output[1], $.output[2])")
    ]
    bad = {
        **INLINE_RESPONSE,
        "output": [{"type": "compaction", "id": "x1", "encrypted_content": ""}],
        "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 3},
    }
    assert _codes(check_inline_compaction(bad)) == [
        ("encrypted_content_empty", "$.output[0].encrypted_content"),
        ("compaction_id", "$.output[0].id"),
        ("usage_inconsistent", "$.usage.total_tokens"),
    ]
    none = {**INLINE_RESPONSE, "output": INLINE_RESPONSE["output"][:1]}
    assert _codes(check_inline_compaction(none)) == [("compaction_missing", "$.output")]


def test_inline_continuation_manual_responses() -> None:
    item = INLINE_RESPONSE["output"][1]
    # Old items may precede the compaction item: the server drops them.
    assert (
        check_inline_continuation(INLINE_RESPONSE, {"input": [*OLD_HISTORY, item, NEW]}, mode="manual_responses") == []
    )
    assert check_inline_continuation(INLINE_RESPONSE, {"input": [item, NEW]}, mode="manual_responses") == []
    stale = {"input": [CMP, *OLD_HISTORY, NEW]}
    problems = check_inline_continuation(INLINE_RESPONSE, stale, mode="manual_responses")
    assert [(p.code, p.path, p.message) for p in problems] == [
        (
            "continuation_window",
            "$.input[0]",
            "the next window does not start from compaction item cmp_inline emitted by response 'resp_2': "
            "the latest is compaction item cmp_1",
        )
    ]


def test_inline_continuation_server_held_modes() -> None:
    assert (
        check_inline_continuation(INLINE_RESPONSE, {"previous_response_id": "resp_2"}, mode="previous_response_id")
        == []
    )
    problems = check_inline_continuation(
        INLINE_RESPONSE, {"previous_response_id": "resp_1"}, mode="previous_response_id"
    )
    assert [(p.code, p.message) for p in problems] == [
        (
            "continuation_chain_broken",
            "the next request should chain from 'resp_2', which holds the compaction item; got previous_response_id "
            "'resp_1'",
        )
    ]
    assert check_inline_continuation(INLINE_RESPONSE, {"conversation": "conv_1"}, mode="conversation") == []
    assert _codes(check_inline_continuation(INLINE_RESPONSE, {"conversation": "conv_9"}, mode="conversation")) == [
        ("continuation_same_conversation", "$.conversation")
    ]
    # The rebuilt context, when given, must hold the item too.
    assert _codes(
        check_inline_continuation(
            INLINE_RESPONSE, {"previous_response_id": "resp_2"}, mode="previous_response_id", context=[NEW]
        )
    ) == [("continuation_window", "$.context")]
