"""``--convo-mode`` (repeatable; ini ``convotest_modes``): only items of these state modes are collected.
A mode name that does not exist is a usage error, not an empty run."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_helpers import CHAINED, GREETING, write_project

BOTH = {"greeting": GREETING, "chained": CHAINED}


def collected(result: pytest.RunResult) -> list[str]:
    """The node ids ``--collect-only -q`` printed."""
    return [line for line in result.stdout.lines if "::" in line]


def test_runs_only_the_chosen_mode(pytester: pytest.Pytester, xdist: list[str], recorded: Path) -> None:
    """One mode of four: one item per scenario that has it."""
    write_project(pytester, BOTH, cassettes=recorded)
    result = pytester.runpytest_inprocess(*xdist, "--convo-mode", "conversation", "-rA")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["PASSED chained.convo.yaml::chained[[]conversation]"])


def test_is_repeatable(pytester: pytest.Pytester) -> None:
    """Two options select the union of both modes."""
    write_project(pytester, BOTH)
    result = pytester.runpytest_inprocess(
        "--collect-only", "-q", "--convo-mode=manual_chat", "--convo-mode=conversation"
    )
    assert collected(result) == [
        "chained.convo.yaml::chained[conversation]",
        "greeting.convo.yaml::greeting[manual_chat]",
    ]


def test_ini_modes_and_the_command_line_wins(pytester: pytest.Pytester) -> None:
    """``convotest_modes`` selects when no option is given; ``--convo-mode`` replaces it."""
    write_project(pytester, BOTH, ini="convotest_modes = manual_responses previous_response_id\n")
    assert collected(pytester.runpytest_inprocess("--collect-only", "-q")) == [
        "chained.convo.yaml::chained[previous_response_id]",
        "greeting.convo.yaml::greeting[manual_responses]",
    ]
    result = pytester.runpytest_inprocess("--collect-only", "-q", "--convo-mode=manual_chat")
    assert collected(result) == ["greeting.convo.yaml::greeting[manual_chat]"]


def test_an_unknown_mode_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """A typo fails the session at once and lists the modes there are."""
    write_project(pytester, BOTH)
    result = pytester.runpytest_inprocess("--convo-mode=conversations")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --convo-mode: unknown mode 'conversations'; choose from manual_chat, manual_responses, "
            "previous_response_id, conversation, custom"
        ]
    )
