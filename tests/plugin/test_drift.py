"""Must hold: editing one word of a user turn makes replay fail with a drift message naming that turn,
the difference (``turn N: body.…: 'old' → 'new'``), the file:line and the command that re-records."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_helpers import CHAINED, GREETING, failure_section, write_project


def test_one_edited_word_fails_replay_with_the_drift_message(
    pytester: pytest.Pytester, xdist: list[str], recorded: Path
) -> None:
    """Every mode reports the edited word against the recorded request, at the edited turn."""
    edited = {
        "greeting": GREETING.replace('"Orange."', '"Banana."'),
        "chained": CHAINED.replace('"Explain it."', '"Explain this."'),
    }
    write_project(pytester, edited, cassettes=recorded)
    result = pytester.runpytest_inprocess(*xdist)
    result.assert_outcomes(failed=4)
    lines = result.stdout.lines
    assert failure_section(lines, "greeting [manual_chat]") == [
        "greeting.convo.yaml:10: turn 2 [manual_chat]: the request sent differs from the recording "
        "(the scenario or the code changed)",
        "    turn 2 (greeting.convo.yaml:10): user: 'Banana.'",
        "    no recorded response matches POST /v1/chat/completions",
        "    cassette cassettes/greeting/greeting/manual_chat.yaml: 2 interactions recorded, "
        "1 replayed before this request",
        "    closest recorded request: #2 POST /v1/chat/completions",
        "      turn 2: body.messages[2].content: 'Orange.' → 'Banana.'",
        "    to re-record: pytest 'greeting.convo.yaml::greeting[manual_chat]' --convo-record-mode=rewrite "
        "--convo-emulator",
    ]
    assert failure_section(lines, "greeting [manual_responses]") == [
        "greeting.convo.yaml:10: turn 2 [manual_responses]: the request sent differs from the recording "
        "(the scenario or the code changed)",
        "    turn 2 (greeting.convo.yaml:10): user: 'Banana.'",
        "    no recorded response matches POST /v1/responses",
        "    cassette cassettes/greeting/greeting/manual_responses.yaml: 2 interactions recorded, "
        "1 replayed before this request",
        "    closest recorded request: #2 POST /v1/responses",
        "      turn 2: body.input[2].content: 'Orange.' → 'Banana.'",
        "    to re-record: pytest 'greeting.convo.yaml::greeting[manual_responses]' --convo-record-mode=rewrite "
        "--convo-emulator",
    ]
    # Server-side state: the request carries only the new message, and the recorded ids line up.
    assert failure_section(lines, "chained [previous_response_id]") == [
        "chained.convo.yaml:7: turn 2 [previous_response_id]: the request sent differs from the recording "
        "(the scenario or the code changed)",
        "    turn 2 (chained.convo.yaml:7): user: 'Explain this.'",
        "    no recorded response matches POST /v1/responses",
        "    cassette cassettes/chained/chained/previous_response_id.yaml: 2 interactions recorded, "
        "1 replayed before this request",
        "    closest recorded request: #2 POST /v1/responses",
        "      turn 2: body.input[0].content: 'Explain it.' → 'Explain this.'",
        "    to re-record: pytest 'chained.convo.yaml::chained[previous_response_id]' "
        "--convo-record-mode=rewrite --convo-emulator",
    ]
    conversation = failure_section(lines, "chained [conversation]")
    assert "      turn 2: body.input[0].content: 'Explain it.' → 'Explain this.'" in conversation
    assert conversation[-1] == (
        "    to re-record: pytest 'chained.convo.yaml::chained[conversation]' --convo-record-mode=rewrite "
        "--convo-emulator"
    )


def test_the_unedited_scenario_still_replays(pytester: pytest.Pytester, recorded: Path) -> None:
    """The same cassettes replay the scenarios as recorded: the failure above is the edit's doing."""
    write_project(pytester, {"greeting": GREETING, "chained": CHAINED}, cassettes=recorded)
    pytester.runpytest_inprocess().assert_outcomes(passed=4)
