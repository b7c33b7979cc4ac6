"""annotate / check_tokens / project / format_token_table on hand-built transcripts."""

from __future__ import annotations

import pytest
from tokens_helpers import FILE, loc, msg, record, scenario, transcript, usage

from convotest.errors import ConfigError
from convotest.reconstruct import build_transcript
from convotest.scenario.model import Limits, TokensExpect
from convotest.tokens import (
    ModelLimits,
    annotate,
    check_tokens,
    count_request_tokens,
    format_token_table,
    model_limits,
    project,
)
from convotest.transcript import ContextItem, Exchange, TurnRecord

Q = "What is the capital of France?"  # 7 tokens
A = "The capital is Paris."  # 5 tokens
GPT4O = model_limits("gpt-4o")


def three_turns() -> list[TurnRecord]:
    hw = msg("user", "hello world")
    return [
        record(0, [hw], usage=usage(9, 5)),  # 6 + 3
        record(1, [hw, msg("assistant", A), msg("user", Q)], usage=usage(29, 7, cached=9)),  # 6 + 9 + 11 + 3
        record(
            2,
            [hw, msg("assistant", A), msg("user", Q), msg("assistant", A), msg("user", "hello world")],
            usage=usage(50, 16, reasoning=4),
            status="incomplete",
            request={"max_output_tokens": 16},
        ),  # 29 + 9 + 6 = 44 estimated; the server said 50
    ]


def test_annotate_fills_every_field() -> None:
    t = transcript(*three_turns())
    annotate(t, limits=GPT4O)
    infos = [r.tokens for r in t.turns]
    assert all(i is not None for i in infos)
    first, second, third = (i for i in infos if i is not None)
    assert (first.estimate, first.reported_input, first.output, first.cached) == (9, 9, 5, 0)
    assert (second.estimate, second.reported_input, second.cached) == (29, 29, 9)
    assert (third.estimate, third.reported_input, third.reasoning, third.total) == (44, 50, 4, 66)
    assert first.context_window == 128_000 and first.max_input_tokens is None
    assert first.window_used == pytest.approx(9 / 128_000)
    # headroom = window − input − max output (the model's 16,384 unless the request asked for less)
    assert first.max_output_tokens == 16_384
    assert first.headroom == 128_000 - 9 - 16_384
    assert third.max_output_tokens == 16
    assert third.headroom == 128_000 - 50 - 16
    assert [i.billed_input for i in (first, second, third)] == [9, 38, 88]
    assert [i.truncated for i in (first, second, third)] == [False, False, True]


def test_instructions_count_as_a_system_message() -> None:
    t = transcript(record(0, [msg("user", "hello world")], instructions="Be brief."))  # + 3 + 1 + 3
    annotate(t, limits=GPT4O)
    assert t.turns[0].tokens is not None and t.turns[0].tokens.estimate == 9 + 7


def test_chat_leading_system_message_is_counted_once() -> None:
    # reconstruct moves a Chat request's leading system message into ``instructions``.
    rec = record(
        0,
        [msg("user", "hello world")],
        endpoint="chat",
        instructions="Be brief.",
        request={"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello world"}]},
        usage=usage(16),
    )
    annotate(transcript(rec), limits=GPT4O)
    assert rec.tokens is not None and rec.tokens.estimate == 16 == rec.tokens.reported_input


def test_chat_tool_calls_split_by_reconstruct_are_counted_once() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    raw_msg = {"role": "assistant", "content": A, "tool_calls": [call]}
    ctx = [
        msg("user", Q),
        ContextItem("message", "assistant", A, raw_msg),
        ContextItem("function_call", None, 'get_weather({"city":"Paris"})', call),
    ]
    rec = record(0, ctx, endpoint="chat")
    annotate(transcript(rec), limits=GPT4O)
    # user 11 + assistant 9 + call (3 + 5 + name 2 + arguments 5) + 3
    assert rec.tokens is not None and rec.tokens.estimate == 11 + 9 + 15 + 3


def test_max_output_from_params_when_the_request_has_none() -> None:
    t = transcript(record(0, [msg("user", "hello world")], usage=usage(9)))
    annotate(t, limits=GPT4O, params={"max_output_tokens": 300})
    assert t.turns[0].tokens is not None and t.turns[0].tokens.max_output_tokens == 300
    t = transcript(record(0, [msg("user", "x")], request={"max_completion_tokens": 40}, endpoint="chat"))
    annotate(t, limits=GPT4O, params={"max_output_tokens": 300})
    assert t.turns[0].tokens is not None and t.turns[0].tokens.max_output_tokens == 40


def test_chat_finish_reason_length_is_truncated() -> None:

    cut = {"index": 1, "finish_reason": "length", "message": {"role": "assistant", "content": "Par"}}
    whole = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Paris."}}
    exchanges = [
        Exchange(
            index=i,
            method="POST",
            path="/v1/chat/completions",
            request={"model": "gpt-4o", "messages": [{"role": "user", "content": Q}], "n": len(choices)},
            response={"choices": choices},
        )
        for i, choices in enumerate([[whole], [whole, cut]])
    ]
    t = build_transcript(exchanges)
    annotate(t, limits=GPT4O)
    assert [r.tokens.truncated if r.tokens else None for r in t.turns] == [False, True]


def test_billed_input_counts_compact_calls_and_skips_failures() -> None:
    recs = [
        record(0, [msg("user", "hello world")], usage=usage(100)),
        record(1, [msg("user", "hello world")], endpoint="compact", turn=1, usage=usage(193)),
        record(2, [msg("user", "hello world")], http_status=400, status=None),  # not billed
        record(3, [msg("user", "hello world")]),  # succeeded, no usage reported: the estimate (9)
    ]
    annotate(transcript(*recs), limits=GPT4O)
    assert [r.tokens.billed_input for r in recs if r.tokens] == [100, 293, 293, 302]
    assert recs[2].tokens is not None and recs[2].tokens.reported_input is None


def test_the_limits_encoding_is_used() -> None:
    # "Sunny" is 1 o200k token and 2 cl100k tokens
    rec = record(0, [msg("user", "Sunny")], model="my-model")
    annotate(transcript(rec), limits=ModelLimits(8_000, 1_000, None, "cl100k_base"))
    assert rec.tokens is not None and rec.tokens.estimate == 3 + 1 + 2 + 3
    annotate(transcript(rec), limits=ModelLimits(8_000, 1_000))
    assert rec.tokens.estimate == 3 + 1 + 1 + 3


def test_limits_per_call_model_and_unknown_models() -> None:
    t = transcript(record(0, [msg("user", "x")], model="gpt-5-mini-2025-08-07"))
    annotate(t)
    assert t.turns[0].tokens is not None
    assert (t.turns[0].tokens.context_window, t.turns[0].tokens.max_input_tokens) == (400_000, 272_000)
    with pytest.raises(ConfigError, match=r"unknown model 'gpt-5\.4'"):
        annotate(transcript(record(0, [msg("user", "x")], model="gpt-5.4")))


# --- check_tokens ---------------------------------------------------------------------------------------


def annotated(
    inputs: list[int], *, limits: ModelLimits = GPT4O, outputs: int = 10, model: str = "gpt-4o"
) -> list[TurnRecord]:
    recs = [
        record(i, [msg("user", "hello world")], usage=usage(n, outputs, reasoning=3), model=model)
        for i, n in enumerate(inputs)
    ]
    annotate(transcript(*recs), limits=limits)
    return recs


def test_turn_level_input_max_message_turn_and_location() -> None:
    s = scenario([None, TokensExpect(input_max=1_000)], turn_locs={"tokens.input_max": loc(17)})
    failures = check_tokens(s, "manual_responses", transcript(*annotated([500, 1_204])))
    assert len(failures) == 1
    f = failures[0]
    assert (f.check, f.message, f.turn, f.mode, f.loc) == (
        "tokens.input_max",
        "input 1,204 tokens > input_max 1,000",
        1,
        "manual_responses",
        loc(17),
    )
    assert f.headline() == f"{FILE}:17: turn 2 [manual_responses]: input 1,204 tokens > input_max 1,000"


def test_scenario_level_expectations_apply_to_every_turn() -> None:
    s = scenario([None, None, None], scenario_expect=TokensExpect(input_max=1_000))
    failures = check_tokens(s, "conversation", transcript(*annotated([900, 1_001, 2_000])))
    assert [(f.turn, f.message, f.loc) for f in failures] == [
        (1, "input 1,001 tokens > input_max 1,000", loc(3)),
        (2, "input 2,000 tokens > input_max 1,000", loc(3)),
    ]


def test_every_bound_and_its_message() -> None:
    exp = TokensExpect(
        input_max=10,
        input_min=5_000,
        output_max=5,
        reasoning_max=2,
        total_max=100,
        headroom_min=120_000,
        window_used_max=0.01,
        billed_input_max=1_000,
        estimate_tolerance=3,
    )
    s = scenario([exp])
    failures = check_tokens(s, "manual_chat", transcript(*annotated([1_500])))
    got = {f.check: f.message for f in failures}
    assert got == {
        "tokens.input_max": "input 1,500 tokens > input_max 10",
        "tokens.input_min": "input 1,500 tokens < input_min 5,000",
        "tokens.output_max": "output 10 tokens > output_max 5",
        "tokens.reasoning_max": "reasoning 3 tokens > reasoning_max 2",
        "tokens.total_max": "total 1,510 tokens > total_max 100",
        "tokens.headroom_min": (
            "headroom 110,116 tokens < headroom_min 120,000 (window 128,000 − input 1,500 − max output 16,384, gpt-4o)"
        ),
        "tokens.window_used_max": "window used 1.2% > window_used_max 1% (input 1,500 of 128,000, gpt-4o)",
        "tokens.billed_input_max": "billed input 1,500 tokens so far > billed_input_max 1,000",
        "tokens.estimate_tolerance": "estimate 9 tokens differs from reported 1,500 by 1,491 > estimate_tolerance 3",
    }
    # no location for the keys: the turn's own
    assert {f.loc for f in failures} == {loc(10)}


def test_bounds_that_hold_give_no_failure() -> None:
    exp = TokensExpect(
        input_max=9,
        input_min=9,
        output_max=10,
        reasoning_max=3,
        total_max=19,
        headroom_min=1_000,
        window_used_max=0.5,
        billed_input_max=9,
        estimate_tolerance=0,
    )
    assert check_tokens(scenario([exp]), "manual_chat", transcript(*annotated([9]))) == []


def test_window_overflow_is_reported_without_an_expectation() -> None:
    s = scenario([None] * 7)
    recs = annotated([1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 131_204])
    failures = check_tokens(s, "previous_response_id", transcript(*recs))
    assert len(failures) == 1
    f = failures[0]
    assert f.check == "tokens.window"
    assert f.headline() == (f"{FILE}:40: turn 7 [previous_response_id]: input 131,204 tokens > window 128,000 (gpt-4o)")


def test_gpt5_overflow_names_the_input_limit() -> None:
    recs = annotated([280_000], limits=model_limits("gpt-5"), model="gpt-5")
    failures = check_tokens(scenario([None], model="gpt-5"), "manual_responses", transcript(*recs))
    assert [f.message for f in failures] == ["input 280,000 tokens > input limit 272,000 (gpt-5)"]


def test_a_failed_overflowing_call_is_reported_from_the_estimate() -> None:
    # the server refused the call (400 context_length_exceeded): no usage, the local count shows by how much
    # "hello world " × 20 is 41 tokens (2 a repetition, and the trailing space): 3 + 1 + 41 + 3 = 48
    rec = record(0, [msg("user", "hello world " * 20)], http_status=400, status=None)
    annotate(transcript(rec), limits=ModelLimits(40, 16))
    failures = check_tokens(scenario([None], limits=Limits(context_window=40)), "manual_chat", transcript(rec))
    assert [f.message for f in failures] == [
        "input 48 tokens > window 40 (gpt-4o) — estimated locally, the call reported no usage"
    ]


def test_check_tokens_annotates_with_the_scenario_limits() -> None:
    recs = [record(0, [msg("user", "hello world")], usage=usage(600))]
    s = scenario([TokensExpect(headroom_min=0)], limits=Limits(context_window=1_000, max_output_tokens=500))
    failures = check_tokens(s, "manual_chat", transcript(*recs))
    assert recs[0].tokens is not None and recs[0].tokens.context_window == 1_000
    assert [f.check for f in failures] == ["tokens.headroom_min"]
    assert "headroom -100 tokens < headroom_min 0" in failures[0].message


def test_turns_without_a_model_call_are_skipped() -> None:
    s = scenario([TokensExpect(input_max=1), TokensExpect(input_max=1)])
    failures = check_tokens(s, "manual_chat", transcript(*annotated([5])))
    assert [f.turn for f in failures] == [0]


def test_checks_use_the_last_call_of_a_turn() -> None:
    recs = [
        record(0, [msg("user", "hello world")], turn=0, usage=usage(5_000)),
        record(1, [msg("user", "hello world")], turn=0, endpoint="compact", usage=usage(50)),
    ]
    annotate(transcript(*recs), limits=GPT4O)
    assert check_tokens(scenario([TokensExpect(input_max=100)]), "manual_responses", transcript(*recs)) == []


# --- projection ---------------------------------------------------------------------------------------


def test_projection_from_linear_growth() -> None:
    recs = annotated([10_000 + 1_000 * i for i in range(8)])  # turn 8 at 17,000, +1,000 per turn
    p = project(transcript(*recs), GPT4O)
    assert (p.last_turn, p.last_input, p.limit) == (8, 17_000, 128_000)
    assert p.growth == pytest.approx(1_000.0)
    # 17,000 + 1,000 × 111 = 128,000 is not over; one more turn is
    assert p.crossing_turn == 8 + 112
    assert p.compact_threshold == 127_000
    assert p.describe() == (
        "projection: input 17,000 at turn 8, growing 1,000 tokens/turn: crosses the window 128,000 (gpt-4o) "
        "at turn 120; compact_threshold 127,000 would keep it under"
    )


def test_projection_against_a_window_fraction_and_recent_growth() -> None:
    # slow start, then +5,000 a turn over the last five turns: the fit uses those
    recs = annotated([1_000, 1_100, 1_200, 5_000, 10_000, 15_000, 20_000, 25_000])
    p = project(transcript(*recs), GPT4O, window_used_max=0.5)
    assert p.limit == 64_000 and p.limit_label == "50% of the window"
    assert p.growth == pytest.approx(5_000.0)
    assert p.crossing_turn == 8 + 8  # 25,000 + 8 × 5,000 = 65,000 > 64,000
    assert p.compact_threshold == 59_000


def test_projection_restarts_after_a_compaction() -> None:
    recs = [
        record(0, [msg("user", "a")], turn=0, usage=usage(1_000)),
        record(1, [msg("user", "a")], turn=1, usage=usage(3_000)),
        record(2, [msg("user", "a")], turn=2, usage=usage(5_000)),
        record(3, [msg("user", "a")], turn=3, endpoint="compact", usage=usage(5_200)),  # a compact step
        record(4, [msg("user", "a")], turn=4, usage=usage(800)),
        record(5, [msg("user", "a")], turn=5, usage=usage(1_300)),
        record(6, [msg("user", "a")], turn=6, usage=usage(1_800)),
    ]
    t = transcript(*recs)
    annotate(t, limits=GPT4O)
    p = project(t, GPT4O)
    assert p.inputs == (1_000, 3_000, 5_000, 800, 1_300, 1_800)  # the compact call is not a step
    assert p.growth == pytest.approx(500.0)  # fitted since the drop, not across it
    # right after the drop, the rate before it stands in
    p = project(transcript(*recs[:5]), GPT4O)
    assert p.growth == pytest.approx(2_000.0)
    assert p.last_input == 800 and p.last_turn == 5


def test_projection_not_growing_and_already_over() -> None:
    flat = project(transcript(*annotated([500, 500, 500])), GPT4O)
    assert flat.crossing_turn is None
    assert flat.describe() == "projection: input 500 at turn 3, not growing; stays under the window 128,000 (gpt-4o)"
    over = project(transcript(*annotated([100_000, 130_000])), GPT4O)
    assert over.crossing_turn == 2
    assert over.describe().startswith("projection: input 130,000 at turn 2 is already over the window 128,000")


def test_projection_without_a_possible_threshold() -> None:
    small = ModelLimits(2_000, 100)
    p = project(transcript(*annotated([100, 1_600], limits=small)), small)  # 2,000 − 1,500 < 1,000
    assert p.compact_threshold is None
    assert p.describe().endswith("no compact_threshold can keep it under (one turn adds too much)")


def test_projection_needs_annotated_calls() -> None:
    with pytest.raises(ValueError, match="annotate"):
        project(transcript(record(0, [msg("user", "x")])), GPT4O)


# --- table ------------------------------------------------------------------------------------------


def test_token_table() -> None:
    recs = three_turns()
    recs.append(record(3, [msg("user", "x")], http_status=400, status=None))
    t = transcript(*recs)
    annotate(t, limits=GPT4O)
    t.turns.append(record(4, [msg("user", "x")]))  # not annotated
    lines = format_token_table(t).splitlines()
    assert lines[0].split() == [
        "turn",
        "endpoint",
        "estimate",
        "input",
        "cached",
        "output",
        "reasoning",
        "window",
        "headroom",
        "billed",
        "cut",
    ]
    assert lines[1].split() == ["1", "responses", "9", "9", "0", "5", "0", "0.0%", "111,607", "9"]
    assert lines[3].split() == ["3", "responses", "44", "50", "0", "16", "4", "0.0%", "127,934", "88", "cut"]
    # a refused call: estimate 3 + 1 + 1 + 3, nothing reported or billed
    assert lines[4].split() == ["4", "responses", "8", "-", "-", "-", "-", "0.0%", "111,608", "88"]
    assert lines[5].split() == ["5", "responses", *["-"] * 9]
    assert len({len(line.rstrip()) for line in lines[:4]}) <= 2  # columns line up


def test_a_message_with_an_image_after_the_same_text_alone_counts_its_image() -> None:

    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "high"}}
    requests = [
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "look"}]},
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "user", "content": "look"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [{"type": "text", "text": "look"}, image]},
            ],
        },
    ]
    reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}
    exchanges = [
        Exchange(index=i, method="POST", path="/v1/chat/completions", request=body, response=reply)
        for i, body in enumerate(requests)
    ]
    t = build_transcript(exchanges)
    annotate(t, limits=GPT4O)
    estimates = [r.tokens.estimate if r.tokens else None for r in t.turns]
    assert estimates == [count_request_tokens("/v1/chat/completions", body) for body in requests]
    assert estimates[1] is not None and estimates[1] > 700  # the high-detail image
