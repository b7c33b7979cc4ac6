"""Help text and usage errors of every command, through ``python -m convotest.cli``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli_helpers import cli, offline_env

from convotest import __version__

#: Pinned: the first screen a new user sees (argparse wraps at COLUMNS).
TOP_HELP = """\
usage: convotest [-h] [--version] COMMAND ...

Record and replay multi-turn OpenAI conversations, checking what the model saw
at every turn.

options:
  -h, --help  show this help message and exit
  --version   show program's version number and exit

commands:
  COMMAND
    init      scaffold a scenario, cassettes/, pytest settings and a CI
              workflow
    validate  check scenario files and print one path:line:col: message per
              problem
    schema    print the JSON Schema of the scenario format (for editors)
    record    record cassettes for scenarios (runs pytest with the record
              options)
    show      print a cassette's transcript turn by turn: what the model saw,
              replies, tokens
    diff      turn-aware difference between two cassettes of one scenario
    tokens    per-turn token table of recorded scenarios (no network)
    report    render JSON reports (from pytest --convo-report) as one HTML
              page
    serve     run the local OpenAI emulator

Run 'convotest COMMAND --help' for a command's options and examples. Exit
status: 0 ok, 1 a check failed, 2 usage error.
"""

#: For each command: its usage line, and lines its help must keep (options and an example).
COMMANDS = {
    "init": ["usage: convotest init [-h] [--dir DIR]", "--dir DIR", "convotest init --dir path/to/repo"],
    "validate": ["usage: convotest validate [-h] PATH [PATH ...]", "exit status: 0 all valid, 1 problems found"],
    "schema": ["usage: convotest schema [-h] [--report]", "convotest schema > scenario.schema.json"],
    "record": [
        "usage: convotest record [-h] [--mode MODE] [--emulator | --base-url URL] [--rewrite] PATH [PATH ...] "
        "[-- PYTEST_ARGS ...]",
        "--emulator      record from the local emulator (no key, offline)",
        "convotest record scenarios --emulator -- -n 4 -x",
        "Same as: pytest PATH --convo-record-mode=once|rewrite",
    ],
    "show": ["usage: convotest show [-h] [--full] CASSETTE", "--full", "convotest show cassettes/jokes/jokes/"],
    "diff": ["usage: convotest diff [-h] OLD NEW", "exit status: 0 no difference, 1 differences found"],
    "tokens": ["usage: convotest tokens [-h] [--cassette-dir DIR] PATH [PATH ...]", "convotest tokens scenarios"],
    "report": [
        "usage: convotest report [-h] [-o HTML] [--json PATH] [--title TITLE]",
        "-o HTML, --output HTML",
        "convotest report job1.json job2.json -o all.html --json all.json",
    ],
    "serve": ["usage: convotest serve [-h] [--host HOST] [--port PORT] [--db PATH]", "convotest serve --port 8765"],
}


def test_top_level_help_is_pinned(tmp_path: Path) -> None:
    done = cli("--help", cwd=tmp_path, env=offline_env(COLUMNS="80"))
    assert done.returncode == 0
    assert done.stdout == TOP_HELP


def test_every_command_is_listed_and_documented() -> None:
    listed = re.findall(r"^    (\w+) ", TOP_HELP, flags=re.MULTILINE)
    assert listed == list(COMMANDS)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_command_help(command: str, tmp_path: Path) -> None:
    done = cli(command, "--help", cwd=tmp_path, env=offline_env(COLUMNS="200"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    for line in COMMANDS[command]:
        assert line in done.stdout, f"{line!r} not in:\n{done.stdout}"
    assert "examples:" in done.stdout


def test_version(tmp_path: Path) -> None:
    done = cli("--version", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, f"convotest {__version__}\n")


def test_no_command_is_a_usage_error(tmp_path: Path) -> None:
    done = cli(cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("usage: convotest")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bogus"], "invalid choice: 'bogus'"),
        (["show"], "the following arguments are required: CASSETTE"),
        (["diff", "a.yaml"], "the following arguments are required: NEW"),
        (["record", "scenarios", "--emulator", "--base-url", "http://x"], "not allowed with argument --emulator"),
        (["serve", "--port", "eighty"], "invalid int value: 'eighty'"),
        (["show", "x.yaml", "--colour"], "unrecognized arguments: --colour"),
    ],
)
def test_bad_arguments_exit_2_with_usage(args: list[str], message: str, tmp_path: Path) -> None:
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert "usage: convotest" in done.stderr
