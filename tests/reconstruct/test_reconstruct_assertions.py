"""check_turns: every expectation kind, with the exact failure messages pinned."""

from __future__ import annotations

from reconstruct_helpers import chat, compaction, other, out_msg, resp, typed_user, user

from convotest.assertions import check_across_modes, check_turns, count_messages, starts_with_compaction
from convotest.errors import SourceLoc
from convotest.reconstruct import build_transcript
from convotest.scenario.model import ContextExpect, Expect, Message, ReplyExpect, Scenario, Turn
from convotest.transcript import ContextItem, Transcript

PATH = "scenarios/fruit.convo.yaml"


def loc(line: int) -> SourceLoc:
    return SourceLoc(PATH, line, 7)


def scenario(*turns: Turn) -> Scenario:
    return Scenario(name="fruit", path=PATH, model="gpt-4o-mini", turns=turns, modes=("manual_chat",))


def user_turn(index: int, text: str, expect: Expect | None = None, line: int = 1) -> Turn:
    return Turn(index=index, kind="user", messages=(Message("user", text),), expect=expect, loc=loc(line))


def fruit_transcript(second_reply: str = "Orange.") -> Transcript:
    h1 = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "My favourite fruit is orange."}]
    h2 = [*h1, {"role": "assistant", "content": "Noted."}, {"role": "user", "content": "What is it?"}]
    return build_transcript([chat(0, h1, "Noted.", turn=0), chat(1, h2, second_reply, turn=1)])


def test_all_expectations_pass() -> None:
    expect = Expect(
        reply=ReplyExpect(contains=("Orange",), not_contains=("Banana",), matches=r"^Or\w+\.$"),
        status="completed",
        context=ContextExpect(
            messages=3,
            roles=("user", "assistant", "user"),
            contains=("favourite   fruit",),
            equals=(
                Message("user", "My favourite fruit is orange."),
                Message("assistant", "Noted."),
                Message("user", "What is it?\n"),
            ),
            starts_with_compaction=False,
            instructions="Be brief.",
        ),
    )
    sc = scenario(user_turn(0, "My favourite fruit is orange."), user_turn(1, "What is it?", expect))
    assert check_turns(sc, "manual_chat", fruit_transcript()) == []


def test_reply_failures_point_at_their_yaml() -> None:
    expect = Expect(
        reply=ReplyExpect(contains=("Orange", "juice"), not_contains=("Ban",), matches=r"^Orange"),
        status="incomplete",
        locs={"reply": loc(20), "reply.contains": loc(21), "reply.not_contains": loc(22), "status": loc(24)},
    )
    sc = scenario(user_turn(0, "My favourite fruit is orange."), user_turn(1, "What is it?", expect, line=18))
    failures = check_turns(sc, "manual_chat", fruit_transcript("Banana."))
    assert [(f.check, f.message, f.loc, f.turn, f.mode) for f in failures] == [
        ("reply.contains", "reply does not contain 'Orange': got 'Banana.'", loc(21), 1, "manual_chat"),
        ("reply.contains", "reply does not contain 'juice': got 'Banana.'", loc(21), 1, "manual_chat"),
        ("reply.not_contains", "reply contains 'Ban': got 'Banana.'", loc(22), 1, "manual_chat"),
        # no `reply.matches` position recorded: falls back to `reply`
        ("reply.matches", "reply does not match /^Orange/: got 'Banana.'", loc(20), 1, "manual_chat"),
        ("status", "status is 'completed', expected 'incomplete'", loc(24), 1, "manual_chat"),
    ]
    assert failures[0].headline() == (
        "scenarios/fruit.convo.yaml:21: turn 2 [manual_chat]: reply does not contain 'Orange': got 'Banana.'"
    )


def test_context_equals_failure_has_a_deepdiff() -> None:
    expect = Expect(
        context=ContextExpect(
            equals=(
                Message("user", "My favourite fruit is orange."),
                Message("assistant", "Noted."),
                Message("user", "Orange."),
            )
        ),
        locs={"context": loc(30), "context.equals": loc(31)},
    )
    sc = scenario(user_turn(0, "x"), user_turn(1, "What is it?", expect))
    (failure,) = check_turns(sc, "manual_chat", fruit_transcript())
    assert failure.check == "context.equals"
    assert failure.loc == loc(31)
    assert failure.message == "context message 3 is user: 'What is it?', expected user: 'Orange.'"
    assert failure.diff == "root[2]['content']: 'Orange.' → 'What is it?'"


def test_context_equals_counts_and_roles_messages() -> None:
    expect = Expect(
        context=ContextExpect(
            messages=2,
            roles=("user", "user"),
            equals=(Message("user", "My favourite fruit is orange."), Message("assistant", "Noted.")),
            contains=("banana",),
            starts_with_compaction=True,
            instructions="Be long.",
        ),
    )
    turn1 = user_turn(1, "What is it?", expect, line=40)
    (messages, roles, contains, equals, starts, instructions) = check_turns(
        scenario(user_turn(0, "x"), turn1), "manual_chat", fruit_transcript()
    )
    assert (messages.check, messages.message, messages.loc) == (
        "context.messages",
        "context has 3 messages, expected 2 (roles: user, assistant, user)",
        loc(40),
    )
    assert roles.message == "context roles are [user, assistant, user], expected [user, user]"
    assert roles.diff == "root[1]: unexpected 'assistant'"
    assert contains.message == "no context message contains 'banana' (3 messages)"
    assert equals.message == "context has 3 messages, expected 2: unexpected message 3 user: 'What is it?'"
    assert equals.diff == "root[2]: unexpected {'role': 'user', 'content': 'What is it?'}"
    assert starts.message == (
        "context does not start with a compacted window: it starts with "
        "[user: 'My favourite fruit is orange.', assistant: 'Noted.', user: 'What is it?']"
    )
    assert instructions.message == "instructions are 'Be brief.', expected 'Be long.'"


def test_missing_message_in_equals() -> None:
    expect = Expect(context=ContextExpect(equals=(Message("user", "a"), Message("assistant", "b"))))
    t = build_transcript([chat(0, [{"role": "user", "content": "a"}], "b", turn=0)])
    (failure,) = check_turns(scenario(user_turn(0, "a", expect)), "manual_chat", t)
    assert failure.message == "context has 1 messages, expected 2: missing message 2 assistant: 'b'"


def test_starts_with_compaction_on_a_compacted_window() -> None:
    window = [typed_user("2+2?"), typed_user("3+3?"), compaction(), user("5+5?")]
    t = build_transcript([resp(0, {"input": window}, [out_msg("10")], turn=0)])
    ok = Expect(context=ContextExpect(starts_with_compaction=True, messages=3))
    bad = Expect(context=ContextExpect(starts_with_compaction=False))
    assert check_turns(scenario(user_turn(0, "5+5?", ok)), "manual_responses", t) == []
    (failure,) = check_turns(scenario(user_turn(0, "5+5?", bad)), "manual_responses", t)
    assert failure.message == (
        "context starts with a compacted window, expected it not to: it starts with "
        "[user: '2+2?', user: '3+3?', compaction, …]"
    )


def test_turn_without_a_model_call_and_failed_calls() -> None:
    t = build_transcript([resp(0, {"input": "hi"}, None, http=400, turn=0)])
    expect = Expect(reply=ReplyExpect(contains=("x",)), context=ContextExpect(messages=1))
    sc = scenario(user_turn(0, "hi", expect, line=5), user_turn(1, "again", line=9))
    failures = check_turns(sc, "manual_responses", t)
    assert [(f.check, f.message, f.loc, f.turn) for f in failures] == [
        ("reply", "the model call failed: HTTP 400: boom", loc(5), 0),
        ("turn", "no model call was made for turn 2 (user: 'again')", loc(9), 1),
    ]


def test_long_replies_are_cut_in_messages() -> None:
    long = "word " * 40
    t = build_transcript([chat(0, [{"role": "user", "content": "x"}], long, turn=0)])
    (failure,) = check_turns(
        scenario(user_turn(0, "x", Expect(reply=ReplyExpect(contains=("zzz",))))), "manual_chat", t
    )
    assert failure.message == "reply does not contain 'zzz': got '" + ("word " * 16)[:79] + "…'"


def test_helpers() -> None:
    ctx = [
        ContextItem("message", "user", "a"),
        ContextItem("compaction"),
        ContextItem("reasoning"),
        ContextItem("message", "developer", "d"),
        ContextItem("function_call", None, "f()"),
    ]
    assert count_messages(ctx) == 2
    assert starts_with_compaction(ctx) is True
    assert starts_with_compaction(ctx[2:]) is False
    assert starts_with_compaction([ContextItem("message", "assistant", "x"), ContextItem("compaction")]) is False
    assert starts_with_compaction([]) is False


def test_partial_context_fails_counts_orders_and_lists() -> None:
    # a conversation created outside this run (reused id): only this run's items are visible
    t = build_transcript(
        [
            resp(0, {"input": [user("My name is Ada.")], "conversation": "conv_reused"}, [out_msg("Hi")], turn=0),
            resp(1, {"input": [user("What is my name?")], "conversation": "conv_reused"}, [out_msg("Ada")], turn=1),
        ]
    )
    expect = Expect(
        context=ContextExpect(
            messages=3,
            roles=("user", "assistant", "user"),
            contains=("My name is Ada.",),
            equals=(
                Message("user", "My name is Ada."),
                Message("assistant", "Hi"),
                Message("user", "What is my name?"),
            ),
            starts_with_compaction=False,
        )
    )
    failures = check_turns(
        scenario(user_turn(0, "My name is Ada."), user_turn(1, "What is my name?", expect)), "conversation", t
    )
    why = (
        ": the context is partial — conversation conv_reused was created before this traffic; "
        "its earlier items are unknown (partial)"
    )
    assert [(f.check, f.message) for f in failures] == [
        ("context.messages", "context has at least 3 messages, expected 3 (roles: user, assistant, user)" + why),
        ("context.roles", "context roles are [… user, assistant, user], expected [user, assistant, user]" + why),
        ("context.equals", "context messages are as expected but follow unknown earlier items" + why),
        ("context.starts_with_compaction", "cannot tell how the context starts" + why),
    ]


def test_server_view_disagreement_is_a_failure() -> None:
    listing = {"object": "list", "data": [typed_user("not what was sent")], "has_more": False}
    t = build_transcript(
        [
            resp(0, {"input": [user("one")]}, [out_msg("a")], rid="resp_1", turn=0),
            other(1, "GET", "/v1/responses/resp_1/input_items", None, listing, query={"order": "asc"}),
        ]
    )
    (failure,) = check_turns(scenario(user_turn(0, "one", line=3)), "previous_response_id", t)
    assert (failure.check, failure.message, failure.loc) == (
        "context.server_view",
        "the server's input_items of resp_1 (exchange 1) differ from the input sent at item 1",
        loc(3),
    )


def test_check_across_modes_only_when_asked() -> None:
    from convotest.scenario.model import ContextExpect as CE

    where = SourceLoc(PATH, 4, 3)
    turns = (user_turn(0, "My favourite fruit is orange."), user_turn(1, "What is it?"))
    asked = Scenario(
        name="fruit",
        path=PATH,
        model="gpt-4o-mini",
        turns=turns,
        modes=("manual_responses", "manual_chat"),
        expect=Expect(context=CE(same_across_modes=True), locs={"context.same_across_modes": where}),
    )
    same = {"manual_chat": fruit_transcript(), "manual_responses": fruit_transcript()}
    assert check_across_modes(asked, same) == []
    h = [{"role": "user", "content": "My favourite fruit is orange."}]
    lost = build_transcript(
        [chat(0, h, "Noted.", turn=0), chat(1, [{"role": "user", "content": "What is it?"}], "?", turn=1)]
    )
    (failure,) = check_across_modes(asked, {"manual_chat": fruit_transcript(), "manual_responses": lost})
    # the scenario's own mode order decides the reference
    assert failure.message == (
        "context differs across modes at item 1 (1 vs 3 items): manual_responses has user: 'What is it?', "
        "manual_chat has user: 'My favourite fruit is orange.'"
    )
    assert (failure.loc, failure.turn, failure.mode) == (where, 1, "manual_chat")
    assert check_across_modes(scenario(*turns), {"manual_chat": fruit_transcript(), "manual_responses": lost}) == []
