"""``TurnRecord.context_base``: the earlier call whose whole context a call's context begins with.

Reconstruct states it when it builds one context from another (a resent history, a chain, a conversation);
token accounting trusts it to count only what a call adds. Whatever it names must really be an identity
prefix, and after anything that cuts or rewrites the context it must name nothing.
"""

from __future__ import annotations

import operator
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from reconstruct_helpers import chat, compaction, other, out_msg, resp, typed_user, user

from convotest.reconstruct import build_transcript
from convotest.tokens import TokenCounter, annotate, estimate_record, model_limits
from convotest.transcript import Exchange, Transcript


def assert_bases_hold(t: Transcript) -> None:
    """Every named base is an earlier call whose context is, item for item, the start of this call's."""
    for rec in t.turns:
        if rec.context_base is None:
            continue
        assert 0 <= rec.context_base < rec.index
        shared = t.turns[rec.context_base].context
        assert len(rec.context) >= len(shared)
        assert all(map(operator.is_, rec.context, shared)), f"call {rec.index}: base {rec.context_base} differs"


def bases(t: Transcript) -> list[int | None]:
    return [rec.context_base for rec in t.turns]


def test_manual_chat_names_the_previous_call_with_the_system_message_left_out() -> None:
    history: list[dict[str, Any]] = [{"role": "system", "content": "Be brief."}]
    exchanges = []
    for i, (u, a) in enumerate([("Hi", "Hello"), ("Name?", "Bot"), ("Bye", "Bye")]):
        history.append({"role": "user", "content": u})
        exchanges.append(chat(i, list(history), a))
        history.append({"role": "assistant", "content": a})
    t = build_transcript(exchanges)
    assert bases(t) == [None, 0, 1]
    assert t.turns[1].instructions == "Be brief."
    assert_bases_hold(t)


def test_manual_responses_chain_and_conversation_name_the_previous_call() -> None:
    history: list[dict[str, Any]] = []
    manual = []
    for i in range(3):
        history.append(typed_user(f"u{i}"))
        out = [out_msg(f"a{i}")]
        manual.append(resp(i, {"input": list(history), "store": False}, out))
        history.extend(out)
    chained = [
        resp(i, {"input": f"u{i}", **({"previous_response_id": f"r{i - 1}"} if i else {})}, [out_msg("a")], rid=f"r{i}")
        for i in range(3)
    ]
    conv = [other(0, "POST", "/v1/conversations", {}, {"id": "conv_1"})] + [
        resp(i + 1, {"input": [user(f"u{i}")], "conversation": "conv_1"}, [out_msg("a")]) for i in range(3)
    ]
    for exchanges in (manual, chained, conv):
        t = build_transcript(exchanges)
        assert bases(t) == [None, 0, 1]
        assert_bases_hold(t)


def test_interleaved_chains_and_forks_name_the_call_they_continue() -> None:
    exchanges = [
        resp(0, {"input": "a0"}, [out_msg("x")], rid="ra0"),
        resp(1, {"input": "b0"}, [out_msg("y")], rid="rb0"),
        resp(2, {"input": "a1", "previous_response_id": "ra0"}, [out_msg("x")], rid="ra1"),
        resp(3, {"input": "b1", "previous_response_id": "rb0"}, [out_msg("y")], rid="rb1"),
        # a fork: back to the first response of chain a
        resp(4, {"input": "a1'", "previous_response_id": "ra0"}, [out_msg("z")], rid="ra1b"),
    ]
    t = build_transcript(exchanges)
    assert bases(t) == [None, None, 0, 1, 0]
    assert_bases_hold(t)


def test_interleaved_manual_histories_fall_back_to_nothing() -> None:
    a = [user("a0"), {"role": "assistant", "content": "x"}]
    b = [user("b0"), {"role": "assistant", "content": "y"}]
    exchanges = [
        chat(0, a[:1], "x"),
        chat(1, b[:1], "y"),
        chat(2, [*a, user("a1")], "x"),
        chat(3, [*a, user("a1"), {"role": "assistant", "content": "x"}, user("a2")], "x"),
    ]
    t = build_transcript(exchanges)
    # call 2 resends a's history after b's: reconstruct does not claim a base; call 3 extends call 2
    assert bases(t) == [None, None, None, 2]
    assert_bases_hold(t)


def test_a_chained_call_does_not_become_the_base_of_a_manual_one_resending_its_input() -> None:
    exchanges = [
        resp(0, {"input": "start"}, [out_msg("x")], rid="r0"),
        resp(1, {"input": [user("go on")], "previous_response_id": "r0"}, [out_msg("y")], rid="r1"),
        # the same input list again, without the chain: the model sees only "go on" (+ what it adds)
        resp(2, {"input": [user("go on"), user("and on")], "store": False}, [out_msg("z")]),
    ]
    t = build_transcript(exchanges)
    assert [len(r.context) for r in t.turns] == [1, 3, 2]
    assert bases(t) == [None, 0, None]
    assert_bases_hold(t)


def test_a_failed_call_in_between_is_a_base_like_any_other() -> None:
    history = [user("u0")]
    exchanges = [
        resp(0, {"input": list(history), "store": False}, [out_msg("a0")]),
        resp(1, {"input": [*history, user("u1")], "store": False}, None, http=500),
        resp(2, {"input": [*history, user("u1")], "store": False}, [out_msg("a1")]),
    ]
    t = build_transcript(exchanges)
    assert t.turns[1].response is None
    assert_bases_hold(t)
    assert bases(t)[2] in (1, None)


def test_server_side_compaction_cuts_the_context_and_names_no_base() -> None:
    blob = compaction("cmp_1")
    exchanges = [
        resp(0, {"input": "u0"}, [out_msg("a0")], rid="r0"),
        resp(1, {"input": "u1", "previous_response_id": "r0"}, [blob, out_msg("a1")], rid="r1"),
        resp(2, {"input": "u2", "previous_response_id": "r1"}, [out_msg("a2")], rid="r2"),
        resp(3, {"input": "u3", "previous_response_id": "r2"}, [out_msg("a3")], rid="r3"),
    ]
    t = build_transcript(exchanges)
    assert t.turns[2].context[0].kind == "compaction"
    assert bases(t) == [None, 0, None, 2]
    assert_bases_hold(t)


def test_conversation_items_rewritten_between_calls_name_no_base() -> None:
    def call(i: int, text: str) -> Exchange:
        return resp(i, {"input": [user(text)], "conversation": "conv_2"}, [out_msg("ok", mid=f"msg_{i}")])

    exchanges = [
        other(0, "POST", "/v1/conversations", {}, {"id": "conv_2"}),
        call(1, "u0"),
        other(2, "POST", "/v1/conversations/conv_2/items", {"items": [user("added")]}, {"data": [user("added")]}),
        call(3, "u1"),
        other(4, "DELETE", "/v1/conversations/conv_2/items/msg_1", None, {"deleted": True}),
        call(5, "u2"),
        call(6, "u3"),
    ]
    t = build_transcript(exchanges)
    assert [r.context_base for r in t.turns] == [None, 0, None, 2]
    assert [c.raw.get("id") for c in t.turns[2].context if c.role == "assistant"] == ["msg_3"]
    assert_bases_hold(t)


# -- any mix of the above ---------------------------------------------------------------------------

step = st.tuples(
    st.sampled_from(["chat", "manual", "chain", "fork", "conv", "conv_add", "conv_delete", "compact_inline", "fail"]),
    st.sampled_from(["p", "q"]),
)


def traffic(steps: list[tuple[str, str]]) -> list[Exchange]:
    """Two threads of each kind of state, driven in the order hypothesis picks."""
    exchanges: list[Exchange] = [
        other(0, "POST", "/v1/conversations", {}, {"id": "conv_p"}),
        other(1, "POST", "/v1/conversations", {}, {"id": "conv_q"}),
    ]
    chat_history: dict[str, list[dict[str, Any]]] = {"p": [{"role": "system", "content": "S"}], "q": []}
    manual_history: dict[str, list[dict[str, Any]]] = {"p": [], "q": []}
    responses: dict[str, list[str]] = {"p": [], "q": []}
    conv_messages: dict[str, list[str]] = {"p": [], "q": []}
    for n, (kind, thread) in enumerate(steps):
        i = len(exchanges)
        text = f"{kind} {thread} {n}"
        if kind == "chat":
            chat_history[thread].append(user(text))
            exchanges.append(chat(i, list(chat_history[thread]), f"re {n}"))
            chat_history[thread].append({"role": "assistant", "content": f"re {n}"})
        elif kind in ("manual", "fail"):
            manual_history[thread].append(user(text))
            failed = kind == "fail"
            out = [out_msg(f"re {n}")]
            req = {"input": list(manual_history[thread]), "store": False}
            exchanges.append(resp(i, req, None if failed else out, http=500 if failed else 200))
            if not failed:
                manual_history[thread].extend(out)
        elif kind in ("chain", "fork", "compact_inline"):
            ids = responses[thread]
            req: dict[str, Any] = {"input": text}
            if ids:
                req["previous_response_id"] = ids[0] if kind == "fork" else ids[-1]
            out = [compaction(f"cmp_{n}"), out_msg(f"re {n}")] if kind == "compact_inline" else [out_msg(f"re {n}")]
            exchanges.append(resp(i, req, out, rid=f"r_{n}"))
            ids.append(f"r_{n}")
        elif kind == "conv":
            req = {"input": [user(text)], "conversation": f"conv_{thread}"}
            exchanges.append(resp(i, req, [out_msg(f"re {n}", mid=f"msg_{n}")]))
            conv_messages[thread].append(f"msg_{n}")
        elif kind == "conv_add":
            added = [user(text)]
            exchanges.append(
                other(i, "POST", f"/v1/conversations/conv_{thread}/items", {"items": added}, {"data": added})
            )
        else:
            ids = conv_messages[thread]
            path = f"/v1/conversations/conv_{thread}/items/{ids.pop(0) if ids else 'msg_unknown'}"
            exchanges.append(other(i, "DELETE", path, None, {"deleted": True}))
    return exchanges


@settings(max_examples=200, deadline=None)
@given(st.lists(step, min_size=1, max_size=14))
@example([("conv", "p"), ("conv", "p"), ("conv_delete", "p"), ("conv", "p")])
@example([("chain", "p"), ("compact_inline", "p"), ("chain", "p"), ("fork", "p")])
@example([("manual", "p"), ("chain", "q"), ("manual", "p"), ("fail", "p"), ("manual", "p")])
def test_any_mix_of_modes_names_only_true_bases(steps: list[tuple[str, str]]) -> None:
    t = build_transcript(traffic(steps))
    assert_bases_hold(t)
    # what the bases are for: accounting that counts only what each call adds, to the same figures
    limits = model_limits("gpt-4o")
    annotate(t, limits=limits)
    alone = [estimate_record(rec, TokenCounter()) for rec in t.turns]
    assert [rec.tokens.estimate if rec.tokens else None for rec in t.turns] == alone
