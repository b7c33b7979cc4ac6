"""``--convo-full-trace`` (ini ``convotest_full_trace``): a failed scenario shows the Python traceback
under its message; without it only the message is shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_helpers import GREETING, failure_section, write_project

WRONG = GREETING.replace('"I have seen 3 messages."', '"I have seen 4 messages."')
MESSAGE = (
    "greeting.convo.yaml:13: turn 2 [manual_chat]: reply does not contain 'I have seen 4 messages.': "
    'got \'I have seen 3 messages. You first said: "Knock knock.". You just said: "Orange.…\''
)
CHAT = "greeting.convo.yaml::greeting[manual_chat]"


def test_full_trace_shows_the_traceback(pytester: pytest.Pytester, xdist: list[str], recorded: Path) -> None:
    """The traceback ends in the item's call into the runner, then the same message."""
    write_project(pytester, {"greeting": WRONG}, cassettes=recorded)
    result = pytester.runpytest_inprocess(*xdist, "--convo-full-trace", CHAT)
    result.assert_outcomes(failed=1)
    lines = result.stdout.lines
    assert any(line.strip().startswith("def _run_item(") for line in lines)
    assert any(line.startswith("E ") and line.endswith("ScenarioFailed: " + MESSAGE) for line in lines)
    assert any(line.endswith(": ScenarioFailed") and "plugin.py:" in line for line in lines)


def test_full_trace_from_the_ini_file(pytester: pytest.Pytester, recorded: Path) -> None:
    """``convotest_full_trace = true`` in the ini file does the same."""
    write_project(pytester, {"greeting": WRONG}, cassettes=recorded, ini="convotest_full_trace = true\n")
    result = pytester.runpytest_inprocess(CHAT)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*def _run_item(*"])


def test_without_it_only_the_message_is_shown(pytester: pytest.Pytester, recorded: Path) -> None:
    """No traceback, no source of convotest: the message, the turn and the reply."""
    write_project(pytester, {"greeting": WRONG}, cassettes=recorded)
    result = pytester.runpytest_inprocess(CHAT)
    result.assert_outcomes(failed=1)
    assert failure_section(result.stdout.lines, "greeting [manual_chat]") == [
        MESSAGE,
        "    turn 2 (greeting.convo.yaml:10): user: 'Orange.'",
        '    reply: \'I have seen 3 messages. You first said: "Knock knock.". You just said: "Orange.".\'',
    ]
    assert "_run_item" not in result.stdout.str()
