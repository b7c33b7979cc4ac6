"""The terminal summary: one table of token budgets per (scenario, mode) — peak input tokens, peak share
of the context window, billed input tokens, compactions — built from the reports, so also under xdist."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from plugin_helpers import CHAINED, GREETING, write_project

HEADER = "scenario                     mode                   peak input  window  billed in compact"


def usage(path: Path) -> list[int]:
    """The input tokens the server reported for each model call of a cassette."""
    data = yaml.safe_load(path.read_text())
    found = []
    for interaction in data["interactions"]:
        body = interaction["response"]["body"].get("json") or {}
        tokens = (body.get("usage") or {}).get("input_tokens", (body.get("usage") or {}).get("prompt_tokens"))
        if tokens is not None:
            found.append(tokens)
    return found


def test_token_budget_table(pytester: pytest.Pytester, xdist: list[str], recorded: Path) -> None:
    """One row per item, sorted; peak and billed input are the server's own figures from the cassette."""
    root = write_project(pytester, {"greeting": GREETING, "chained": CHAINED}, cassettes=recorded)
    result = pytester.runpytest_inprocess(*xdist)
    result.assert_outcomes(passed=4)
    expected = []
    for name, mode in [
        ("chained", "conversation"),
        ("chained", "previous_response_id"),
        ("greeting", "manual_chat"),
        ("greeting", "manual_responses"),
    ]:
        inputs = usage(root / "cassettes" / name / name / f"{mode}.yaml")
        assert len(inputs) == 2
        expected.append(f"{name:<28} {mode:<22} {max(inputs):>10,} {'0.0%':>7} {sum(inputs):>10,} {0:>7}")
    lines = result.stdout.lines
    start = lines.index(HEADER)
    assert lines[start - 1].strip("-").strip() == "convotest token budgets"
    assert lines[start + 1 : start + 5] == expected
    assert not lines[start + 5].startswith(("chained", "greeting"))


CUT = """\
version: 1
name: cut
model: gpt-4o-mini
modes: [manual_responses]
params: {max_output_tokens: 16}
turns:
  - user: "Please write 200 words about the sea."
"""


def test_notes_report_a_cut_output(pytester: pytest.Pytester) -> None:
    """A reply cut by max_output_tokens passes (nothing expected it) but is named in the summary."""
    write_project(pytester, {"cut": CUT})
    result = pytester.runpytest_inprocess("--convo-live", "--convo-emulator")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*- convotest notes -*",
            "cut [manual_responses]: turn 1: output cut at 16 tokens "
            "(status incomplete, reason max_output_tokens; max output 16)",
        ]
    )
