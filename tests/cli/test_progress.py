"""Live recording progress on pytest's terminal: shown on a tty only, and erased before pytest's own output."""

from __future__ import annotations

import inspect
import re
import shutil
import sys
from pathlib import Path

import pytest
from cli_helpers import SCENARIOS, run_in_terminal, run_pytest

import convotest.plugin

# A test that drives the callback as the runner does, turn by turn, and says whether it got one.
DEMO = """
from pathlib import Path

from convotest.reporting.progress import progress_for
from convotest.scenario.loader import load_file


def test_turns(pytestconfig):
    progress = progress_for(pytestconfig)
    Path("got_callback.txt").write_text(str(progress is not None))
    assert progress_for(pytestconfig) is progress  # one display per session
    if progress is not None:
        scenario = load_file("jokes.convo.yaml")[0]
        for turn in range(len(scenario.turns)):
            progress(scenario, "conversation", turn)
"""

SAVE, ERASE, RESTORE = "\x1b7", "\x1b[K", "\x1b8"


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    shutil.copy(SCENARIOS / "jokes.convo.yaml", tmp_path / "jokes.convo.yaml")
    (tmp_path / "test_demo.py").write_text(DEMO, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("verbosity", ["-q", "-v"])
def test_progress_is_written_after_the_current_line_and_erased(demo: Path, verbosity: str) -> None:
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", verbosity, "test_demo.py"]
    out = run_in_terminal(argv, cwd=demo)
    assert (demo / "got_callback.txt").read_text() == "True", out
    first = f"{SAVE}{ERASE} recording jokes [conversation] turn 1/2{RESTORE}"
    second = f"{SAVE}{ERASE} recording jokes [conversation] turn 2/2{RESTORE}"
    assert first in out
    assert second in out
    after = out.split(second, 1)[1]
    # The message goes before pytest writes the item's result on that line.
    result = "PASSED" if verbosity == "-v" else "."
    assert after.startswith(ERASE), repr(after[:40])
    shown = re.sub(r"\x1b\[[0-9;]*m", "", after[len(ERASE) :])  # pytest's own colours
    assert shown.lstrip().startswith(result), repr(after[:40])
    assert re.search(r"1 passed", out)


def test_no_progress_off_a_terminal(demo: Path) -> None:
    done = run_pytest("-p", "no:xdist", "-q", "test_demo.py", cwd=demo)
    assert done.returncode == 0, done.stdout
    assert (demo / "got_callback.txt").read_text() == "False"
    assert "\x1b" not in done.stdout


@pytest.mark.skipif(
    "progress_for" not in inspect.getsource(convotest.plugin),
    reason="plugin.py does not pass convotest.reporting.progress.progress_for to Settings yet",
)
def test_convotest_record_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    (tmp_path / "scenarios").mkdir()
    shutil.copy(SCENARIOS / "jokes.convo.yaml", tmp_path / "scenarios" / "jokes.convo.yaml")
    argv = [sys.executable, "-m", "convotest.cli", "record", "scenarios", "--emulator", "--mode", "manual_chat"]
    out = run_in_terminal(argv, cwd=tmp_path)
    assert "recording jokes [manual_chat] turn 2/2" in out
    assert "convotest record: 1 recorded" in out
