"""build_transcript on hand-built traffic, one group of tests per state mode."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from reconstruct_helpers import (
    chat,
    compaction,
    other,
    out_msg,
    reasoning,
    resp,
    responses_usage,
    typed_user,
    user,
)

from convotest import reconstruct
from convotest.reconstruct import build_transcript
from convotest.transcript import Exchange, TurnRecord, Usage


def ctx(rec: TurnRecord) -> list[tuple[str, str | None, str | None]]:
    return [(c.kind, c.role, c.text) for c in rec.context]


# ------------------------------------------------------------------------------------------ chat


def test_manual_chat_system_message_is_instructions_and_context_excludes_it() -> None:
    sys_msg = {"role": "system", "content": "Be brief."}
    h1 = [sys_msg, {"role": "user", "content": "My favourite fruit is orange."}]
    h2 = [*h1, {"role": "assistant", "content": "Noted."}, {"role": "user", "content": "What is it?"}]
    t = build_transcript([chat(0, h1, "Noted.", turn=0), chat(1, h2, "Orange.", turn=1)])
    assert [r.endpoint for r in t.turns] == ["chat", "chat"]
    assert [r.carried_by for r in t.turns] == ["manual_chat", "manual_chat"]
    assert t.turns[1].instructions == "Be brief."
    assert ctx(t.turns[1]) == [
        ("message", "user", "My favourite fruit is orange."),
        ("message", "assistant", "Noted."),
        ("message", "user", "What is it?"),
    ]
    assert t.turns[1].reply == "Orange."
    assert t.turns[1].status == "completed"
    assert t.turns[1].usage == Usage(input_tokens=20, output_tokens=4, total_tokens=24, cached_tokens=8)
    assert t.turns[1].model == "gpt-4o-mini"
    assert t.turns[1].output_items == [{"role": "assistant", "content": "Orange.", "refusal": None}]
    assert t.last_for_turn(1) is t.turns[1]
    # the resent history shares ContextItem objects with the earlier turn
    assert t.turns[1].context[0] is t.turns[0].context[0]


def test_chat_only_leading_system_message_is_instructions() -> None:
    msgs = [{"role": "user", "content": "hi"}, {"role": "system", "content": "late system"}]
    rec = build_transcript([chat(0, msgs, "ok")]).turns[0]
    assert rec.instructions is None
    assert ctx(rec) == [("message", "user", "hi"), ("message", "system", "late system")]


def test_chat_paths_without_v1_and_under_a_prefix_are_model_calls() -> None:
    msgs = [{"role": "user", "content": "hi"}]
    t = build_transcript(
        [chat(0, msgs, "a", path="/chat/completions"), chat(1, msgs, "b", path="/openai/v1/chat/completions/")]
    )
    assert [r.reply for r in t.turns] == ["a", "b"]


def test_chat_finish_reason_length_is_incomplete() -> None:
    rec = build_transcript([chat(0, [{"role": "user", "content": "x"}], "cut", finish="length")]).turns[0]
    assert rec.status == "incomplete"


def test_chat_stream_is_assembled_from_chunks() -> None:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "event": None,
            "data": {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            },
        }

    events = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo."}),
        chunk({}, "stop"),
        {
            "event": None,
            "data": {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "choices": [],
                "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
            },
        },
        {"event": None, "data": "[DONE]"},
    ]
    ex = Exchange(
        index=0,
        method="POST",
        path="/v1/chat/completions",
        request={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        events=events,
    )
    rec = build_transcript([ex]).turns[0]
    assert rec.streamed is True
    assert rec.reply == "Hello."
    assert rec.status == "completed"
    assert rec.usage == Usage(input_tokens=9, output_tokens=2, total_tokens=11)
    assert rec.response is not None
    assert rec.response["choices"][0]["message"]["content"] == "Hello."


def test_chat_tool_calls_become_function_items() -> None:
    msgs = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"c":"NYC"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
    ]
    rec = build_transcript([chat(0, msgs, "It is sunny.")]).turns[0]
    assert ctx(rec) == [
        ("message", "user", "weather?"),
        ("function_call", None, 'get_weather({"c":"NYC"})'),
        ("function_call_output", None, "Sunny"),
    ]


# ------------------------------------------------------------------------------- manual responses


def test_manual_responses_store_false_keeps_reasoning_and_typed_items() -> None:
    r1, m1 = reasoning("rs_1"), out_msg("Noted.", "msg_1")
    req1 = {"model": "o4-mini", "input": [typed_user("I like oranges.")], "store": False, "instructions": "Be brief."}
    req2 = {
        "model": "o4-mini",
        "input": [typed_user("I like oranges."), r1, m1, user("What do I like?")],
        "store": False,
        "instructions": "Be brief.",
    }
    t = build_transcript([resp(0, req1, [r1, m1], turn=0), resp(1, req2, [out_msg("Oranges.")], turn=1)])
    rec = t.turns[1]
    assert rec.carried_by == "manual_responses"
    assert rec.instructions == "Be brief."
    assert ctx(rec) == [
        ("message", "user", "I like oranges."),
        ("reasoning", None, None),
        ("message", "assistant", "Noted."),
        ("message", "user", "What do I like?"),
    ]
    assert rec.reply == "Oranges."
    assert rec.notes == []
    assert t.turns[0].output_items == [r1, m1]


def test_manual_responses_reasoning_without_encrypted_content_under_store_false_is_noted() -> None:
    r1 = reasoning("rs_9", encrypted=None)
    req = {"model": "o4-mini", "input": [user("a"), r1, out_msg("b"), user("c")], "store": False}
    rec = build_transcript([resp(0, req, [out_msg("d")])]).turns[0]
    assert rec.notes == [
        "reasoning item rs_9 sent under store:false without encrypted_content; the API cannot resolve it "
        "(request include=['reasoning.encrypted_content'])"
    ]


def test_responses_string_input_is_one_user_message() -> None:
    rec = build_transcript([resp(0, {"model": "gpt-4.1", "input": "Hello there"}, [out_msg("Hi")])]).turns[0]
    assert ctx(rec) == [("message", "user", "Hello there")]
    assert rec.usage == Usage(input_tokens=10, output_tokens=5, total_tokens=15)
    assert rec.model == "gpt-4.1"


def test_responses_path_without_v1_is_a_model_call() -> None:
    t = build_transcript([resp(0, {"input": "x"}, [out_msg("y")], path="/responses")])
    assert len(t.turns) == 1 and t.turns[0].endpoint == "responses"


def test_responses_incomplete_status_is_kept() -> None:
    rec = build_transcript([resp(0, {"input": "x"}, [out_msg("y")], status="incomplete")]).turns[0]
    assert rec.status == "incomplete"


def test_output_cut_short_is_incomplete_whatever_else_says_so() -> None:
    """A reason given without the status, or a later choice cut short, mark the call incomplete too."""
    said = resp(0, {"input": "x"}, [out_msg("y")])
    said.response["incomplete_details"] = {"reason": "max_output_tokens"}
    two = chat(1, [{"role": "user", "content": "x"}], "whole")
    two.response["choices"].append(
        {"index": 1, "message": {"role": "assistant", "content": "cu"}, "finish_reason": "length"}
    )
    fine = chat(2, [{"role": "user", "content": "y"}], "whole")
    fine.response["choices"].append(
        {"index": 1, "message": {"role": "assistant", "content": "also"}, "finish_reason": "stop"}
    )
    assert [r.status for r in build_transcript([said, two, fine]).turns] == ["incomplete", "incomplete", "completed"]


# -------------------------------------------------------------------------- previous_response_id


def test_previous_response_id_chain_accumulates_inputs_and_outputs() -> None:
    ins = "Be brief."
    t = build_transcript(
        [
            resp(0, {"input": [user("one")], "instructions": ins}, [out_msg("r1")], rid="resp_a", turn=0),
            resp(
                1,
                {"input": [user("two")], "previous_response_id": "resp_a", "instructions": ins},
                [reasoning("rs_2"), out_msg("r2")],
                rid="resp_b",
                turn=1,
            ),
            resp(
                2,
                {"input": [user("three")], "previous_response_id": "resp_b", "instructions": ins},
                [out_msg("r3")],
                rid="resp_c",
                turn=2,
            ),
        ]
    )
    assert [r.carried_by for r in t.turns] == ["manual_responses", "previous_response_id", "previous_response_id"]
    assert ctx(t.turns[2]) == [
        ("message", "user", "one"),
        ("message", "assistant", "r1"),
        ("message", "user", "two"),
        ("reasoning", None, None),
        ("message", "assistant", "r2"),
        ("message", "user", "three"),
    ]
    assert all(r.notes == [] and not r.partial for r in t.turns)


def test_previous_response_id_unknown_is_partial_with_a_note() -> None:
    rec = build_transcript([resp(0, {"input": [user("two")], "previous_response_id": "resp_zzz"}, [out_msg("x")])])
    r = rec.turns[0]
    assert r.partial is True
    assert ctx(r) == [("message", "user", "two")]
    assert r.notes == [
        "previous_response_id resp_zzz is not in this traffic (the chain starts before it); "
        "the earlier context is missing (partial)"
    ]


def test_previous_response_id_bugs_are_noted() -> None:
    t = build_transcript(
        [
            resp(0, {"input": [user("1")], "instructions": "I", "store": False}, [out_msg("a")], rid="resp_1"),
            resp(1, {"input": [user("2")], "previous_response_id": "resp_1"}, [out_msg("b")], rid="resp_2"),
            resp(2, {"input": [user("3")], "previous_response_id": "resp_1", "instructions": "I"}, [out_msg("c")]),
        ]
    )
    assert t.turns[1].notes == [
        "previous_response_id resp_1 points at a store:false response; the API answers 400 previous_response_not_found",
        "instructions not resent: the previous response had instructions, this call has none "
        "(instructions are not carried over a previous_response_id chain)",
    ]
    assert t.turns[2].notes[-1] == (
        "previous_response_id resp_1 was already continued by resp_2; this call forks the chain and does "
        "not see what came after it"
    )
    # the fork sees turn 1 only, not turn 2
    assert ctx(t.turns[2]) == [("message", "user", "1"), ("message", "assistant", "a"), ("message", "user", "3")]


def test_failed_call_is_recorded_and_not_chainable() -> None:
    t = build_transcript(
        [
            resp(0, {"input": [user("1")]}, None, http=400),
            resp(1, {"input": [user("2")], "previous_response_id": "resp_lost"}, [out_msg("b")]),
        ]
    )
    bad = t.turns[0]
    assert bad.response is None and bad.status is None and bad.reply is None and bad.http_status == 400
    assert bad.notes == ["HTTP 400: boom"]
    assert ctx(bad) == [("message", "user", "1")]
    assert t.turns[1].partial is True


# -------------------------------------------------------------------------------------- conversation


def _conv_create(index: int, cid: str, items: list[dict[str, Any]] | None = None) -> Exchange:
    req: dict[str, Any] = {"items": items} if items else {}
    return other(index, "POST", "/v1/conversations", req, {"id": cid, "object": "conversation"})


def test_conversation_initial_items_responses_added_and_deleted_items() -> None:
    cid = "conv_1"
    added = {
        "type": "message",
        "id": "msg_added",
        "role": "user",
        "content": [{"type": "input_text", "text": "ORCHID"}],
    }
    t = build_transcript(
        [
            _conv_create(0, cid, [{"role": "developer", "content": "Seeded."}]),
            resp(1, {"input": [user("one")], "conversation": cid}, [out_msg("r1", "msg_r1")], turn=0),
            other(2, "POST", f"/v1/conversations/{cid}/items", {"items": [user("ORCHID")]}, {"data": [added]}),
            resp(3, {"input": "two", "conversation": {"id": cid}}, [out_msg("r2", "msg_r2")], turn=1),
            other(4, "DELETE", f"/v1/conversations/{cid}/items/msg_added", None, {"id": cid}),
            other(5, "DELETE", f"/v1/conversations/{cid}/items/msg_r1", None, {"id": cid}),
            resp(6, {"input": [user("three")], "conversation": cid}, [out_msg("r3")], turn=2),
        ]
    )
    assert [r.carried_by for r in t.turns] == ["conversation"] * 3
    assert ctx(t.turns[0]) == [("message", "developer", "Seeded."), ("message", "user", "one")]
    assert ctx(t.turns[1]) == [
        ("message", "developer", "Seeded."),
        ("message", "user", "one"),
        ("message", "assistant", "r1"),
        ("message", "user", "ORCHID"),
        ("message", "user", "two"),
    ]
    assert ctx(t.turns[2]) == [
        ("message", "developer", "Seeded."),
        ("message", "user", "one"),
        ("message", "user", "two"),
        ("message", "assistant", "r2"),
        ("message", "user", "three"),
    ]
    assert all(not r.partial and r.notes == [] for r in t.turns)


def test_conversation_deleting_an_unseen_item_is_partial() -> None:
    cid = "conv_2"
    t = build_transcript(
        [
            _conv_create(0, cid),
            resp(1, {"input": [user("one")], "conversation": cid}, [out_msg("r1")]),
            other(2, "DELETE", f"/v1/conversations/{cid}/items/msg_user_input", None, {"id": cid}),
            resp(3, {"input": [user("two")], "conversation": cid}, [out_msg("r2")]),
        ]
    )
    rec = t.turns[1]
    assert rec.partial is True
    assert rec.notes == [
        f"item msg_user_input was deleted from conversation {cid} but its id never appeared in the traffic, "
        "so it may still be in the reconstructed context (partial)"
    ]


def test_conversation_listing_gives_ids_so_a_later_deletion_applies() -> None:
    cid = "conv_3"
    listing = {
        "object": "list",
        "data": [out_msg("r1", "msg_r1"), typed_user("one", "msg_u1")],  # order=desc (the default)
        "has_more": False,
    }
    t = build_transcript(
        [
            _conv_create(0, cid),
            resp(1, {"input": [user("one")], "conversation": cid}, [out_msg("r1", "msg_r1")]),
            other(2, "GET", f"/v1/conversations/{cid}/items", None, listing),
            other(3, "DELETE", f"/v1/conversations/{cid}/items/msg_u1", None, {"id": cid}),
            resp(4, {"input": [user("two")], "conversation": cid}, [out_msg("r2")]),
        ]
    )
    assert ctx(t.turns[1]) == [("message", "assistant", "r1"), ("message", "user", "two")]
    assert t.turns[1].notes == [] and not t.turns[1].partial


def test_conversation_created_before_the_traffic_is_partial() -> None:
    rec = build_transcript([resp(0, {"input": [user("x")], "conversation": "conv_old"}, [out_msg("y")])]).turns[0]
    assert rec.partial is True
    assert rec.notes == [
        "conversation conv_old was created before this traffic; its earlier items are unknown (partial)"
    ]


def test_conversation_instructions_not_resent_is_noted() -> None:
    cid = "conv_4"
    t = build_transcript(
        [
            _conv_create(0, cid),
            resp(1, {"input": [user("1")], "conversation": cid, "instructions": "I"}, [out_msg("a")]),
            resp(2, {"input": [user("2")], "conversation": cid}, [out_msg("b")]),
        ]
    )
    assert t.turns[1].notes == [
        "instructions not resent: an earlier response in this conversation had instructions, this call has none "
        "(conversations do not carry instructions)"
    ]


# ------------------------------------------------------------------------------------ item_reference


def test_item_reference_is_resolved_from_earlier_traffic() -> None:
    t = build_transcript(
        [
            resp(0, {"input": [user("one")]}, [out_msg("r1", "msg_r1")]),
            resp(1, {"input": [user("one"), {"type": "item_reference", "id": "msg_r1"}, user("two")]}, [out_msg("r2")]),
        ]
    )
    assert ctx(t.turns[1]) == [("message", "user", "one"), ("message", "assistant", "r1"), ("message", "user", "two")]
    assert t.turns[1].context[1].raw["id"] == "msg_r1"
    assert t.turns[1].notes == []


def test_item_reference_to_a_store_false_item_is_noted() -> None:
    t = build_transcript(
        [
            resp(0, {"input": [user("one")], "store": False}, [out_msg("r1", "msg_s")]),
            resp(
                1, {"input": [{"type": "item_reference", "id": "msg_s"}, user("two")], "store": False}, [out_msg("x")]
            ),
        ]
    )
    assert ctx(t.turns[1])[0] == ("message", "assistant", "r1")
    assert t.turns[1].notes == [
        "item_reference msg_s points at an item of a store:false response; the API answers 404 (items are "
        "not persisted when store is false) — send the full item instead"
    ]


def test_item_reference_unknown_is_partial() -> None:
    rec = build_transcript(
        [resp(0, {"input": [{"type": "item_reference", "id": "msg_x"}, user("two")]}, [out_msg("x")])]
    ).turns[0]
    assert rec.partial is True
    assert ctx(rec) == [("other", None, "item_reference:msg_x"), ("message", "user", "two")]
    assert rec.notes == ["item_reference msg_x is not in this traffic; the context is partial"]


# --------------------------------------------------------------------------------------- compaction


def test_compact_call_and_continuation_from_its_output() -> None:
    window = [user("2+2?"), out_msg("4", "msg_a"), user("3+3?"), out_msg("6", "msg_b")]
    cmp_out = [typed_user("2+2?", "msg_c1"), typed_user("3+3?", "msg_c2"), compaction("cmp_1")]
    t = build_transcript(
        [
            resp(
                0,
                {"model": "gpt-4.1", "input": window, "instructions": "Math."},
                cmp_out,
                path="/v1/responses/compact",
                turn=2,
            ),
            resp(
                1,
                {"model": "gpt-4.1", "input": [*cmp_out, user("5+5?")], "instructions": "Math."},
                [out_msg("10")],
                turn=3,
            ),
        ]
    )
    c = t.turns[0]
    assert c.endpoint == "compact" and c.carried_by == "compact"
    assert c.reply is None and c.status == "completed"
    assert ctx(c) == [
        ("message", "user", "2+2?"),
        ("message", "assistant", "4"),
        ("message", "user", "3+3?"),
        ("message", "assistant", "6"),
    ]
    assert c.output_items == cmp_out
    # a /compact output keeps its user messages before the compaction item
    assert ctx(t.turns[1]) == [
        ("message", "user", "2+2?"),
        ("message", "user", "3+3?"),
        ("compaction", None, None),
        ("message", "user", "5+5?"),
    ]


def test_compact_with_previous_response_id_compacts_the_chain() -> None:
    t = build_transcript(
        [
            resp(0, {"input": [user("1")]}, [out_msg("a")], rid="resp_1"),
            resp(1, {"previous_response_id": "resp_1"}, [typed_user("1"), compaction()], path="/v1/responses/compact"),
        ]
    )
    assert ctx(t.turns[1]) == [("message", "user", "1"), ("message", "assistant", "a")]
    assert t.turns[1].carried_by == "compact"


def test_server_side_compaction_window_in_every_carrying_mode() -> None:
    cm = [{"type": "compaction", "compact_threshold": 1000}]
    # manual: the client resends everything; the server drops what precedes its compaction item
    c1 = compaction("cmp_srv")
    m1, m2 = out_msg("story 1", "msg_1"), out_msg("story 2", "msg_2")
    manual = build_transcript(
        [
            resp(0, {"input": [user("tell 1")], "context_management": cm}, [m1]),
            resp(1, {"input": [user("tell 1"), m1, user("tell 2")], "context_management": cm}, [m2, c1]),
            resp(
                2,
                {"input": [user("tell 1"), m1, user("tell 2"), m2, c1, user("2+2?")], "context_management": cm},
                [out_msg("4")],
            ),
        ]
    )
    assert ctx(manual.turns[1])[-1] == ("message", "user", "tell 2")
    assert [o["type"] for o in manual.turns[1].output_items] == ["message", "compaction"]
    assert ctx(manual.turns[2]) == [("compaction", None, None), ("message", "user", "2+2?")]

    chain = build_transcript(
        [
            resp(
                0, {"input": [user("tell 1")], "context_management": cm}, [out_msg("s1"), compaction("cmp_c")], rid="r1"
            ),
            resp(1, {"input": [user("next")], "previous_response_id": "r1", "context_management": cm}, [out_msg("ok")]),
        ]
    )
    assert ctx(chain.turns[1]) == [("compaction", None, None), ("message", "user", "next")]

    conv = build_transcript(
        [
            _conv_create(0, "conv_s"),
            resp(
                1,
                {"input": [user("tell 1")], "conversation": "conv_s", "context_management": cm},
                [out_msg("s1"), compaction("cmp_v")],
            ),
            resp(2, {"input": [user("next")], "conversation": "conv_s", "context_management": cm}, [out_msg("ok")]),
        ]
    )
    assert ctx(conv.turns[1]) == [("compaction", None, None), ("message", "user", "next")]


# ---------------------------------------------------------------------------------------- streaming


def _stream_events(final: dict[str, Any], *, cut: bool = False) -> list[dict[str, Any]]:
    msg = final["output"][0]
    events: list[dict[str, Any]] = [
        {
            "event": "response.created",
            "data": {"type": "response.created", "response": {**final, "status": "in_progress", "output": []}},
        },
        {
            "event": "response.output_item.added",
            "data": {"type": "response.output_item.added", "output_index": 0, "item": {**msg, "content": []}},
        },
        {
            "event": "response.output_text.delta",
            "data": {"type": "response.output_text.delta", "output_index": 0, "delta": "Hel"},
        },
        {
            "event": "response.output_text.delta",
            "data": {"type": "response.output_text.delta", "output_index": 0, "delta": "lo"},
        },
    ]
    if not cut:
        events += [
            {
                "event": "response.output_item.done",
                "data": {"type": "response.output_item.done", "output_index": 0, "item": msg},
            },
            {"event": "response.completed", "data": {"type": "response.completed", "response": final}},
        ]
    return events


def test_streamed_responses_equal_unstreamed() -> None:
    final = {
        "id": "resp_s",
        "object": "response",
        "status": "completed",
        "output": [out_msg("Hello", "msg_s")],
        "usage": responses_usage(7, 2),
    }
    req = {"model": "gpt-4.1", "input": [user("hi")], "stream": True}
    streamed = Exchange(index=0, method="POST", path="/v1/responses", request=req, events=_stream_events(final))
    plain = Exchange(index=0, method="POST", path="/v1/responses", request=req, response=final)
    a, b = build_transcript([streamed]).turns[0], build_transcript([plain]).turns[0]
    assert a.streamed and not b.streamed
    assert (a.reply, a.status, a.usage, a.output_items, ctx(a)) == (b.reply, b.status, b.usage, b.output_items, ctx(b))
    assert a.response == final


def test_cut_responses_stream_is_assembled_from_deltas() -> None:
    final = {
        "id": "resp_c",
        "object": "response",
        "status": "completed",
        "output": [out_msg("Hello", "msg_c")],
        "usage": None,
    }
    ex = Exchange(
        index=0, method="POST", path="/v1/responses", request={"input": "hi"}, events=_stream_events(final, cut=True)
    )
    rec = build_transcript([ex]).turns[0]
    assert rec.reply == "Hello"
    assert rec.status == "incomplete"
    assert rec.usage is None


# --------------------------------------------------------------------------------------- other bits


def test_non_model_exchanges_make_no_turn_records_and_turn_tags_are_kept() -> None:
    t = build_transcript(
        [
            other(0, "POST", "/v1/responses/input_tokens", {"input": "x"}, {"input_tokens": 3}),
            other(1, "GET", "/v1/responses/resp_1", None, {"id": "resp_1"}),
            resp(2, {"input": "x"}, [out_msg("y")], turn=4),
        ]
    )
    assert [(r.index, r.turn, r.exchange.index) for r in t.turns] == [(0, 4, 2)]
    assert t.last_for_turn(4) is t.turns[0] and t.last_for_turn(0) is None
    assert len(t.exchanges) == 3


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count item parses (the slow path), so a quadratic re-parse of resent history shows up."""
    calls = [0]
    chat_item, item = reconstruct._Builder._chat_item, reconstruct._Builder._item

    def counted_chat(self: Any, obj: Any) -> Any:
        calls[0] += 1
        return chat_item(self, obj)

    def counted(self: Any, obj: Any) -> Any:
        calls[0] += 1
        return item(self, obj)

    monkeypatch.setattr(reconstruct._Builder, "_chat_item", counted_chat)
    monkeypatch.setattr(reconstruct._Builder, "_item", counted)
    return calls


def test_thousand_turn_manual_chat_shares_items_and_is_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 1000
    exchanges: list[Exchange] = []
    history: list[dict[str, Any]] = []
    for i in range(n):
        # system + name fields keep these off the short-form fast path: the prefix reuse must do it
        history.append({"role": "user", "content": f"message {i}", "name": "u"})
        # fresh dicts every turn, as a JSON-string cassette gives them
        exchanges.append(chat(i, [dict(m) for m in history], f"reply {i}", turn=i))
        history.append({"role": "assistant", "content": f"reply {i}", "name": "a"})
    parses = _count_parses(monkeypatch)
    start = time.perf_counter()
    t = build_transcript(exchanges)
    elapsed = time.perf_counter() - start
    assert len(t.turns) == n
    assert len(t.turns[-1].context) == 2 * n - 1
    distinct = {id(c) for r in t.turns for c in r.context}
    assert len(distinct) == 2 * n - 1
    # each history entry parsed once (resent copies are compared, not parsed): linear, not n²/2
    assert parses[0] == 2 * n - 1
    assert elapsed < 15.0  # generous: a loaded machine; the parse count is the real check


# ------------------------------------------------------------------------------ the server's own view


def test_input_items_listing_agreeing_with_the_request_adds_no_note() -> None:
    listing = {"object": "list", "data": [typed_user("two", "msg_u2")], "has_more": False}
    t = build_transcript(
        [
            resp(0, {"input": [user("one")]}, [out_msg("a")], rid="resp_1"),
            resp(1, {"input": [user("two")], "previous_response_id": "resp_1"}, [out_msg("b")], rid="resp_2"),
            other(2, "GET", "/v1/responses/resp_2/input_items", None, listing),
        ]
    )
    assert t.turns[1].notes == []


def test_input_items_listing_that_differs_is_noted_on_its_call() -> None:
    listing = {"object": "list", "data": [typed_user("not what was sent")], "has_more": False}
    t = build_transcript(
        [
            resp(0, {"input": [user("one")]}, [out_msg("a")], rid="resp_1"),
            other(1, "GET", "/v1/responses/resp_1/input_items", None, listing, query={"order": "asc"}),
        ]
    )
    assert t.turns[0].notes == ["the server's input_items of resp_1 (exchange 1) differ from the input sent at item 1"]


def test_conversation_listing_that_differs_is_noted_on_the_last_call() -> None:
    cid = "conv_l"
    listing = {"object": "list", "data": [typed_user("one"), typed_user("surprise")], "has_more": False}
    t = build_transcript(
        [
            _conv_create(0, cid),
            resp(1, {"input": [user("one")], "conversation": cid}, [out_msg("r1")]),
            other(2, "GET", f"/v1/conversations/{cid}/items", None, listing, query={"order": "asc"}),
            resp(3, {"input": [user("two")], "conversation": cid}, [out_msg("r2")]),
        ]
    )
    assert t.turns[0].notes == [
        f"the server's item listing of {cid} (exchange 2) differs from the context rebuilt from traffic at item 2; "
        "using the server's listing"
    ]
    assert ctx(t.turns[1]) == [("message", "user", "one"), ("message", "user", "surprise"), ("message", "user", "two")]


def test_manual_responses_history_from_fresh_dicts_shares_items(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 150
    exchanges: list[Exchange] = []
    history: list[dict[str, Any]] = []
    for i in range(n):
        history.append(typed_user(f"message {i}"))
        out = [reasoning(f"rs_{i}"), out_msg(f"reply {i}", f"msg_{i}")]
        fresh = json.loads(json.dumps(history))
        exchanges.append(resp(i, {"input": fresh, "store": False}, out, rid=f"resp_{i}", turn=i))
        history.extend(out)
    parses = _count_parses(monkeypatch)
    t = build_transcript(exchanges)
    assert len(t.turns[-1].context) == 3 * n - 2
    assert len({id(c) for r in t.turns for c in r.context}) == 3 * n - 2
    # every input item once, every output item once (resent outputs are found by id)
    assert parses[0] == 3 * n
    assert t.turns[-1].context[1] is t.turns[1].context[1]


def test_an_edited_history_item_is_parsed_afresh() -> None:
    first = [user("a"), out_msg("b", "msg_b"), user("c")]
    edited = [user("a"), {**out_msg("B!", "msg_b")}, user("c"), out_msg("d", "msg_d"), user("e")]
    t = build_transcript(
        [resp(0, {"input": first}, [out_msg("d", "msg_d")]), resp(1, {"input": edited}, [out_msg("f")])]
    )
    assert ctx(t.turns[1]) == [
        ("message", "user", "a"),
        ("message", "assistant", "B!"),
        ("message", "user", "c"),
        ("message", "assistant", "d"),
        ("message", "user", "e"),
    ]


def test_opaque_items_without_ids_are_not_merged() -> None:
    a = {"type": "compaction", "encrypted_content": "AAA"}
    b = {"type": "compaction", "encrypted_content": "BBB"}
    rec = build_transcript([resp(0, {"input": [a, user("x"), b]}, [out_msg("y")])]).turns[0]
    assert [c.raw["encrypted_content"] for c in rec.context if c.kind == "compaction"] == ["AAA", "BBB"]
    fc1 = {"type": "function_call_output", "call_id": "call_1", "output": "ok"}
    fc2 = {"type": "function_call_output", "call_id": "call_2", "output": "ok"}
    rec = build_transcript([resp(0, {"input": [fc1, fc2]}, [out_msg("y")])]).turns[0]
    assert [c.raw["call_id"] for c in rec.context] == ["call_1", "call_2"]


IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "high"}}


@pytest.mark.parametrize(
    "richer",
    [
        {"role": "user", "content": [{"type": "text", "text": "look"}, IMAGE]},
        {"role": "user", "content": "look", "name": "bob"},
    ],
    ids=["image", "name"],
)
def test_a_message_holding_more_than_role_and_text_is_not_merged_with_the_plain_one(richer: dict[str, Any]) -> None:
    first = {"role": "user", "content": "look"}
    t = build_transcript(
        [
            chat(0, [first], "ok"),
            chat(1, [first, {"role": "assistant", "content": "ok"}, richer], "ok2"),
        ]
    )
    context = t.turns[1].context
    assert ctx(t.turns[1]) == [("message", "user", "look"), ("message", "assistant", "ok"), ("message", "user", "look")]
    assert (context[0].raw, context[2].raw) == (first, richer)
    assert [c.plain for c in context] == [True, True, False]


def test_plain_marks_messages_of_role_and_text_only_in_every_form() -> None:
    typed = typed_user("b")
    named = {"type": "message", "role": "user", "content": "c", "name": "n"}
    call = {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {}}]}
    t = build_transcript(
        [
            resp(0, {"input": "a"}, [out_msg("x")]),
            resp(1, {"input": [typed, named, "bare", reasoning()]}, [out_msg("y")]),
            chat(2, [{"role": "user", "content": "d", "refusal": None}, call], "z"),
        ]
    )
    assert [c.plain for c in t.turns[0].context] == [True]
    assert [(c.text, c.plain) for c in t.turns[1].context] == [("b", True), ("c", False), ("bare", True), (None, False)]
    assert [(c.kind, c.plain) for c in t.turns[2].context] == [("message", True), ("function_call", False)]


def test_a_failed_response_object_is_kept_with_its_status() -> None:
    final = {
        "id": "resp_f",
        "object": "response",
        "status": "failed",
        "error": {"code": "server_error", "message": "The model crashed."},
        "output": [],
        "usage": None,
    }
    events = [{"event": "response.failed", "data": {"type": "response.failed", "response": final}}]
    ex = Exchange(index=0, method="POST", path="/v1/responses", request={"input": "hi", "stream": True}, events=events)
    rec = build_transcript([ex]).turns[0]
    assert (rec.status, rec.reply, rec.response) == ("failed", None, final)
    assert rec.notes == ["failed: The model crashed."]


def test_chaining_to_a_deleted_response_is_noted() -> None:
    t = build_transcript(
        [
            resp(0, {"input": [user("1")]}, [out_msg("a")], rid="resp_d"),
            other(1, "DELETE", "/v1/responses/resp_d", None, {"id": "resp_d", "deleted": True}),
            resp(2, {"input": [user("2")], "previous_response_id": "resp_d"}, [out_msg("b")]),
        ]
    )
    assert t.turns[1].notes == [
        "previous_response_id resp_d was deleted earlier in this traffic; the API answers 400 "
        "previous_response_not_found"
    ]


# ------------------------------------------------------------------------- a history resent whole


def _resent(*inputs: list[Any], store: bool = False) -> list[Exchange]:
    """Requests whose input lists share their leading items as objects, as parsed incrementally."""
    return [resp(n, {"input": items, "store": store}, [out_msg(f"r{n}")], turn=n) for n, items in enumerate(inputs)]


def test_a_bare_reasoning_item_is_noted_on_every_turn_that_resends_it() -> None:
    bare, u1, u2, u3 = reasoning("rs_7", encrypted=None), user("a"), user("b"), user("c")
    first = [u1, bare]
    second = [*first, u2]  # the very objects again, as a client appending to its history sends them
    third = [*second, user("c2"), u3]
    t = build_transcript(_resent(first, second, third))
    note = (
        "reasoning item rs_7 sent under store:false without encrypted_content; the API cannot resolve it "
        "(request include=['reasoning.encrypted_content'])"
    )
    assert [rec.notes for rec in t.turns] == [[note], [note], [note]]
    assert [len(rec.context) for rec in t.turns] == [2, 3, 5]


def test_a_resent_history_of_equal_but_not_identical_items_rebuilds_the_same() -> None:
    shared = [user("a"), out_msg("x", "msg_a"), user("b")]
    copied = json.loads(json.dumps(shared))
    by_identity = build_transcript(_resent(shared[:1], shared))
    by_value = build_transcript(_resent(shared[:1], copied))
    assert [ctx(rec) for rec in by_identity.turns] == [ctx(rec) for rec in by_value.turns]


def test_an_item_reference_in_a_resent_history_is_resolved_every_turn() -> None:
    ref = {"type": "item_reference", "id": "msg_gone"}
    first = [user("a"), ref]
    t = build_transcript(_resent(first, [*first, user("b")], store=True))
    assert [rec.partial for rec in t.turns] == [True, True]
    note = "item_reference msg_gone is not in this traffic; the context is partial"
    assert [rec.notes for rec in t.turns] == [[note], [note]]


def test_a_string_input_between_lists_breaks_the_reuse() -> None:
    first = [user("a"), reasoning("rs_8", encrypted=None)]
    t = build_transcript(_resent(first, "just text", [*first, user("b")]))  # type: ignore[arg-type]
    assert [ctx(rec) for rec in t.turns][1] == [("message", "user", "just text")]
    assert [len(rec.notes) for rec in t.turns] == [1, 0, 1]
    assert ctx(t.turns[2])[-1] == ("message", "user", "b")


def test_calls_are_found_by_turn_after_the_transcript_changes() -> None:
    t = build_transcript(_resent([user("a")], [user("a"), user("b")], [user("c")]))
    assert [rec.index for rec in t.for_turn(1)] == [1]
    extra = build_transcript(_resent([user("x")])).turns[0]
    t.turns.append(extra)  # a transcript assembled by hand keeps answering right
    assert t.for_turn(0) == [t.turns[0], extra]
    t.turns[1:] = [t.turns[2], t.turns[1], t.turns[3]]  # the first record stays, the rest move
    assert t.last_for_turn(0) is extra and t.for_turn(1)[0].index == 1
    del t.turns[1:]
    assert t.for_turn(0) == [t.turns[0]] and t.for_turn(1) == [] and t.for_turn(5) == []
