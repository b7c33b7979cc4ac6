"""check_compaction and the shipped schemas on hand-built compact responses."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest

from convotest.compaction import Problem, check_compaction, item_schema, response_schema

WINDOW: list[dict[str, Any]] = [
    {"role": "user", "content": "Plan a trip to Lyon."},
    {"role": "assistant", "content": "Sure, when?"},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "In May."}]},
    {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "enc"},
    {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "weather", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    {"role": "assistant", "content": "May is sunny."},
]


def _user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def _good() -> dict[str, Any]:
    return {
        "id": "resp_abc",
        "object": "response.compaction",
        "created_at": 1775105412,
        "output": [
            _user("Plan a trip to Lyon."),
            _user("In May."),
            {"type": "compaction", "id": "cmp_123abc", "encrypted_content": "gAAAA"},
        ],
        "usage": {"input_tokens": 120, "output_tokens": 80, "total_tokens": 200},
    }


def _codes(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(p.code, p.path) for p in problems]


def test_shipped_schemas_are_draft_2020_12_and_loadable() -> None:
    for schema in (response_schema(), item_schema()):
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)
    assert set(response_schema()["required"]) == {"id", "object", "created_at", "output", "usage"}
    assert item_schema()["properties"]["type"] == {"const": "compaction"}
    # Loaders return fresh copies: a caller editing one cannot corrupt the next check.
    response_schema()["required"].clear()
    assert check_compaction(WINDOW, _good()) == []


def test_hand_built_good_response_is_accepted() -> None:
    assert check_compaction(WINDOW, _good()) == []


@pytest.mark.parametrize(
    ("item", "name"),
    [
        ({"type": "reasoning", "id": "rs_1", "summary": []}, "reasoning item"),
        ({"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}, "function call"),
        ({"type": "function_call_output", "call_id": "c", "output": "x"}, "function call output"),
        ({"type": "web_search_call", "id": "ws_1", "status": "completed"}, "web_search_call item"),
        ({"role": "assistant", "content": "May is sunny."}, "assistant message"),
    ],
)
def test_leftover_items_are_named(item: dict[str, Any], name: str) -> None:
    compacted = _good()
    compacted["output"].insert(2, item)
    (problem,) = check_compaction(WINDOW, compacted)
    assert (problem.code, problem.path) == ("leftover_item", "$.output[2]")
    assert problem.message == (
        f"{name} left in the compacted output: expected only user messages and one compaction item"
    )


def test_bad_compaction_id_and_missing_content() -> None:
    compacted = _good()
    compacted["output"][2] = {"type": "compaction", "id": "summary_1"}
    problems = check_compaction(WINDOW, compacted)
    assert [(p.code, p.path, p.message) for p in problems] == [
        (
            "encrypted_content_empty",
            "$.output[2].encrypted_content",
            "compaction item has no encrypted_content: expected a non-empty string, got nothing (field absent)",
        ),
        ("compaction_id", "$.output[2].id", "compaction item id should look like 'cmp_…', got 'summary_1'"),
    ]


def test_usage_missing_and_inconsistent() -> None:
    compacted = _good()
    del compacted["usage"]
    assert [(p.code, p.path) for p in check_compaction(WINDOW, compacted)] == [("usage_missing", "$.usage")]
    compacted = _good()
    compacted["usage"]["total_tokens"] = 150
    (problem,) = check_compaction(WINDOW, compacted)
    assert problem.code == "usage_inconsistent"
    assert str(problem) == (
        "$.usage.total_tokens: usage.total_tokens is 150, expected input_tokens + output_tokens = 120 + 80 = 200"
    )
    assert (problem.expected, problem.actual) == (200, 150)


def test_schema_problems_point_at_the_field() -> None:
    compacted = _good()
    compacted["object"] = "response"
    compacted["created_at"] = "yesterday"
    del compacted["id"]
    problems = check_compaction(WINDOW, compacted)
    assert _codes(problems) == [("schema", "$.id"), ("schema", "$.created_at"), ("schema", "$.object")]
    assert problems[2].message == "does not match the schema: 'response.compaction' was expected"
    assert problems[2].actual == "response"


def test_user_messages_extra_and_out_of_order() -> None:
    compacted = _good()
    compacted["output"].insert(0, _user("Hello?"))
    assert [(p.code, p.path, p.message) for p in check_compaction(WINDOW, compacted)] == [
        ("user_message_extra", "$.output[0]", "user message not in the window: 'Hello?'")
    ]
    compacted = _good()
    out = compacted["output"]
    out[0], out[1] = out[1], out[0]
    problems = check_compaction(WINDOW, compacted)
    assert _codes(problems) == [("user_message_order", "$.output[0]")]
    assert problems[0].message == "user message 2 of the window is out of order: 'In May.' is at output position 0"


def test_short_form_output_messages_compare_by_text() -> None:
    compacted = _good()
    compacted["output"][0] = {"type": "message", "role": "user", "content": "Plan a trip to Lyon."}
    assert check_compaction(WINDOW, compacted) == []
    compacted["output"][0]["content"] = "Plan a trip to Lyon!"
    (problem,) = check_compaction(WINDOW, compacted)
    assert (problem.code, problem.path) == ("user_message_edited", "$.output[0].content")


def test_user_schema_replaces_builtin_for_gateway_shapes() -> None:
    gateway = copy.deepcopy(_good())
    gateway["output"][2] = {"type": "compaction_summary", "summary": "User plans Lyon in May."}
    del gateway["usage"]
    user_schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["output"],
        "properties": {
            "output": {
                "type": "array",
                "items": {"type": "object", "required": ["type"]},
            }
        },
    }
    assert _codes(check_compaction(WINDOW, gateway)) == [
        ("unknown_item_type", "$.output[2].type"),
        ("compaction_missing", "$.output"),
        ("usage_missing", "$.usage"),
    ]
    assert check_compaction(WINDOW, gateway, schema=user_schema) == []
    # Content checks still run under a user schema.
    gateway["output"].insert(1, {"role": "assistant", "content": "Sure, when?"})
    assert _codes(check_compaction(WINDOW, gateway, schema=user_schema)) == [("leftover_item", "$.output[1]")]
    # And the user schema is enforced.
    strict = {**user_schema, "required": ["output", "usage"]}
    problems = check_compaction(WINDOW, {"output": gateway["output"][:1]}, schema=strict)
    assert [(p.code, p.path) for p in problems if p.code == "schema"] == [("schema", "$.usage")]


def test_not_a_mapping_or_no_output() -> None:
    assert _codes(check_compaction(WINDOW, [])) == [("schema", "$")]  # type: ignore[arg-type]
    problems = check_compaction(WINDOW, {"object": "response.compaction", "output": "x"})
    assert ("schema", "$.output") in _codes(problems)


def test_string_window_is_one_user_message() -> None:
    compacted = _good()
    compacted["output"] = [_user("Plan a trip to Lyon."), compacted["output"][2]]
    assert check_compaction("Plan a trip to Lyon.", compacted) == []  # type: ignore[arg-type]
