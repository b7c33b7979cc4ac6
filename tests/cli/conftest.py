"""Fixtures for the command-line tests (helpers live in cli_helpers.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import make_project, run_pytest


@pytest.fixture(scope="session")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only project with every shipped scenario and cassette (tests that write copy it)."""
    return make_project(tmp_path_factory.mktemp("shipped"))


class ReportRun:
    """One ``pytest --convo-report`` run over jokes (made to fail on its token budget) and long_compaction."""

    def __init__(self, root: Path, done: subprocess.CompletedProcess[str]) -> None:
        self.root = root
        self.done = done
        self.html = root / "out" / "report.html"
        self.json = root / "out" / "report.json"
        self.junit = root / "out" / "junit.xml"

    def document(self) -> dict[str, Any]:
        """The JSON report, parsed."""
        result: dict[str, Any] = json.loads(self.json.read_text(encoding="utf-8"))
        return result


@pytest.fixture(scope="session")
def report_run(tmp_path_factory: pytest.TempPathFactory) -> ReportRun:
    """The reports of one real pytest run (2 failing items, 3 passing, one compaction point each)."""
    root = make_project(tmp_path_factory.mktemp("report"), ["jokes", "long_compaction"])
    jokes = root / "scenarios" / "jokes.convo.yaml"
    jokes.write_text(jokes.read_text(encoding="utf-8").replace("input_max: 2000", "input_max: 40"), encoding="utf-8")
    done = run_pytest("scenarios", "--convo-report=out/report.html", "--junitxml=out/junit.xml", cwd=root)
    assert done.returncode == 1, done.stdout + done.stderr
    return ReportRun(root, done)
