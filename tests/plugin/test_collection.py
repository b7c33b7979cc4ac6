"""Collection: one item per (scenario, mode) with node id ``path::scenario[mode]``; ``-k``, ``-m convo``,
``--collect-only`` and ``--lf`` work as for Python tests; YAML ``marks`` become pytest marks; a broken
scenario file is a collection error printed as ``file:line:col: message``, without a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_helpers import CHAINED, GREETING, failure_section, write_project

PYTHON_TEST = """\
def test_plain():
    assert True
"""
#: Two scenarios in one file, as two YAML documents.
TWO_DOCS = GREETING.replace("modes: [manual_chat, manual_responses]", "modes: [manual_chat]") + (
    "---\n" + CHAINED.replace("name: chained", "name: chained_too")
)


def node_ids(result: pytest.RunResult) -> list[str]:
    """The node ids ``--collect-only -q`` printed."""
    return [line for line in result.stdout.lines if "::" in line]


def test_node_ids_for_every_scenario_and_mode(pytester: pytest.Pytester) -> None:
    """Ids are rootdir-relative, one per mode, also for a file with several documents and in subfolders."""
    write_project(pytester, {"greeting": GREETING})
    (pytester.path / "more").mkdir()
    (pytester.path / "more/two.convo.yml").write_text(TWO_DOCS)
    result = pytester.runpytest_inprocess("--collect-only", "-q")
    assert node_ids(result) == [
        "greeting.convo.yaml::greeting[manual_chat]",
        "greeting.convo.yaml::greeting[manual_responses]",
        "more/two.convo.yml::greeting[manual_chat]",
        "more/two.convo.yml::chained_too[previous_response_id]",
        "more/two.convo.yml::chained_too[conversation]",
    ]


def test_keyword_and_marker_selection(pytester: pytest.Pytester) -> None:
    """``-k`` matches scenario and mode names; ``-m convo`` selects scenario items, not Python tests."""
    write_project(pytester, {"greeting": GREETING, "chained": CHAINED})
    pytester.makepyfile(test_plain=PYTHON_TEST)
    by_keyword = node_ids(pytester.runpytest_inprocess("--collect-only", "-q", "-k", "chained and not conversation"))
    assert by_keyword == ["chained.convo.yaml::chained[previous_response_id]"]
    by_mode = node_ids(pytester.runpytest_inprocess("--collect-only", "-q", "-k", "manual_responses"))
    assert by_mode == ["greeting.convo.yaml::greeting[manual_responses]"]
    assert len(node_ids(pytester.runpytest_inprocess("--collect-only", "-q", "-m", "convo"))) == 4
    assert node_ids(pytester.runpytest_inprocess("--collect-only", "-q", "-m", "not convo")) == [
        "test_plain.py::test_plain"
    ]


def test_last_failed_reruns_only_the_failed_item(pytester: pytest.Pytester, recorded: Path) -> None:
    """With one cassette missing, ``--lf`` reruns that item alone."""
    root = write_project(pytester, cassettes=recorded)
    (root / "cassettes/greeting/greeting/manual_responses.yaml").unlink()
    pytester.runpytest_inprocess().assert_outcomes(passed=1, failed=1)
    result = pytester.runpytest_inprocess("--lf", "-rA")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["run-last-failure: rerun previous 1 failure*"])
    result.stdout.fnmatch_lines(["FAILED greeting.convo.yaml::greeting[[]manual_responses] - *"])
    assert "PASSED" not in result.stdout.str()


def test_yaml_marks_skip_and_xfail(pytester: pytest.Pytester, recorded: Path) -> None:
    """``marks.skip`` skips every mode with its reason; ``marks.xfail`` expects a failure."""
    skipped = GREETING.replace("model:", "marks:\n  skip: waiting for the new driver\nmodel:", 1)
    failing = CHAINED.replace("model:", "marks:\n  xfail: the emulator counts differently\nmodel:", 1).replace(
        "I have seen 3 messages.", "I have seen 4 messages."
    )
    write_project(pytester, {"greeting": skipped, "chained": failing}, cassettes=recorded)
    result = pytester.runpytest_inprocess("-rsx")
    result.assert_outcomes(skipped=2, xfailed=2)
    result.stdout.fnmatch_lines(["SKIPPED * waiting for the new driver"])
    result.stdout.fnmatch_lines(["XFAIL chained.convo.yaml::chained[[]*] - the emulator counts differently"])


def test_a_broken_file_is_a_collection_error_without_traceback(
    pytester: pytest.Pytester, xdist: list[str], recorded: Path
) -> None:
    """The loader's position and message, relative to rootdir; the run fails."""
    broken = GREETING.replace('  - user: "Orange."', '  - usr: "Orange."')
    write_project(pytester, {"greeting": GREETING, "broken": broken}, cassettes=recorded)
    result = pytester.runpytest_inprocess(*xdist)
    # Alone, pytest stops after collection errors; xdist runs the items that did collect.
    assert result.ret == (pytest.ExitCode.TESTS_FAILED if xdist else pytest.ExitCode.INTERRUPTED)
    result.assert_outcomes(errors=1, passed=2 if xdist else 0)
    section = failure_section(result.stdout.lines, "ERROR collecting broken.convo.yaml")
    assert section == [
        "broken.convo.yaml:10:5: turns[1]: unknown key 'usr' (did you mean 'user'?)",
    ]
    assert "Traceback" not in result.stdout.str()


def test_the_file_pattern_is_configurable(pytester: pytest.Pytester) -> None:
    """``convotest_file_pattern`` replaces ``*.convo.yaml *.convo.yml``."""
    write_project(pytester, {"greeting": GREETING}, ini="convotest_file_pattern = *.chat.yaml\n")
    (pytester.path / "other.chat.yaml").write_text(CHAINED)
    assert node_ids(pytester.runpytest_inprocess("--collect-only", "-q")) == [
        "other.chat.yaml::chained[previous_response_id]",
        "other.chat.yaml::chained[conversation]",
    ]


def test_nothing_heavy_is_imported_without_scenarios(pytester: pytest.Pytester) -> None:
    """Installed but unused, the plugin loads no vcrpy, SDK, emulator or runner (a process of its own)."""
    write_project(pytester, {}, conftest=NO_HEAVY_IMPORTS)
    pytester.makepyfile(test_plain=PYTHON_TEST)
    pytester.runpytest_subprocess("-p", "no:recording").assert_outcomes(passed=1)
    assert (pytester.path / "imported.txt").read_text() == "[]"


NO_HEAVY_IMPORTS = """\
import pathlib
import sys

HEAVY = ("vcr", "openai", "tiktoken", "uvicorn", "convotest.runner", "convotest.recording", "convotest.emulator")


def pytest_sessionfinish(session):
    loaded = sorted(m for m in sys.modules if m.startswith(HEAVY))
    pathlib.Path(str(session.config.rootpath), "imported.txt").write_text(str(loaded))
"""
