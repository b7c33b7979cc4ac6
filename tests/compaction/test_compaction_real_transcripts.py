"""check_compaction_expectations on transcripts rebuilt (traffic + reconstruct) from real calibration traffic."""

from __future__ import annotations

from pathlib import Path

import pytest

from convotest.compaction import check_compaction_expectations
from convotest.scenario.model import Scenario
from convotest.transcript import Transcript

CASSETTES = Path(__file__).resolve().parents[2].parent / "shared" / "calibration" / "cassettes"
PREFIX = "pydantic__pydantic-ai__tests__models__cassettes__test_openai_responses__"

# Foreign traffic has no scenario turns: every call has turn None, so only the always-on checks apply.
FOREIGN = Scenario("foreign", "foreign.convo.yaml", "gpt-4.1", (), ("manual_responses",))


def _transcript(name: str) -> Transcript:
    path = CASSETTES / name
    if not path.is_file():
        pytest.skip(f"calibration cassette not available: {path}")
    from convotest.reconstruct import build_transcript
    from convotest.traffic import load_cassette_exchanges

    exchanges, _ = load_cassette_exchanges(path)
    return build_transcript(exchanges)


def test_stateless_compaction_real_transcript() -> None:
    transcript = _transcript(PREFIX + "test_openai_responses_compact_messages.yaml")
    assert [t.endpoint for t in transcript.turns] == ["responses", "responses", "compact", "responses"]
    failures = check_compaction_expectations(FOREIGN, "manual_responses", transcript)
    # The compact response itself is sound; pydantic-ai then sends only the compaction item back.
    assert [(f.check, f.turn, f.loc) for f in failures] == [("compaction.continuation", None, None)]
    assert failures[0].message.startswith(
        "after the compaction at call 3: $.input[0]: the next request sends the compaction item but not the 2 "
        "user message(s) the compact step kept"
    )


def test_server_side_compaction_real_transcript() -> None:
    transcript = _transcript(PREFIX + "test_openai_responses_compact_stateful_mode.yaml")
    assert any(o.get("type") == "compaction" for t in transcript.turns for o in t.output_items)
    assert check_compaction_expectations(FOREIGN, "manual_responses", transcript) == []
