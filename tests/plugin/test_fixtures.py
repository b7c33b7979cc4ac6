"""Fixtures for Python tests: ``convo_config`` (overridable in a conftest, like ``vcr_config``) and
``convo``, whose ``run(path_or_scenario, mode=…, driver=…)`` returns the transcript to assert on."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_helpers import CONFTEST, GREETING, write_project

TRANSCRIPT_TESTS = """\
import dataclasses

import pytest

from convotest.plugin import ScenarioFailed


def test_transcript_of_one_mode(convo):
    transcript = convo.run("greeting.convo.yaml", mode="manual_responses")
    assert transcript.scenario == "greeting" and transcript.mode == "manual_responses"
    assert [call.reply for call in transcript.turns] == [
        'I have seen 1 messages. You first said: "Knock knock.". You just said: "Knock knock.".',
        'I have seen 3 messages. You first said: "Knock knock.". You just said: "Orange.".',
    ]
    last = transcript.last_for_turn(1)
    assert [item.role for item in last.context] == ["user", "assistant", "user"]
    assert last.usage.input_tokens > 0


def test_first_mode_by_default_and_a_scenario_object(convo):
    scenario = convo.load("greeting.convo.yaml")
    assert convo.run(scenario).mode == "manual_chat"
    # A scenario changed in Python runs too; its requests are the recorded ones, its expectations are not.
    stricter = dataclasses.replace(scenario, turns=scenario.turns[:1])
    assert len(convo.run(stricter, mode="manual_chat").turns) == 1


def test_failed_expectations_raise_unless_check_is_off(convo):
    scenario = convo.load("wrong.convo.yaml")
    with pytest.raises(ScenarioFailed, match=r"turn 2 \\[manual_chat\\]: reply does not contain"):
        convo.run(scenario, mode="manual_chat")
    assert convo.run(scenario, mode="manual_chat", check=False).turns[1].reply.startswith("I have seen 3")


def test_unknown_scenario_name(convo):
    with pytest.raises(LookupError, match="no scenario 'nope' in greeting.convo.yaml; amongst: greeting"):
        convo.load("greeting.convo.yaml", name="nope")
"""

ECHO_APP = """\
class EchoApp:
    '''An application's own chat code: keeps the history itself, over Chat Completions.'''

    def __init__(self, client):
        self.client = client
        self.history = []

    def send(self, text):
        self.history.append({"role": "user", "content": text})
        reply = self.client.chat.completions.create(model="gpt-4o-mini", messages=self.history)
        content = reply.choices[0].message.content
        self.history.append({"role": "assistant", "content": content})
        return content
"""


def test_convo_run_returns_the_transcript(pytester: pytest.Pytester, xdist: list[str], recorded: Path) -> None:
    """Python tests replay the same cassettes as the YAML items and see what the model saw."""
    wrong = GREETING.replace('"I have seen 3 messages."', '"I have seen 4 messages."')
    write_project(pytester, {"greeting": GREETING, "wrong": wrong}, cassettes=recorded)
    (pytester.path / "cassettes/wrong").symlink_to(pytester.path / "cassettes/greeting")
    pytester.makepyfile(test_transcripts=TRANSCRIPT_TESTS)
    result = pytester.runpytest_inprocess(*xdist, "test_transcripts.py")
    result.assert_outcomes(passed=4)
    # Their runs are in the token table like the YAML items', one row per run (5 runs in 4 tests).
    rows = sorted(line.split()[:3] for line in result.stdout.lines if line.startswith("greeting "))
    assert rows == [
        ["greeting", "manual_chat", "11"],
        *[["greeting", "manual_chat", "46"]] * 3,
        ["greeting", "manual_responses", "46"],
    ]


def test_custom_driver_from_python_and_config_from_a_conftest(pytester: pytest.Pytester) -> None:
    """``driver=`` runs the app's own class as mode 'custom'; ``convo_config`` scrubs an extra header."""
    conftest = CONFTEST.replace('"max_retries": 0', '"max_retries": 0, "scrub_headers": ["x-request-id"]')
    root = write_project(pytester, ini="pythonpath = .\n", conftest=conftest)
    pytester.makepyfile(
        echo_app=ECHO_APP,
        test_app="""\
def test_app(convo):
    transcript = convo.run("greeting.convo.yaml", driver="echo_app:EchoApp")
    assert transcript.mode == "custom"
    assert transcript.turns[1].reply.startswith("I have seen 3 messages.")
""",
    )
    args = ["--convo-record-mode=once", "--convo-emulator", "--convo-strict", "test_app.py"]
    result = pytester.runpytest_inprocess(*args)
    result.assert_outcomes(passed=1)
    written = (root / "cassettes/greeting/greeting/custom.yaml").read_text()
    assert "mode: custom" in written and "/v1/chat/completions" in written
    assert "x-request-id" not in written
    # The custom cassette is the Python test's: --convo-strict does not call it unused.
    assert result.ret == pytest.ExitCode.OK
