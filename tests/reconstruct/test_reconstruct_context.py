"""Normalised contexts and the cross-mode comparison."""

from __future__ import annotations

from reconstruct_helpers import chat, compaction, out_msg, reasoning, resp, typed_user, user

from convotest.context import compare_across_modes, normalise, render_diff
from convotest.reconstruct import build_transcript
from convotest.transcript import ContextItem, Transcript


def test_normalise_collapses_whitespace_and_drops_reasoning_by_default() -> None:
    ctx = [
        ContextItem("message", "user", "  Hello\n\n  there "),
        ContextItem("reasoning", None, None),
        ContextItem("compaction"),
        ContextItem("function_call", None, "f({})"),
    ]
    assert normalise(ctx) == [
        ("message", "user", "Hello there"),
        ("compaction", None, None),
        ("function_call", None, "f({})"),
    ]
    assert normalise(ctx, include_reasoning=True)[1] == ("reasoning", None, None)


def _chat_run(replies: list[str], users: list[str]) -> Transcript:
    history: list[dict[str, str]] = [{"role": "system", "content": "Be brief."}]
    exchanges = []
    for i, (u, r) in enumerate(zip(users, replies, strict=True)):
        history.append({"role": "user", "content": u})
        exchanges.append(chat(i, list(history), r, turn=i))
        history.append({"role": "assistant", "content": r})
    return build_transcript(exchanges)


def _manual_responses_run(replies: list[str], users: list[str]) -> Transcript:
    # typed items, ids and reasoning items: all normalised away
    history: list[dict[str, object]] = []
    exchanges = []
    for i, (u, r) in enumerate(zip(users, replies, strict=True)):
        history.append(typed_user(u + "\n"))
        out = [reasoning(), out_msg(r)]
        exchanges.append(resp(i, {"input": list(history), "instructions": "Be brief.", "store": False}, out, turn=i))
        history.extend(out)
    return build_transcript(exchanges)


def _chain_run(replies: list[str], users: list[str]) -> Transcript:
    exchanges = []
    for i, (u, r) in enumerate(zip(users, replies, strict=True)):
        req: dict[str, object] = {"input": u, "instructions": "Be brief."}
        if i:
            req["previous_response_id"] = f"resp_{i - 1}"
        exchanges.append(resp(i, req, [out_msg(r)], rid=f"resp_{i}", turn=i))
    return build_transcript(exchanges)


def test_same_conversation_in_three_modes_compares_equal() -> None:
    users, replies = ["I like oranges.", "What do I like?"], ["Noted.", "Oranges."]
    runs = {
        "manual_chat": _chat_run(replies, users),
        "manual_responses": _manual_responses_run(replies, users),
        "previous_response_id": _chain_run(replies, users),
    }
    assert compare_across_modes(runs) is None
    assert compare_across_modes({"manual_chat": runs["manual_chat"]}) is None


def test_a_lost_turn_is_reported_at_the_first_differing_item() -> None:
    users, replies = ["I like oranges.", "What do I like?", "Sure?"], ["Noted.", "Oranges.", "Yes."]
    good = _chat_run(replies, users)
    # a broken chain: turn 3 continues from turn 1's response, losing turn 2
    exchanges = []
    for i, (u, r) in enumerate(zip(users, replies, strict=True)):
        req: dict[str, object] = {"input": u, "instructions": "Be brief."}
        if i:
            req["previous_response_id"] = "resp_0"
        exchanges.append(resp(i, req, [out_msg(r)], rid=f"resp_{i}", turn=i))
    broken = build_transcript(exchanges)
    failure = compare_across_modes({"manual_chat": good, "previous_response_id": broken})
    assert failure is not None
    assert failure.check == "context.same_across_modes"
    assert failure.turn == 2 and failure.mode == "previous_response_id"
    assert failure.message == (
        "context differs across modes at item 3 (5 vs 3 items): manual_chat has user: 'What do I like?', "
        "previous_response_id has user: 'Sure?'"
    )
    assert failure.diff == (
        "root[2]['text']: 'What do I like?' → 'Sure?'\n"
        "root[3]: missing {'kind': 'message', 'role': 'assistant', 'text': 'Oranges.'}\n"
        "root[4]: missing {'kind': 'message', 'role': 'user', 'text': 'Sure?'}"
    )
    assert failure.headline() == "turn 3 [previous_response_id]: " + failure.message


def test_a_turn_without_a_model_call_in_one_mode() -> None:
    a = _chat_run(["x", "y"], ["1", "2"])
    b = _chat_run(["x"], ["1"])
    failure = compare_across_modes({"manual_chat": a, "manual_responses": b})
    assert failure is not None
    assert (failure.turn, failure.mode) == (1, "manual_responses")
    assert failure.message == "turn 2 made no model call in manual_responses but did in manual_chat"


def test_compaction_markers_compare_and_differ() -> None:
    c = compaction("cmp_1")
    with_cmp = build_transcript([resp(0, {"input": [typed_user("a"), c, user("b")]}, [out_msg("x")], turn=0)])
    without = build_transcript([resp(0, {"input": [user("a"), user("b")]}, [out_msg("x")], turn=0)])
    failure = compare_across_modes({"manual_responses": with_cmp, "conversation": without})
    assert failure is not None
    assert failure.message == (
        "context differs across modes at item 2 (3 vs 2 items): manual_responses has compaction, "
        "conversation has user: 'b'"
    )


def test_render_diff_shapes() -> None:
    assert render_diff([1], [1]) is None
    assert render_diff({"a": 1, "c": 2, "d": 3}, {"b": 1, "c": 2, "d": 3}) == (
        "root['a']: missing 1\nroot['b']: unexpected 1"
    )
    many = render_diff([f"a{i}" for i in range(30)], [f"b{i}" for i in range(30)], max_lines=2)
    assert many is not None
    assert many.splitlines() == ["root[0]: 'a0' → 'b0'", "root[1]: 'a1' → 'b1'", "… 28 more differences"]


def test_failure_points_at_the_same_across_modes_line() -> None:
    from convotest.errors import SourceLoc
    from convotest.scenario.model import ContextExpect, Expect, Message, Scenario, Turn

    where = SourceLoc("s.convo.yaml", 7, 5)
    turns = tuple(
        Turn(index=i, kind="user", messages=(Message("user", u),), loc=SourceLoc("s.convo.yaml", 10 + i))
        for i, u in enumerate(["1", "2"])
    )
    sc = Scenario(
        name="s",
        path="s.convo.yaml",
        model="gpt-4o-mini",
        turns=turns,
        modes=("manual_chat", "manual_responses"),
        expect=Expect(context=ContextExpect(same_across_modes=True), locs={"context.same_across_modes": where}),
    )
    runs = {"manual_chat": _chat_run(["x", "y"], ["1", "2"]), "manual_responses": _chat_run(["q", "y"], ["1", "2"])}
    failure = compare_across_modes(runs, scenario=sc)
    assert failure is not None and failure.loc == where and failure.turn == 1
    bare = Scenario(name="s", path="s.convo.yaml", model="m", turns=turns, modes=("manual_chat",))
    failure = compare_across_modes(runs, scenario=bare)
    assert failure is not None and failure.loc == SourceLoc("s.convo.yaml", 11)
    plain = compare_across_modes(runs)
    assert plain is not None and plain.loc is None
