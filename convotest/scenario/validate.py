"""``convotest validate``: check scenario files and report every problem as ``path:line:col: message``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from convotest.errors import ScenarioError
from convotest.scenario.loader import check_text, discover, read_file

__all__ = ["run_validate", "validate_paths"]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _validate(paths: Iterable[str | Path]) -> tuple[list[ScenarioError], int, int]:
    problems: list[ScenarioError] = []
    files: list[Path] = []
    for entry in paths:
        try:
            found = discover([entry])
        except ScenarioError as exc:
            problems.append(exc)
            continue
        if not found:
            problems.append(ScenarioError(entry, 1, 1, "no scenario files (*.convo.yaml, *.convo.yml) here"))
        files.extend(f for f in found if f not in files)
    loaded = 0
    for file in files:
        try:
            scenarios, file_problems = check_text(read_file(file), file)
        except ScenarioError as exc:
            scenarios, file_problems = [], [exc]
        problems.extend(file_problems)
        if not file_problems:
            loaded += len(scenarios)
    return problems, loaded, len(files)


def validate_paths(paths: Iterable[str | Path]) -> tuple[list[ScenarioError], int]:
    """Every problem in the scenario files under ``paths``, and how many scenarios loaded cleanly.

    Files are checked independently; a file with a problem contributes no scenario to the count.
    """
    problems, loaded, _ = _validate(paths)
    return problems, loaded


def run_validate(paths: list[str], out: TextIO, err: TextIO) -> int:
    """Print one ``path:line:col: message`` per problem to ``out`` (exit 1), or a summary (exit 0)."""
    if not paths:
        err.write("convotest validate: give at least one scenario file or folder\n")
        return 2
    problems, loaded, files = _validate(paths)
    for problem in problems:
        out.write(f"{problem}\n")
    if problems:
        err.write(f"{_plural(len(problems), 'problem')} found\n")
        return 1
    out.write(f"{_plural(loaded, 'scenario')} in {_plural(files, 'file')} OK\n")
    return 0
