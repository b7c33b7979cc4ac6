"""check_compaction_expectations on hand-built scenarios and transcripts."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from convotest.compaction import check_compaction_expectations
from convotest.errors import SourceLoc
from convotest.failures import Failure
from convotest.scenario.model import CompactionExpect, Expect, Message, Scenario, ServerCompaction, Turn
from convotest.transcript import ContextItem, Exchange, Transcript, TurnRecord, Usage

F = "trip.convo.yaml"


def _msg(role: str, text: str) -> dict[str, Any]:
    kind = "input_text" if role == "user" else "output_text"
    return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}


U1, U2, U3 = ({"role": "user", "content": t} for t in ("Plan a trip to Lyon.", "In May.", "Book it."))
A1, A2, A3 = (_msg("assistant", t) for t in ("When?", "May is sunny.", "Booked."))
CMP = {"type": "compaction", "id": "cmp_abc", "encrypted_content": "gAAAA"}
COMPACTED: dict[str, Any] = {
    "id": "resp_c",
    "object": "response.compaction",
    "created_at": 1,
    "output": [_msg("user", "Plan a trip to Lyon."), _msg("user", "In May."), CMP],
    "usage": {"input_tokens": 60, "output_tokens": 40, "total_tokens": 100},
}


def _usage(inp: int, out: int) -> Usage:
    return Usage(input_tokens=inp, output_tokens=out, total_tokens=inp + out)


def _record(
    index: int,
    turn: int,
    request: dict[str, Any],
    response: dict[str, Any] | None,
    *,
    endpoint: str = "responses",
    usage: Usage | None = None,
    context: list[ContextItem] | None = None,
) -> TurnRecord:
    path = "/v1/responses/compact" if endpoint == "compact" else "/v1/responses"
    exchange = Exchange(index=index, method="POST", path=path, request=request, response=response, turn=turn)
    return TurnRecord(
        index=index,
        endpoint=endpoint,  # type: ignore[arg-type]
        turn=turn,
        exchange=exchange,
        request=request,
        response=response,
        http_status=200 if response is not None else 500,
        context=context or [],
        instructions=None,
        reply=None,
        status="completed",
        output_items=list(response.get("output", [])) if response else [],
        usage=usage,
        model="gpt-4.1",
        carried_by=endpoint,
    )


def _resp(rid: str, item: dict[str, Any], conv: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": rid, "object": "response", "output": [item]}
    if conv:
        body["conversation"] = {"id": conv}
    return body


def _scenario(compaction: CompactionExpect | None = None, locs: dict[str, SourceLoc] | None = None) -> Scenario:
    expect = Expect(compaction=compaction, locs=locs or {}) if compaction else None
    turns = (
        Turn(0, "user", (Message("user", "Plan a trip to Lyon."),), loc=SourceLoc(F, 5)),
        Turn(1, "user", (Message("user", "In May."),), loc=SourceLoc(F, 6)),
        Turn(2, "compact", expect=expect, loc=SourceLoc(F, 7)),
        Turn(3, "user", (Message("user", "Book it."),), loc=SourceLoc(F, 12)),
    )
    return Scenario("trip", F, "gpt-4.1", turns, ("manual_responses",))


def _manual(compacted: dict[str, Any] | None = None, next_input: list[Any] | None = None) -> Transcript:
    compacted = COMPACTED if compacted is None else compacted
    records = [
        _record(0, 0, {"input": [U1], "store": False}, _resp("resp_1", A1), usage=_usage(20, 5)),
        _record(1, 1, {"input": [U1, A1, U2], "store": False}, _resp("resp_2", A2), usage=_usage(50, 8)),
        _record(2, 2, {"input": [U1, A1, U2, A2]}, compacted, endpoint="compact", usage=_usage(60, 40)),
        _record(
            3,
            3,
            {"input": next_input if next_input is not None else [*compacted["output"], U3], "store": False},
            _resp("resp_3", A3),
            usage=_usage(45, 4),
        ),
    ]
    return Transcript(records, [r.exchange for r in records], "trip", "manual_responses")


def test_clean_run_has_no_failures() -> None:
    full = CompactionExpect(user_messages_verbatim=True, compaction_items=1, input_tokens_after_max=45)
    assert check_compaction_expectations(_scenario(full), "manual_responses", _manual()) == []
    assert check_compaction_expectations(_scenario(), "manual_responses", _manual()) == []


def test_driver_that_forgets_the_compacted_window_fails_continuation() -> None:
    transcript = _manual(next_input=[U1, A1, U2, A2, U3])
    assert check_compaction_expectations(_scenario(), "manual_responses", transcript) == [
        Failure(
            "compaction.continuation",
            "after the compaction at turn 3: $.input[0]: the next request does not carry the compacted window: "
            "compaction item cmp_abc is not in it (it starts with user message 'Plan a trip to Lyon.')",
            turn=3,
            mode="manual_responses",
            loc=SourceLoc(F, 12),
        )
    ]


def test_input_tokens_after_max_uses_first_call_after_and_key_loc() -> None:
    locs = {"compaction.input_tokens_after_max": SourceLoc(F, 10, 9)}
    scenario = _scenario(CompactionExpect(input_tokens_after_max=40), locs)
    (failure,) = check_compaction_expectations(scenario, "manual_responses", _manual())
    assert failure == Failure(
        "compaction.input_tokens_after_max",
        "input tokens after compaction: 45 > max 40 (first call after the compact step; 50 before it)",
        turn=2,
        mode="manual_responses",
        loc=SourceLoc(F, 10, 9),
    )
    assert failure.headline() == (
        "trip.convo.yaml:10: turn 3 [manual_responses]: input tokens after compaction: 45 > max 40 "
        "(first call after the compact step; 50 before it)"
    )


def test_input_tokens_after_max_without_a_later_call() -> None:
    transcript = _manual()
    transcript.turns = transcript.turns[:3]
    failures = check_compaction_expectations(
        _scenario(CompactionExpect(input_tokens_after_max=40)), "manual_responses", transcript
    )
    assert [(f.check, f.message, f.loc) for f in failures] == [
        ("compaction.input_tokens_after_max", "no model call after the compact step to measure", SourceLoc(F, 7))
    ]


def test_compaction_items_count() -> None:
    locs = {"compaction.compaction_items": SourceLoc(F, 9)}
    failures = check_compaction_expectations(
        _scenario(CompactionExpect(compaction_items=2), locs), "manual_responses", _manual()
    )
    assert [(f.check, f.message, f.loc) for f in failures] == [
        (
            "compaction.compaction_items",
            "expected 2 compaction item(s) in the compact output, got 1",
            SourceLoc(F, 9),
        )
    ]


def test_edited_user_message_and_verbatim_switch() -> None:
    edited = copy.deepcopy(COMPACTED)
    edited["output"][1]["content"][0]["text"] = "In June."
    locs = {"compaction.user_messages_verbatim": SourceLoc(F, 8)}
    failures = check_compaction_expectations(
        _scenario(CompactionExpect(user_messages_verbatim=True), locs), "manual_responses", _manual(edited)
    )
    assert [(f.check, f.message, f.turn, f.loc) for f in failures] == [
        (
            "compaction.user_messages_verbatim",
            "compact output at $.output[1].content[0].text: user message 2 of the window was changed: "
            "expected 'In May.', got 'In June.'",
            2,
            SourceLoc(F, 8),
        )
    ]
    # On by default; `user_messages_verbatim: false` turns it off.
    assert len(check_compaction_expectations(_scenario(), "manual_responses", _manual(edited))) == 1
    off = _scenario(CompactionExpect(user_messages_verbatim=False))
    assert check_compaction_expectations(off, "manual_responses", _manual(edited)) == []


def test_partial_window_does_not_report_extra_user_messages() -> None:
    # compact(previous_response_id=…) on a chain begun before the traffic: the window lacks its start.
    transcript = _manual()
    transcript.turns[2].request = {"previous_response_id": "resp_0", "input": []}
    transcript.turns[2].context = [ContextItem("message", "user", "In May.", raw=U2)]
    transcript.turns[2].partial = True
    assert check_compaction_expectations(_scenario(), "manual_responses", transcript) == []
    transcript.turns[2].partial = False
    (failure,) = check_compaction_expectations(_scenario(), "manual_responses", transcript)
    assert (failure.check, failure.message) == (
        "compaction.user_messages_verbatim",
        "compact output at $.output[0]: user message not in the window: 'Plan a trip to Lyon.'",
    )


def test_shape_problem_uses_turn_loc() -> None:
    leftover = copy.deepcopy(COMPACTED)
    leftover["output"].insert(1, A1)
    failures = check_compaction_expectations(_scenario(), "manual_responses", _manual(leftover))
    assert [(f.check, f.message, f.loc) for f in failures] == [
        (
            "compaction.shape",
            "compact output at $.output[1]: assistant message left in the compacted output: expected only user "
            "messages and one compaction item",
            SourceLoc(F, 7),
        )
    ]


def test_failed_compact_call() -> None:
    transcript = _manual()
    transcript.turns[2] = _record(2, 2, {"input": [U1]}, None, endpoint="compact")
    failures = check_compaction_expectations(_scenario(), "manual_responses", transcript)
    assert [(f.check, f.message) for f in failures] == [
        ("compaction.shape", "compact step returned no response (HTTP 500)")
    ]


GATEWAY_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["object", "output"],
    "properties": {
        "object": {"const": "response.compaction"},
        "output": {"type": "array", "items": {"type": "object", "required": ["type"]}},
    },
}


def test_user_schema_path_is_relative_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "gateway.json").write_text(json.dumps(GATEWAY_SCHEMA), encoding="utf-8")
    gateway = copy.deepcopy(COMPACTED)
    gateway["output"][2] = {"type": "compaction_summary", "summary": "Lyon in May."}
    del gateway["usage"]
    base = _scenario(CompactionExpect(schema="schemas/gateway.json"))
    scenario = Scenario(base.name, str(tmp_path / F), base.model, base.turns, base.modes)
    assert check_compaction_expectations(scenario, "manual_responses", _manual(gateway)) == []
    # Without the user schema the built-in shape rejects the gateway's output.
    checks = [f.check for f in check_compaction_expectations(_scenario(), "manual_responses", _manual(gateway))]
    assert checks == ["compaction.shape", "compaction.compaction_items", "compaction.shape"]
    gateway["object"] = "compaction"
    (failure,) = check_compaction_expectations(scenario, "manual_responses", _manual(gateway))
    assert (failure.check, failure.message) == (
        "compaction.schema",
        "compact output at $.object: does not match the schema: 'response.compaction' was expected",
    )


def test_unreadable_user_schema(tmp_path: Path) -> None:
    locs = {"compaction.schema": SourceLoc(F, 11)}
    base = _scenario(CompactionExpect(schema="missing.json"), locs)
    scenario = Scenario(base.name, str(tmp_path / F), base.model, base.turns, base.modes)
    failures = check_compaction_expectations(scenario, "manual_responses", _manual())
    assert [(f.check, f.loc) for f in failures] == [("compaction.schema", SourceLoc(F, 11))]
    assert failures[0].message.startswith(f"cannot read compaction schema '{tmp_path / 'missing.json'}': ")
    (tmp_path / "bad.json").write_text('{"type": 12}', encoding="utf-8")
    bad = Scenario(
        base.name, str(tmp_path / F), base.model, _scenario(CompactionExpect(schema="bad.json")).turns, base.modes
    )
    (failure,) = check_compaction_expectations(bad, "manual_responses", _manual())
    assert failure.message.startswith(f"compaction schema '{tmp_path / 'bad.json'}' is not a valid JSON Schema: ")


def _context(items: list[dict[str, Any]]) -> list[ContextItem]:
    out = []
    for it in items:
        if it.get("type") == "compaction":
            out.append(ContextItem("compaction", raw=it))
        else:
            content = it["content"]
            text = content if isinstance(content, str) else content[0]["text"]
            out.append(ContextItem("message", it["role"], text, raw=it))
    return out


@pytest.mark.parametrize(("conv", "expected"), [("conv_2", []), ("conv_1", ["continuation_same_conversation"])])
def test_conversation_mode_continuation_through_the_rebuilt_context(conv: str, expected: list[str]) -> None:
    # The driver seeds a new conversation with the compacted items, then sends only the new message.
    seen = [*COMPACTED["output"], U3] if conv == "conv_2" else [U1, A1, U2, A2, *COMPACTED["output"], U3]
    records = [
        _record(0, 1, {"conversation": "conv_1", "input": [U2]}, _resp("resp_2", A2, "conv_1"), usage=_usage(50, 8)),
        _record(1, 2, {"input": [U1, A1, U2, A2]}, COMPACTED, endpoint="compact", usage=_usage(60, 40)),
        _record(2, 3, {"conversation": conv, "input": [U3]}, _resp("resp_3", A3, conv), context=_context(seen)),
    ]
    transcript = Transcript(records, [r.exchange for r in records])
    failures = check_compaction_expectations(_scenario(), "conversation", transcript)
    assert all(f.check == "compaction.continuation" for f in failures)
    if expected:
        assert failures[0].message == (
            "after the compaction at turn 3: $.conversation: the next request reuses conversation 'conv_1' from "
            "before the compact step: expected a fresh conversation built from the compacted window"
        )
        assert failures[1].message.startswith("after the compaction at turn 3: $.context[1]: ")
        assert len(failures) == 2
    else:
        assert failures == []


def test_server_side_compaction_in_a_chain() -> None:
    inline: dict[str, Any] = {
        "id": "resp_2",
        "object": "response",
        "output": [A2, {"type": "compaction", "id": "cmp_inline", "encrypted_content": "gAAAA"}],
        "usage": {"input_tokens": 1200, "output_tokens": 50, "total_tokens": 1250},
    }
    base = _scenario()
    scenario = Scenario(
        base.name, F, base.model, base.turns, ("previous_response_id",), server_compaction=ServerCompaction(1000)
    )

    def run(prev: str, item: dict[str, Any]) -> list[Failure]:
        response = {**inline, "output": [A2, item]}
        records = [
            _record(0, 0, {"input": [U1]}, _resp("resp_1", A1)),
            _record(1, 1, {"previous_response_id": "resp_1", "input": [U2]}, response),
            _record(2, 3, {"previous_response_id": prev, "input": [U3]}, _resp("resp_3", A3)),
        ]
        return check_compaction_expectations(scenario, "previous_response_id", Transcript(records, []))

    good = inline["output"][1]
    assert run("resp_2", good) == []
    assert [(f.check, f.turn, f.loc, f.message) for f in run("resp_1", good)] == [
        (
            "compaction.continuation",
            3,
            SourceLoc(F, 12),
            "after the compaction at turn 2: $.previous_response_id: the next request should chain from 'resp_2', "
            "which holds the compaction item; got previous_response_id 'resp_1'",
        )
    ]
    empty = {**good, "encrypted_content": ""}
    assert [(f.check, f.turn, f.loc, f.message) for f in run("resp_2", empty)] == [
        (
            "compaction.inline",
            1,
            SourceLoc(F, 6),
            "server-side compaction output at $.output[1].encrypted_content: compaction item has no "
            "encrypted_content: expected a non-empty string, got ''",
        )
    ]
