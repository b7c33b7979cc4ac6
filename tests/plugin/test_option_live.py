"""``--convo-live`` (ini ``convotest_live``): no cassettes at all; every request goes to the server."""

from __future__ import annotations

import pytest
from plugin_helpers import CHAINED, GREETING, cassette, write_project


def test_live_runs_against_the_server_and_writes_no_cassette(pytester: pytest.Pytester, xdist: list[str]) -> None:
    """Every mode passes live against the emulator; no cassette folder appears."""
    root = write_project(pytester, {"greeting": GREETING, "chained": CHAINED})
    pytester.runpytest_inprocess(*xdist, "--convo-live", "--convo-emulator").assert_outcomes(passed=4)
    assert not (root / "cassettes").exists()


def test_live_never_reads_cassettes(pytester: pytest.Pytester) -> None:
    """A broken cassette in place is ignored (replay would fail on it), even with a record mode given."""
    root = write_project(pytester)
    broken = cassette(root, "greeting", "manual_chat")
    broken.parent.mkdir(parents=True)
    broken.write_text("interactions: [unterminated\n")
    assert pytester.runpytest_inprocess().ret == pytest.ExitCode.TESTS_FAILED
    result = pytester.runpytest_inprocess("--convo-live", "--convo-emulator", "--convo-record-mode=rewrite")
    result.assert_outcomes(passed=2)
    assert broken.read_text() == "interactions: [unterminated\n"
    assert not cassette(root, "greeting", "manual_responses").exists()


def test_live_from_the_ini_file(pytester: pytest.Pytester) -> None:
    """``convotest_live = true`` with ``convotest_emulator = true``: a live run with no option given."""
    root = write_project(pytester, ini="convotest_live = true\nconvotest_emulator = true\n")
    pytester.runpytest_inprocess().assert_outcomes(passed=2)
    assert not (root / "cassettes").exists()
