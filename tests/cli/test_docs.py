"""The command-line docs stay true: the quick start's scenario is valid, every command is documented."""

from __future__ import annotations

import re
from pathlib import Path

from cli_helpers import REPO, cli

from convotest.cli import build_parser

DOCS = REPO / "docs"


def test_quickstart_scenario_is_short_and_valid(tmp_path: Path) -> None:
    text = (DOCS / "quickstart.md").read_text(encoding="utf-8")
    [scenario] = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    assert len(scenario.strip().splitlines()) <= 10
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "jokes.convo.yaml").write_text(scenario, encoding="utf-8")
    done = cli("validate", "scenarios", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "1 scenario in 1 file OK\n")
    assert "pytest scenarios --convo-record-mode=once --convo-emulator" in text


def test_cli_doc_has_a_section_per_command() -> None:
    parser = build_parser()
    [sub] = [a for a in parser._actions if a.dest == "command"]
    commands = list(sub.choices or ())
    sections = re.findall(r"^## (\w+)$", (DOCS / "cli.md").read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert sections == commands
