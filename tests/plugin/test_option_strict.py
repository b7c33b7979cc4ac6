"""Unused cassettes are counted in the terminal summary; ``--convo-strict`` (ini ``convotest_strict``)
fails the run on them. A cassette belongs to every (scenario, mode) its file defines, run or not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from plugin_helpers import cassette, write_project

ORPHAN = "cassettes/greeting/renamed/manual_chat.yaml"


def with_orphan(pytester: pytest.Pytester, recorded: Path, ini: str = "") -> Path:
    """The greeting project plus the cassette of a scenario that was renamed since it was recorded."""
    root = write_project(pytester, cassettes=recorded, ini=ini)
    (root / ORPHAN).parent.mkdir(parents=True)
    shutil.copy(cassette(root, "greeting", "manual_chat"), root / ORPHAN)
    return root


def test_unused_cassettes_are_listed_and_do_not_fail_the_run(pytester: pytest.Pytester, recorded: Path) -> None:
    """Without strict the run passes and the summary names the orphan and the option."""
    with_orphan(pytester, recorded)
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*- convotest: 1 unused cassette(s) -*",
            f"  {ORPHAN}",
            "  (--convo-strict fails the run on unused cassettes)",
        ]
    )


def test_strict_fails_the_run_on_the_orphan_only(pytester: pytest.Pytester, xdist: list[str], recorded: Path) -> None:
    """Every test passes, the run fails; the deselected and filtered-out items' cassettes are not unused."""
    with_orphan(pytester, recorded)
    result = pytester.runpytest_inprocess(*xdist, "--convo-strict", "-k", "manual_chat", "--convo-mode=manual_chat")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*- convotest: 1 unused cassette(s) -*",
            f"  {ORPHAN}",
            "  --convo-strict: the run fails; delete these cassettes or restore their scenarios",
        ]
    )


def test_strict_from_the_ini_file(pytester: pytest.Pytester, recorded: Path) -> None:
    """``convotest_strict = true`` fails on the orphan, and passes once it is deleted."""
    root = with_orphan(pytester, recorded, ini="convotest_strict = true\n")
    assert pytester.runpytest_inprocess().ret == pytest.ExitCode.TESTS_FAILED
    (root / ORPHAN).unlink()
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    assert "unused cassette" not in result.stdout.str()
