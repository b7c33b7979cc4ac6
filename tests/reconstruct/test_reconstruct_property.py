"""Property: one conversation carried in each of the four modes rebuilds to the same normalised context."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from reconstruct_helpers import chat, other, out_msg, reasoning, resp, typed_user

from convotest.context import compare_across_modes, normalise
from convotest.reconstruct import build_transcript
from convotest.transcript import Exchange, Transcript

text = st.text(alphabet=st.sampled_from("ab \n"), min_size=1, max_size=6).filter(lambda s: s.strip())
turns = st.lists(st.tuples(text, text), min_size=1, max_size=6)


def manual_chat(convo: list[tuple[str, str]]) -> Transcript:
    history: list[dict[str, Any]] = [{"role": "system", "content": "I"}]
    exchanges: list[Exchange] = []
    for i, (u, a) in enumerate(convo):
        history.append({"role": "user", "content": u})
        exchanges.append(chat(i, list(history), a, turn=i))
        history.append({"role": "assistant", "content": a})
    return build_transcript(exchanges)


def manual_responses(convo: list[tuple[str, str]]) -> Transcript:
    history: list[dict[str, Any]] = []
    exchanges: list[Exchange] = []
    for i, (u, a) in enumerate(convo):
        history.append(typed_user(u))
        out = [reasoning(), out_msg(a)]
        exchanges.append(resp(i, {"input": list(history), "instructions": "I", "store": False}, out, turn=i))
        history.extend(out)
    return build_transcript(exchanges)


def chained(convo: list[tuple[str, str]]) -> Transcript:
    exchanges: list[Exchange] = []
    for i, (u, a) in enumerate(convo):
        req: dict[str, Any] = {"input": u, "instructions": "I"}
        if i:
            req["previous_response_id"] = f"resp_{i - 1}"
        exchanges.append(resp(i, req, [out_msg(a)], rid=f"resp_{i}", turn=i))
    return build_transcript(exchanges)


def conversation(convo: list[tuple[str, str]]) -> Transcript:
    exchanges: list[Exchange] = [other(0, "POST", "/v1/conversations", {}, {"id": "conv_p"})]
    for i, (u, a) in enumerate(convo):
        req = {"input": [{"role": "user", "content": u}], "conversation": "conv_p", "instructions": "I"}
        exchanges.append(resp(i + 1, req, [out_msg(a)], turn=i))
    return build_transcript(exchanges)


@settings(max_examples=60, deadline=None)
@given(turns)
def test_four_modes_agree(convo: list[tuple[str, str]]) -> None:
    runs = {
        "manual_chat": manual_chat(convo),
        "manual_responses": manual_responses(convo),
        "previous_response_id": chained(convo),
        "conversation": conversation(convo),
    }
    assert compare_across_modes(runs) is None
    last = normalise(runs["conversation"].turns[-1].context)
    assert len(last) == 2 * len(convo) - 1
    assert {t.turns[-1].instructions for t in runs.values()} == {"I"}


@settings(max_examples=40, deadline=None)
@given(turns.filter(lambda c: len(c) >= 2), st.data())
def test_a_lost_turn_is_always_found(convo: list[tuple[str, str]], data: st.DataObject) -> None:
    lost = data.draw(st.integers(min_value=0, max_value=len(convo) - 2))
    # chain each call to the response before the previous one at `lost`: that turn drops out
    exchanges: list[Exchange] = []
    for i, (u, a) in enumerate(convo):
        req: dict[str, Any] = {"input": u, "instructions": "I"}
        if i:
            req["previous_response_id"] = f"resp_{i - 2 if i == lost + 1 and i >= 2 else i - 1}"
            if i == lost + 1 and i < 2:
                del req["previous_response_id"]
        exchanges.append(resp(i, req, [out_msg(a)], rid=f"resp_{i}", turn=i))
    failure = compare_across_modes(
        {"manual_chat": manual_chat(convo), "previous_response_id": build_transcript(exchanges)}
    )
    assert failure is not None and failure.turn == lost + 1
