"""``Transcript.items`` (every context item reconstruct made, once) and the strings records share."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from reconstruct_helpers import chat, compaction, out_msg, resp, typed_user, user

from convotest.reconstruct import build_transcript
from convotest.transcript import Exchange


def _manual_responses(turns: int) -> list[Exchange]:
    history: list[dict[str, Any]] = []
    exchanges = []
    for i in range(turns):
        history.append(typed_user(f"question {i}"))
        out = [out_msg(f"answer {i}")]
        exchanges.append(resp(i, {"model": "gpt-4o", "instructions": "Be brief.", "input": list(history)}, out))
        history.extend(out)
    return exchanges


def test_items_hold_each_context_item_once_in_the_order_made() -> None:
    t = build_transcript(_manual_responses(4))
    assert [(ci.role, ci.text) for ci in t.items] == [
        (role, f"{kind} {i}") for i in range(4) for role, kind in (("user", "question"), ("assistant", "answer"))
    ]
    assert len(set(map(id, t.items))) == len(t.items)
    # every context is made of those very objects: what is counted for an item holds wherever it appears
    made = set(map(id, t.items))
    assert all(id(ci) in made for rec in t.turns for ci in rec.context)


def test_items_cover_chat_histories_chains_and_compaction_output() -> None:
    exchanges = [
        chat(0, [{"role": "system", "content": "S"}, user("hi")], "hello"),
        resp(1, {"input": "one"}, [out_msg("first")], rid="r1"),
        resp(2, {"input": "two", "previous_response_id": "r1"}, [compaction("cmp_1"), out_msg("second")], rid="r2"),
        resp(3, {"input": "three", "previous_response_id": "r2"}, [out_msg("third")], rid="r3"),
    ]
    t = build_transcript(exchanges)
    made = set(map(id, t.items))
    assert all(id(ci) in made for rec in t.turns for ci in rec.context)
    assert "compaction" in {ci.kind for ci in t.items}


def _parsed(ex: Exchange) -> Exchange:
    # As traffic is read: every body parsed from its own JSON, so equal strings are distinct objects.
    return replace(ex, request=json.loads(json.dumps(ex.request)), response=json.loads(json.dumps(ex.response)))


def test_records_share_one_object_for_equal_status_model_instructions_and_role() -> None:
    t = build_transcript([_parsed(ex) for ex in _manual_responses(3)])
    first, *rest = t.turns
    assert first.request["model"] is not rest[0].request["model"]  # what sharing is for
    assert first.response is not None and rest[0].response is not None
    assert first.response["status"] is not rest[0].response["status"]
    for rec in rest:
        assert rec.status is first.status
        assert rec.model is first.model
        assert rec.instructions is first.instructions
    roles = {role: {id(ci.role) for ci in t.items if ci.role == role} for role in ("user", "assistant")}
    assert roles == {"user": {id(t.items[0].role)}, "assistant": {id(t.items[1].role)}}
