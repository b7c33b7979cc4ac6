"""The failure text of a scenario item, pinned: file:line of each failed expectation, the turn's line and
script, the mode, the reply, the deepdiff; no Python traceback; secrets redacted wherever they appear."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_helpers import SECRETIVE, TOKEN, failure_section, write_project

#: The recorded turns of ``SECRETIVE`` with expectations that all fail (requests are unchanged).
FAILING = (
    SECRETIVE
    + f"""\
    expect:
      reply:
        contains: ["I have seen 2 messages."]
      context:
        equals:
          - {{role: user, content: "My key is sk-abcdefghijklmnop1234, my token {TOKEN}."}}
          - {{role: assistant, content: "Noted."}}
          - {{role: user, content: "Did you keep them?"}}
      tokens:
        input_max: 10
"""
)


def test_failure_text_is_pinned(pytester: pytest.Pytester, xdist: list[str], recorded: Path) -> None:
    """Three failed expectations of turn 2, each with its line, the turn and what was seen instead."""
    write_project(pytester, {"secretive": FAILING}, cassettes=recorded)
    result = pytester.runpytest_inprocess(*xdist)
    result.assert_outcomes(failed=1)
    assert failure_section(result.stdout.lines, "secretive [manual_chat]") == [
        "secretive.convo.yaml:10: turn 2 [manual_chat]: reply does not contain 'I have seen 2 messages.': "
        "got 'I have seen 3 messages. You first said: \"My key is <redacted>, my token <redact…'",
        "    turn 2 (secretive.convo.yaml:7): user: 'Did you keep them?'",
        '    reply: \'I have seen 3 messages. You first said: "My key is <redacted>, my token <redacted>.". '
        'You just said: "Did you keep them?".\'',
        "secretive.convo.yaml:12: turn 2 [manual_chat]: context message 2 is assistant: 'I have seen 1 messages. "
        "You first said: \"My key is <redacte…', expected assistant: 'Noted.'",
        "    turn 2 (secretive.convo.yaml:7): user: 'Did you keep them?'",
        "    root[1]['content']: 'Noted.' → 'I have seen 1 messages. You first said: \"My key is <redacted>, "
        'my token <redacted>.". You just said: "My key is <redact…\'',
        "secretive.convo.yaml:17: turn 2 [manual_chat]: input 91 tokens > input_max 10",
        "    turn 2 (secretive.convo.yaml:7): user: 'Did you keep them?'",
    ]
    output = "\n".join(result.stdout.lines)
    assert "Traceback" not in output
    assert "plugin.py" not in output and "runner.py" not in output
    assert "sk-abcdefghijklmnop1234" not in output and "sk-abcde" not in output
    assert TOKEN not in output


def test_secrets_the_server_echoes_are_redacted_while_recording(pytester: pytest.Pytester) -> None:
    """Recording sees the raw traffic: the key and the token come back in replies, and are still hidden."""
    root = write_project(pytester, {"secretive": FAILING})
    result = pytester.runpytest_inprocess("--convo-record-mode=once", "--convo-emulator")
    result.assert_outcomes(failed=1)
    section = failure_section(result.stdout.lines, "secretive [manual_chat]")
    assert len(section) == 8
    assert "sk-" not in "\n".join(section)
    output = "\n".join(result.stdout.lines)
    assert TOKEN not in output and "sk-abcdefghijklmnop1234" not in output
    written = (root / "cassettes/secretive/secretive/manual_chat.yaml").read_text()
    assert "sk-abcdefghijklmnop1234" not in written and TOKEN not in written
    assert "<redacted>" in written
