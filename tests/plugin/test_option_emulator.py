"""``--convo-emulator`` (ini ``convotest_emulator``): start the built-in emulator for the session and
record from it; recorded URIs name it ``emulator.convotest`` whatever its port; replay never starts it."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_helpers import CONFTEST, WATCH_EMULATOR, cassette, emulator_log, uris, write_project


def test_records_from_the_emulator(pytester: pytest.Pytester, xdist: list[str]) -> None:
    """Both items record through a session emulator; the cassettes name the emulator, not its port."""
    root = write_project(pytester, conftest=CONFTEST + WATCH_EMULATOR)
    pytester.runpytest_inprocess(*xdist, "--convo-emulator", "--convo-record-mode=once").assert_outcomes(passed=2)
    assert uris(cassette(root, "greeting", "manual_chat")) == ["http://emulator.convotest/v1/chat/completions"] * 2
    assert uris(cassette(root, "greeting", "manual_responses")) == ["http://emulator.convotest/v1/responses"] * 2
    assert emulator_log(root) == {
        "greeting.convo.yaml::greeting[manual_chat]": True,
        "greeting.convo.yaml::greeting[manual_responses]": True,
    }


def test_replay_does_not_start_it(pytester: pytest.Pytester, recorded: Path) -> None:
    """With record mode 'none' there is nothing to record: the emulator is not started."""
    root = write_project(pytester, cassettes=recorded, conftest=CONFTEST + WATCH_EMULATOR)
    pytester.runpytest_inprocess("--convo-emulator").assert_outcomes(passed=2)
    assert set(emulator_log(root).values()) == {False}


def test_from_the_ini_file(pytester: pytest.Pytester) -> None:
    """``convotest_emulator = true`` with ``convotest_record_mode = once`` records with no option given."""
    root = write_project(pytester, ini="convotest_emulator = true\nconvotest_record_mode = once\n")
    pytester.runpytest_inprocess().assert_outcomes(passed=2)
    assert uris(cassette(root, "greeting", "manual_chat"))[0] == "http://emulator.convotest/v1/chat/completions"
