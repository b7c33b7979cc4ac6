"""Must hold: in replay the network is never touched. A conftest in the project refuses every socket
connection and DNS lookup (and logs the attempt); replay of every mode passes under it in a process of its
own, and a request the cassette lacks fails with the drift message, never with a network attempt."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_helpers import CHAINED, GREETING, GUARD, failure_section, write_project


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replay needs no API key: run without one, as CI does."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_replay_of_every_mode_never_opens_a_connection(
    pytester: pytest.Pytester, xdist: list[str], recorded: Path, no_key: None
) -> None:
    """Manual, chained and conversation modes all replay with every connection refused."""
    root = write_project(pytester, {"greeting": GREETING, "chained": CHAINED}, cassettes=recorded, conftest=GUARD)
    result = pytester.runpytest_subprocess(*xdist, "--convo-emulator", "--convo-base-url=https://api.openai.com/v1")
    result.assert_outcomes(passed=4)
    assert not (root / "network_attempts.txt").exists()


def test_the_guard_catches_a_recording(pytester: pytest.Pytester, no_key: None) -> None:
    """The guard is real: a run that must record (cassette missing, 'once') is stopped by it."""
    root = write_project(pytester, conftest=GUARD)
    result = pytester.runpytest_inprocess("--convo-record-mode=once", "--convo-base-url=http://127.0.0.1:9/v1")
    result.assert_outcomes(failed=2)
    assert "('127.0.0.1', 9)" in (root / "network_attempts.txt").read_text()
    assert not (root / "cassettes").exists()


def test_a_request_missing_from_the_cassette_is_drift_not_a_connection(
    pytester: pytest.Pytester, recorded: Path, no_key: None
) -> None:
    """A turn added after recording fails as drift: the cassette has no third request to play."""
    longer = GREETING + '  - user: "Orange who?"\n'
    root = write_project(pytester, {"greeting": longer}, cassettes=recorded, conftest=GUARD)
    result = pytester.runpytest_inprocess("greeting.convo.yaml::greeting[manual_chat]")
    result.assert_outcomes(failed=1)
    assert failure_section(result.stdout.lines, "greeting [manual_chat]") == [
        "greeting.convo.yaml:16: turn 3 [manual_chat]: the request sent differs from the recording "
        "(the scenario or the code changed)",
        "    turn 3 (greeting.convo.yaml:16): user: 'Orange who?'",
        "    no recorded response matches POST /v1/chat/completions",
        "    cassette cassettes/greeting/greeting/manual_chat.yaml: 2 interactions recorded, "
        "2 replayed before this request",
        "    every recorded interaction was already replayed: this run sends more requests than recorded",
        "    to re-record: pytest 'greeting.convo.yaml::greeting[manual_chat]' --convo-record-mode=rewrite "
        "--convo-emulator",
    ]
    assert not (root / "network_attempts.txt").exists()
