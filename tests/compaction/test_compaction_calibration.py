"""check_compaction against real compact responses from ../shared/calibration, and mutations of them.

The calibration files are read in place (never copied into the repo); every test skips when they are absent.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from convotest.compaction import (
    check_compaction,
    check_continuation,
    check_inline_compaction,
    check_inline_continuation,
)

CALIBRATION = Path(__file__).resolve().parents[2].parent / "shared" / "calibration"
CASSETTES = CALIBRATION / "cassettes"
PREFIX = "pydantic__pydantic-ai__tests__models__cassettes__test_openai_responses__"
COMPACT = PREFIX + "test_openai_responses_compact_messages.yaml"
STATEFUL = PREFIX + "test_openai_responses_compact_stateful_mode.yaml"


def _body(part: dict[str, Any]) -> Any:
    # pydantic-ai stores bodies as a parsed mapping; plain vcrpy as a JSON string under body.string.
    if "parsed_body" in part:
        return part["parsed_body"]
    raw = part.get("body")
    raw = raw.get("string") if isinstance(raw, dict) else raw
    return json.loads(raw) if raw else None


def _interactions(name: str) -> list[dict[str, Any]]:
    """Each interaction as {uri, request, response} with parsed bodies."""
    path = CASSETTES / name
    if not path.is_file():
        pytest.skip(f"calibration cassette not available: {path}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        {"uri": it["request"]["uri"], "request": _body(it["request"]), "response": _body(it["response"])}
        for it in data["interactions"]
    ]


@pytest.fixture(scope="module")
def compact_step() -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """(window sent to /responses/compact, its response, the request after it)."""
    its = _interactions(COMPACT)
    at = next(i for i, it in enumerate(its) if it["uri"].endswith("/responses/compact"))
    return its[at]["request"]["input"], its[at]["response"], its[at + 1]["request"]


def _problems(window: list[dict[str, Any]], compacted: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(p.code, p.path, p.message) for p in check_compaction(window, compacted)]


def test_real_compact_response_is_accepted(compact_step: Any) -> None:
    window, compacted, _ = compact_step
    # Guard against a reader that returns something trivially valid.
    assert [o["type"] for o in compacted["output"]] == ["message", "message", "compaction"]
    assert [m["role"] for m in window] == ["user", "assistant", "user", "assistant"]
    assert check_compaction(window, compacted) == []


def test_real_compact_response_accepted_with_typed_window(compact_step: Any) -> None:
    window, compacted, _ = compact_step
    typed = [
        {"type": "message", "role": m["role"], "content": [{"type": "input_text", "text": m["content"]}]}
        for m in window
    ]
    assert check_compaction(typed, compacted) == []


def _assistant_left(out: list[dict[str, Any]]) -> None:
    out.insert(
        1,
        {
            "type": "message",
            "id": "msg_0fe7",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "2 + 2 = 4.", "annotations": []}],
        },
    )


def _two_compactions(out: list[dict[str, Any]]) -> None:
    out.append({**out[-1], "id": "cmp_second"})


def _not_last(out: list[dict[str, Any]]) -> None:
    out.insert(1, out.pop())


def _edited(out: list[dict[str, Any]]) -> None:
    out[1]["content"][0]["text"] = "And 4+4?"


def _dropped(out: list[dict[str, Any]]) -> None:
    del out[0]


def _empty_content(out: list[dict[str, Any]]) -> None:
    out[-1]["encrypted_content"] = ""


def _renamed(out: list[dict[str, Any]]) -> None:
    out[-1]["type"] = "compaction_summary"


MUTATIONS = [
    pytest.param(
        _assistant_left,
        [
            (
                "leftover_item",
                "$.output[1]",
                "assistant message left in the compacted output: expected only user messages and one compaction item",
            )
        ],
        id="assistant-message-left-in",
    ),
    pytest.param(
        _two_compactions,
        [
            (
                "compaction_count",
                "$.output",
                "expected exactly one compaction item, found 2 (at $.output[2], $.output[3])",
            )
        ],
        id="two-compaction-items",
    ),
    pytest.param(
        _not_last,
        [
            (
                "compaction_not_last",
                "$.output[1]",
                "compaction item is at index 1 of 3 items; expected it last (index 2), followed here by "
                "user message 'And 3+3?'",
            )
        ],
        id="compaction-not-last",
    ),
    pytest.param(
        _edited,
        [
            (
                "user_message_edited",
                "$.output[1].content[0].text",
                "user message 2 of the window was changed: expected 'And 3+3?', got 'And 4+4?'",
            )
        ],
        id="edited-user-message",
    ),
    pytest.param(
        _dropped,
        [("user_message_missing", "$.output[0]", "user message 1 of the window is missing: expected 'What is 2+2?'")],
        id="dropped-user-message",
    ),
    pytest.param(
        _empty_content,
        [
            (
                "encrypted_content_empty",
                "$.output[2].encrypted_content",
                "compaction item has no encrypted_content: expected a non-empty string, got ''",
            )
        ],
        id="empty-encrypted-content",
    ),
    pytest.param(
        _renamed,
        [
            (
                "unknown_item_type",
                "$.output[2].type",
                "unexpected item type 'compaction_summary': expected 'message' (user) or 'compaction'",
            ),
            ("compaction_missing", "$.output", "expected exactly one compaction item at the end of output, found none"),
        ],
        id="renamed-compaction-summary",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), MUTATIONS)
def test_mutations_of_real_response_are_rejected(
    compact_step: Any, mutate: Any, expected: list[tuple[str, str, str]]
) -> None:
    window, compacted, _ = compact_step
    mutated = copy.deepcopy(compacted)
    mutate(mutated["output"])
    assert _problems(window, mutated) == expected
    # The fixture itself is untouched, so every mutation starts from the real response.
    assert check_compaction(window, compacted) == []


def test_problem_carries_expected_and_actual(compact_step: Any) -> None:
    window, compacted, _ = compact_step
    mutated = copy.deepcopy(compacted)
    _edited(mutated["output"])
    (problem,) = check_compaction(window, mutated)
    assert (problem.expected, problem.actual) == ("And 3+3?", "And 4+4?")
    assert str(problem) == (
        "$.output[1].content[0].text: user message 2 of the window was changed: expected 'And 3+3?', got 'And 4+4?'"
    )


def test_real_continuation_sends_only_the_compaction_item(compact_step: Any) -> None:
    # pydantic-ai feeds back the compaction item without the user messages the compact step kept.
    _, compacted, next_request = compact_step
    problems = check_continuation(compacted["output"], next_request, mode="manual_responses")
    assert [(p.code, p.path) for p in problems] == [("continuation_user_messages_dropped", "$.input[0]")]
    assert problems[0].message.startswith(
        "the next request sends the compaction item but not the 2 user message(s) the compact step kept: "
        "expected user message 'What is 2+2?' first, got compaction item cmp_0fe74db1"
    )
    full = {**next_request, "input": [*compacted["output"], *next_request["input"][1:]]}
    assert check_continuation(compacted["output"], full, mode="manual_responses") == []


@pytest.fixture(scope="module")
def inline_step() -> tuple[dict[str, Any], dict[str, Any]]:
    """(the response that emitted a compaction item inline, the request after it)."""
    its = _interactions(STATEFUL)
    at = next(
        i for i, it in enumerate(its) if any(o.get("type") == "compaction" for o in it["response"].get("output", []))
    )
    return its[at]["response"], its[at + 1]["request"]


def test_real_inline_compaction_is_accepted(inline_step: Any) -> None:
    response, next_request = inline_step
    assert [o["type"] for o in response["output"]] == ["message", "compaction"]
    assert check_inline_compaction(response) == []
    # pydantic-ai resends the old history before the compaction item; the server drops it.
    assert check_inline_continuation(response, next_request, mode="manual_responses") == []


def test_real_inline_continuation_without_the_item_is_rejected(inline_step: Any) -> None:
    response, next_request = inline_step
    forgot = {**next_request, "input": [i for i in next_request["input"] if i.get("type") != "compaction"]}
    problems = check_inline_continuation(response, forgot, mode="manual_responses")
    assert [(p.code, p.path) for p in problems] == [("continuation_window", "$.input")]
    assert problems[0].message == (
        "the next window does not start from compaction item cmp_0b0c928ec0ba401f0069e0256e19388193b74237b70aeed0f5 "
        "emitted by response 'resp_0b0c928ec0ba401f0069e02561a8f08193b3a4eb469dd1efbb': none is sent"
    )


def test_real_inline_compaction_empty_content_is_rejected(inline_step: Any) -> None:
    response, _ = inline_step
    mutated = copy.deepcopy(response)
    mutated["output"][1]["encrypted_content"] = ""
    assert [(p.code, p.path) for p in check_inline_compaction(mutated)] == [
        ("encrypted_content_empty", "$.output[1].encrypted_content")
    ]
