"""Live progress while recording: ``recording jokes [conversation] turn 2/5`` on the terminal.

Recording against a real model is slow, so the runner reports each turn as it starts
(``Settings.progress``). This module shows that on pytest's terminal without breaking its own progress
line: the text is written after the dots (or after the test id with ``-v``) with the cursor saved before
and restored after, and erased before pytest writes the item's result. Only on a terminal: on a pipe or
in CI logs it shows nothing, so logs stay clean.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from convotest.scenario.model import Scenario

__all__ = ["ProgressCallback", "ProgressDisplay", "make_progress", "progress_for"]

ProgressCallback = Callable[["Scenario", str, int], None]

#: Save cursor, erase to the end of the line; restore cursor (VT100, understood by every common terminal).
_SAVE, _ERASE, _RESTORE = "\x1b7", "\x1b[K", "\x1b8"
_KEY = pytest.StashKey["ProgressDisplay | None"]()


class ProgressDisplay:
    """Shows one transient progress message after pytest's current line; a pytest plugin that erases it."""

    def __init__(self, terminalreporter: Any, verb: str = "recording") -> None:
        self.tr = terminalreporter
        self.verb = verb
        self.shown = False

    def _write(self, text: str) -> None:
        # Capture is on while a test runs: write around it, straight to the terminal. write_raw leaves
        # pytest's idea of the line width alone, so its "[ 40%]" column stays where it belongs.
        capman = self.tr.config.pluginmanager.get_plugin("capturemanager")
        tw = self.tr.config.get_terminal_writer()
        if capman is not None:
            with capman.global_and_fixture_disabled():
                tw.write_raw(text, flush=True)
        else:
            tw.write_raw(text, flush=True)

    def message(self, scenario: Scenario, mode: str, turn: int) -> str:
        """``recording jokes [conversation] turn 2/5`` (turn is 0-based)."""
        return f"{self.verb} {scenario.name} [{mode}] turn {turn + 1}/{len(scenario.turns)}"

    def __call__(self, scenario: Scenario, mode: str, turn: int) -> None:
        """The ``Settings.progress`` callback."""
        tw = self.tr.config.get_terminal_writer()
        room = tw.fullwidth - tw.width_of_current_line - 2
        if room < 12:  # no space left on this line: a wrapped message could not be erased
            return
        text = self.message(scenario, mode, turn)
        if len(text) > room:
            text = text[: room - 1] + "…"
        self._write(f"{_SAVE}{_ERASE} {text}{_RESTORE}")
        self.shown = True

    def clear(self) -> None:
        """Erase the message, if one is shown (the cursor is already back where it was)."""
        if self.shown:
            self._write(_ERASE)
            self.shown = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Before pytest writes the item's dot or PASSED, take the message away."""
        self.clear()

    @pytest.hookimpl(tryfirst=True)
    def pytest_terminal_summary(self) -> None:
        """Nothing may be left behind a crash mid-item either."""
        self.clear()


def _usable(terminalreporter: Any) -> bool:
    if terminalreporter is None or not terminalreporter.isatty():
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    # Under xdist the workers have no terminal; their output goes through the controller.
    return not hasattr(terminalreporter.config, "workerinput")


def make_progress(terminalreporter: Any, verb: str = "recording") -> ProgressDisplay | None:
    """A progress callback for this terminal reporter, registered to erase itself; ``None`` off a tty."""
    if not _usable(terminalreporter):
        return None
    display = ProgressDisplay(terminalreporter, verb)
    terminalreporter.config.pluginmanager.register(display, "convotest-progress")
    return display


def progress_for(config: pytest.Config, verb: str = "recording") -> ProgressCallback | None:
    """The session's progress callback (made once, on first use), or ``None`` when not on a terminal."""
    if _KEY not in config.stash:
        config.stash[_KEY] = make_progress(config.pluginmanager.get_plugin("terminalreporter"), verb)
    return config.stash[_KEY]
