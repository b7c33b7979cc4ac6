"""compaction_report: tokens before/after, the compact call's cost, and when it pays for itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from convotest.compaction import CompactionStep, compaction_report
from convotest.transcript import Exchange, TokenInfo, Transcript, TurnRecord, Usage


def _record(index: int, turn: int | None, endpoint: str, usage: Usage | None) -> TurnRecord:
    exchange = Exchange(index=index, method="POST", path="/v1/responses", turn=turn)
    return TurnRecord(
        index=index,
        endpoint=endpoint,  # type: ignore[arg-type]
        turn=turn,
        exchange=exchange,
        request={},
        response={"output": []},
        http_status=200,
        context=[],
        instructions=None,
        reply=None,
        status="completed",
        output_items=[],
        usage=usage,
        model="gpt-4.1",
        carried_by=endpoint,
    )


def _u(inp: int, out: int) -> Usage:
    return Usage(inp, out, inp + out)


def _transcript(*calls: tuple[str, Usage | None]) -> Transcript:
    records = [_record(i, i, endpoint, usage) for i, (endpoint, usage) in enumerate(calls)]
    return Transcript(records, [r.exchange for r in records])


def test_step_numbers() -> None:
    transcript = _transcript(
        ("responses", _u(400, 50)),
        ("responses", _u(1000, 60)),
        ("compact", _u(1100, 120)),
        ("responses", _u(300, 40)),
        ("responses", _u(380, 40)),
    )
    (step,) = compaction_report(transcript)
    assert step == CompactionStep(
        index=2, turn=2, tokens_before=1000, tokens_after=300, cost_input=1100, cost_output=120
    )
    assert (step.cost, step.savings_per_turn, step.turns_to_pay_off) == (1220, 700, 2)
    assert step.describe() == (
        "compact at turn 3: input 1,000 → 300 tokens (-700/turn), cost 1,220 tokens (1,100 in + 120 out), "
        "pays for itself after 2 turns"
    )


@pytest.mark.parametrize(
    ("before", "after", "cost", "turns"),
    [(1000, 800, (450, 50), 3), (1000, 500, (400, 100), 1), (1000, 999, (10, 0), 10), (1000, 1, (1, 0), 1)],
)
def test_turns_to_pay_off(before: int, after: int, cost: tuple[int, int], turns: int) -> None:
    step = CompactionStep(0, 0, before, after, *cost)
    assert step.turns_to_pay_off == turns
    # After that many turns the savings cover the cost, one turn earlier they do not.
    assert step.savings_per_turn is not None and step.cost is not None
    assert turns * step.savings_per_turn >= step.cost > (turns - 1) * step.savings_per_turn


def test_context_that_grows_never_pays() -> None:
    step = CompactionStep(index=2, turn=2, tokens_before=51, tokens_after=298, cost_input=156, cost_output=190)
    assert (step.savings_per_turn, step.turns_to_pay_off) == (-247, None)
    assert step.describe() == (
        "compact at turn 3: input 51 → 298 tokens (+247/turn), cost 346 tokens (156 in + 190 out), "
        "never pays for itself"
    )
    assert CompactionStep(0, 0, 100, 100, 5, 5).turns_to_pay_off is None


def test_missing_numbers() -> None:
    transcript = _transcript(("compact", None), ("responses", None))
    (step,) = compaction_report(transcript)
    assert (step.tokens_before, step.tokens_after, step.cost) == (None, None, None)
    assert step.describe() == "compact at turn 1: input ? → ? tokens, cost unknown, payback unknown"
    foreign = CompactionStep(index=4, turn=None, tokens_before=10, tokens_after=None, cost_input=1, cost_output=1)
    assert foreign.describe() == "compact (call 5): input 10 → ? tokens, cost 2 tokens (1 in + 1 out), payback unknown"


def test_reported_input_falls_back_to_token_info_and_skips_compact_neighbours() -> None:
    transcript = _transcript(
        ("responses", None), ("compact", _u(10, 5)), ("compact", _u(8, 4)), ("responses", _u(70, 1))
    )
    # No usage on the call before: the reported input from token accounting is used instead.
    transcript.turns[0].tokens = _token_info(90)
    steps = compaction_report(transcript)
    assert [(s.index, s.tokens_before, s.tokens_after, s.cost) for s in steps] == [(1, 90, 70, 15), (2, 90, 70, 12)]
    assert compaction_report(_transcript(("responses", _u(1, 1)))) == []


def _token_info(reported: int) -> TokenInfo:
    return TokenInfo(
        estimate=reported,
        reported_input=reported,
        cached=0,
        output=1,
        reasoning=0,
        total=reported + 1,
        context_window=1000,
        max_output_tokens=100,
        window_used=reported / 1000,
        headroom=1000 - reported - 100,
        billed_input=reported,
        truncated=False,
    )


CASSETTE = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "calibration"
    / "cassettes"
    / (
        "pydantic__pydantic-ai__tests__models__cassettes__test_openai_responses__"
        "test_openai_responses_compact_messages.yaml"
    )
)


def test_report_on_real_traffic() -> None:
    if not CASSETTE.is_file():
        pytest.skip(f"calibration cassette not available: {CASSETTE}")
    from convotest.reconstruct import build_transcript
    from convotest.traffic import load_cassette_exchanges

    exchanges, _ = load_cassette_exchanges(CASSETTE)
    transcript = build_transcript(exchanges)
    (step,) = compaction_report(transcript)
    # Real numbers: 51 input tokens before, 298 after (the compaction item is not free), 156 + 190 to compact.
    assert (step.index, step.tokens_before, step.tokens_after, step.cost_input, step.cost_output) == (
        2,
        51,
        298,
        156,
        190,
    )
    assert step.turns_to_pay_off is None
    assert step.describe() == (
        "compact (call 3): input 51 → 298 tokens (+247/turn), cost 346 tokens (156 in + 190 out), never pays for itself"
    )
