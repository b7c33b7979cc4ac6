"""Issue 6's must-hold scenarios, run end to end against the emulator through the runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from convotest.emulator.server import EmulatorServer
from convotest.runner import Settings, run
from convotest.scenario.loader import load_text

OVERFLOW = """\
version: 1
name: overflow
model: gpt-4o
modes: [manual_chat, previous_response_id]
limits: {context_window: 120, max_output_tokens: 16}
turns:
  - user: "Tell me about the history of the bicycle in a few sentences."
  - user: "And the history of the tricycle, too, please."
  - user: "And unicycles?"
"""

CUT = """\
version: 1
name: cut
model: gpt-4o-mini
modes: [manual_chat, manual_responses]
params: {max_output_tokens: 16}
turns:
  - user: "Please write 200 words about the sea."
    expect:
      status: completed
"""


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    with EmulatorServer() as server:
        yield server.base_url


@pytest.mark.parametrize("mode", ["manual_chat", "previous_response_id"])
def test_a_conversation_that_outgrows_a_small_window_fails_at_the_turn(
    tmp_path: Path, emulator: str, mode: str
) -> None:
    path = tmp_path / "overflow.convo.yaml"
    (scenario,) = load_text(OVERFLOW, str(path))
    result = run(scenario, mode, Settings(live=True, base_url=emulator))
    assert [f.headline() for f in result.failures] == [
        f"{path}:9: turn 3 [{mode}]: input 138 tokens > window 120 (gpt-4o)"
    ]
    assert (
        "projection: input 138 at turn 3 is already over the window 120 (gpt-4o); "
        "no compact_threshold can keep it under (one turn adds too much)"
    ) in result.notes


@pytest.mark.parametrize("mode", ["manual_chat", "manual_responses"])
def test_an_answer_cut_by_max_output_tokens_is_reported(tmp_path: Path, emulator: str, mode: str) -> None:
    path = tmp_path / "cut.convo.yaml"
    (scenario,) = load_text(CUT, str(path))
    result = run(scenario, mode, Settings(live=True, base_url=emulator))
    reason = " (reason: max_output_tokens)" if mode == "manual_responses" else ""
    assert [f.headline() for f in result.failures] == [
        f"{path}:9: turn 1 [{mode}]: status is 'incomplete'{reason}, expected 'completed'"
    ]
    record = result.transcript.turns[0] if result.transcript else None
    assert record is not None and record.tokens is not None and record.tokens.truncated
    assert record.tokens.output == 16
    cut = [n for n in result.notes if "output cut" in n]
    detail = ", reason max_output_tokens" if mode == "manual_responses" else ""
    assert cut == [f"turn 1: output cut at 16 tokens (status incomplete{detail}; max output 16)"]
