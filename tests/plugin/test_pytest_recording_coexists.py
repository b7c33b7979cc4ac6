"""pytest-recording installed alongside: one session runs a YAML scenario and a ``@pytest.mark.vcr``
Python test, both replaying. ``--record-mode``, ``vcr_config`` and the ``vcr`` marker are
pytest-recording's; convotest's record mode is ``--convo-record-mode`` and is not touched by them."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_helpers import write_project

VCR_TEST = """\
import json
import urllib.request

import pytest


@pytest.mark.vcr
def test_status():
    with urllib.request.urlopen("http://status.example.invalid/v1/status") as answer:
        assert json.load(answer) == {"ok": True}
"""

#: pytest-recording's cassette for VCR_TEST, in vcrpy's own format (its default folder and name).
VCR_CASSETTE = """\
interactions:
- request:
    body: null
    headers: {}
    method: GET
    uri: http://status.example.invalid/v1/status
  response:
    body: {string: '{"ok": true}'}
    headers:
      Content-Type: [application/json]
    status: {code: 200, message: OK}
version: 1
"""


def test_both_plugins_replay_in_one_session(pytester: pytest.Pytester, xdist: list[str], recorded: Path) -> None:
    """With pytest-recording blocking the network, both kinds of test replay and pass."""
    root = write_project(pytester, cassettes=recorded)
    pytester.makepyfile(test_http=VCR_TEST)
    (root / "cassettes/test_http").mkdir()
    (root / "cassettes/test_http/test_status.yaml").write_text(VCR_CASSETTE)
    result = pytester.runpytest_inprocess(*xdist, "--record-mode=none", "--block-network", "-p", "recording")
    result.assert_outcomes(passed=3)


def test_record_mode_is_pytest_recordings_only(pytester: pytest.Pytester) -> None:
    """``--record-mode=all`` does not make convotest record: its items still replay, and fail here."""
    write_project(pytester)
    result = pytester.runpytest_inprocess("--record-mode=all", "--convo-emulator")
    result.assert_outcomes(failed=2)
    assert "and record mode is 'none'" in result.stdout.str()
    helptext = pytester.runpytest_inprocess("--help").stdout.str()
    assert helptext.count("--record-mode=") == 1
    assert helptext.count("--convo-record-mode=") == 1
    markers = pytester.runpytest_inprocess("--markers").stdout.lines
    assert [line.split(":")[0] for line in markers if line.startswith("@pytest.mark.convo")] == [
        "@pytest.mark.convo",
        "@pytest.mark.convo_mode(name)",
    ]
    # convotest's fixtures are its own two; every vcr fixture comes from pytest-recording.
    lines = pytester.runpytest_inprocess("--fixtures").stdout.lines
    start = next(i for i, line in enumerate(lines) if "fixtures defined from convotest.plugin" in line)
    end = next((i for i, line in enumerate(lines) if i > start and line.startswith(("---", "===="))), len(lines))
    assert [line.split(" -- ")[0] for line in lines[start + 1 : end] if " -- " in line] == ["convo_config", "convo"]
