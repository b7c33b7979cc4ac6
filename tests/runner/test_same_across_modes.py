"""``context.same_across_modes``: each mode's item compares itself with the other modes' cassettes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from convotest.recording.paths import cassette_path
from convotest.runner import Settings, run
from convotest.scenario.loader import load_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def knock_knock(tmp_path: Path) -> Path:
    target = tmp_path / "knock_knock.convo.yaml"
    shutil.copy(ROOT / "scenarios" / "knock_knock.convo.yaml", target)
    return target


def test_modes_that_saw_the_same_context_agree(tmp_path: Path, knock_knock: Path) -> None:
    scenario = load_file(knock_knock)[0]
    record = Settings(record_mode="rewrite", emulator=True, cassette_dir=tmp_path / "c")
    for mode in ("manual_chat", "conversation"):
        assert run(scenario, mode, record).failures == []
    replay = Settings(cassette_dir=tmp_path / "c")
    assert run(scenario, "manual_chat", replay).failures == []


def test_a_mode_whose_recorded_context_differs_is_reported(tmp_path: Path, knock_knock: Path) -> None:
    scenario = load_file(knock_knock)[0]
    record = Settings(record_mode="rewrite", emulator=True, cassette_dir=tmp_path / "c")
    for mode in ("manual_chat", "conversation"):
        assert run(scenario, mode, record).failures == []
    # Hand-edit what the conversation mode's model replied at turn 1: its turn-2 context now differs.
    other = cassette_path(tmp_path / "c", "knock_knock", "knock_knock", "conversation")
    text = other.read_text()
    assert text.count("I have seen 3 messages.") >= 1
    other.write_text(text.replace("I have seen 3 messages.", "I have seen 4 messages.", 1))

    result = run(scenario, "manual_chat", Settings(cassette_dir=tmp_path / "c"))
    assert [f.check for f in result.failures] == ["context.same_across_modes"]
    failure = result.failures[0]
    assert failure.headline() == (
        f"{knock_knock}:11: turn 2 [conversation]: context differs across modes at item 4: manual_chat has "
        "assistant: 'I have seen 3 messages. You first said: \"knock knock.\". You…', conversation has "
        "assistant: 'I have seen 4 messages. You first said: \"knock knock.\". You…'"
    )
