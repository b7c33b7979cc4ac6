"""Must hold: every shipped scenario records and replays in every mode, and a CI-style run (record mode
'none', no network, no ``OPENAI_API_KEY``) passes — on fresh recordings and on the committed cassettes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from plugin_helpers import GUARD, SHIPPED, write_project

from convotest.scenario.loader import load_file

REPO = SHIPPED.parent
FILES = sorted(SHIPPED.glob("*.convo.yaml"))
#: Every (scenario, mode) item the shipped files define.
ITEMS = sorted(f"scenarios/{f.name}::{s.name}[{m}]" for f in FILES for s in load_file(f) for m in s.modes)


def ci_run(pytester: pytest.Pytester, *xdist: str) -> pytest.RunResult:
    """The CI job: replay only, every connection refused, no API key (under xdist in a process of its own)."""
    args = ("scenarios", "--convo-record-mode=none", "--convo-strict", "-rA", *xdist)
    return pytester.runpytest_subprocess(*args) if xdist else pytester.runpytest_inprocess(*args)


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped scenario files in ``scenarios/``, a network guard, and no API key in the environment."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    root = write_project(pytester, {}, conftest=GUARD)
    shutil.copytree(SHIPPED, root / "scenarios")
    return root


def passed(result: pytest.RunResult) -> list[str]:
    """The node ids reported as passed (``-rA``)."""
    return sorted(line.split(" ", 1)[1] for line in result.stdout.lines if line.startswith("PASSED "))


def test_the_shipped_scenarios_cover_every_mode() -> None:
    """The set this file proves is not trivially small."""
    assert len(FILES) >= 5
    assert {item.rsplit("[", 1)[1] for item in ITEMS} == {
        "manual_chat]",
        "manual_responses]",
        "previous_response_id]",
        "conversation]",
    }


def test_record_then_replay_offline(pytester: pytest.Pytester, project: Path, tmp_path: Path) -> None:
    """Record all of them against the emulator into a fresh folder, then replay them CI-style, alone and
    under xdist (recorded once: recording every shipped scenario is the expensive part)."""
    # Recording needs the network (the emulator): the guard comes in after it.
    (project / "conftest.py").rename(tmp_path / "guard.py")
    recording = pytester.runpytest_inprocess("scenarios", "--convo-record-mode=once", "--convo-emulator")
    recording.assert_outcomes(passed=len(ITEMS))
    assert len(list((project / "cassettes").rglob("*.yaml"))) == len(ITEMS)
    (tmp_path / "guard.py").rename(project / "conftest.py")
    for xdist in ([], ["-n", "2"]):
        result = ci_run(pytester, *xdist)
        result.assert_outcomes(passed=len(ITEMS))
        assert passed(result) == ITEMS
        assert not (project / "network_attempts.txt").exists()


def test_the_committed_cassettes_replay_from_a_clean_clone(pytester: pytest.Pytester, project: Path) -> None:
    """The repository's own cassettes replay every shipped item, and none of them is unused."""
    shutil.copytree(REPO / "cassettes", project / "cassettes")
    result = ci_run(pytester)
    result.assert_outcomes(passed=len(ITEMS))
    assert result.ret == pytest.ExitCode.OK
    assert passed(result) == ITEMS
    assert not (project / "network_attempts.txt").exists()
