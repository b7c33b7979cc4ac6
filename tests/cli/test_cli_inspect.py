"""``validate``, ``schema``, ``show``, ``diff`` and ``tokens`` on the shipped scenarios and cassettes."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import jsonschema
from cli_helpers import cli, offline_env, run_in_terminal

LONG = "cassettes/long_compaction/long_compaction"
JOKES = "cassettes/jokes/jokes"


def test_validate_the_shipped_scenarios(shipped: Path) -> None:
    done = cli("validate", "scenarios", cwd=shipped)
    assert (done.returncode, done.stdout) == (0, "5 scenarios in 5 files OK\n")


def test_validate_reports_a_broken_file_with_its_position(shipped: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.convo.yaml"
    broken.write_text("version: 1\nmodel: gpt-4o-mini\nturns:\n  - usr: hi\n", encoding="utf-8")
    done = cli("validate", str(broken), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.startswith(f"{broken}:4:")
    assert "problem" in done.stderr


def test_schema_prints_the_scenario_schema_and_the_report_schema(tmp_path: Path) -> None:
    scenario = cli("schema", cwd=tmp_path)
    report = cli("schema", "--report", cwd=tmp_path)
    assert scenario.returncode == report.returncode == 0
    for text in (scenario.stdout, report.stdout):
        document = json.loads(text)
        jsonschema.Draft202012Validator.check_schema(document)
    assert json.loads(report.stdout)["title"] == "convotest report"
    assert json.loads(scenario.stdout) != json.loads(report.stdout)


def test_show_lists_only_what_is_new_at_each_call(shipped: Path) -> None:
    done = cli("show", f"{LONG}/conversation.yaml", cwd=shipped)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("long_compaction [conversation]  model gpt-4.1-mini")
    assert "8 model call(s)" in out.splitlines()[0]
    assert "── turn 1: responses via conversation (HTTP 200, completed)" in out
    assert "   the model saw 3 item(s): item 1 as in the previous call, then 2 new:" in out
    assert "── turn 6: compact via compact (HTTP 200, completed)" in out
    assert "   instructions: Keep the itinerary and the restaurant ideas." in out
    assert "   compacted to 6 item(s)" in out
    assert "   tokens: input 475, output 31, window 0.0%, headroom 1,014,333, billed so far 1,103" in out
    # Turn 2 lists items 2 and 3 only; --full lists the first item again.
    turn2 = out.split("── turn 2", 1)[1].split("── turn 3", 1)[0]
    assert "     1. user:" not in turn2
    assert "     2. assistant: I have seen 1 messages." in turn2
    full = cli("show", "--full", f"{LONG}/conversation.yaml", cwd=shipped).stdout
    assert "     1. user: Let's plan a three-day trip to Lisbon." in full.split("── turn 2", 1)[1]
    # A pipe gets no escape codes.
    assert "\033[" not in out


def test_show_usage_errors(shipped: Path) -> None:
    missing = cli("show", "cassettes/nope.yaml", cwd=shipped)
    assert (missing.returncode, missing.stderr) == (2, "convotest show: no such cassette: cassettes/nope.yaml\n")
    scenario = cli("show", "scenarios/jokes.convo.yaml", cwd=shipped)
    assert scenario.returncode == 2
    assert "is a scenario, not a cassette; its cassettes are cassettes/jokes/<scenario>/<mode>.yaml" in scenario.stderr
    folder = cli("show", "cassettes", cwd=shipped)
    assert (folder.returncode, folder.stderr) == (2, "convotest show: not a file: cassettes\n")


def test_show_a_file_that_is_not_a_cassette_fails_with_the_reason(shipped: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("interactions: [1, 2]\n", encoding="utf-8")
    done = cli("show", str(bad), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(f"convotest show: {bad}")
    assert "Traceback" not in done.stderr


def test_colour_only_on_a_terminal_and_never_with_no_color(shipped: Path) -> None:
    argv = [sys.executable, "-m", "convotest.cli", "show", f"{JOKES}/manual_chat.yaml"]
    coloured = run_in_terminal(argv, cwd=shipped)
    assert "\033[1mjokes [manual_chat]\033[0m" in coloured
    plain = run_in_terminal(argv, cwd=shipped, env=offline_env(NO_COLOR="1"))
    assert "jokes [manual_chat]" in plain
    assert "\033[" not in plain


def test_show_into_a_closed_pipe_is_quiet(shipped: Path) -> None:
    import subprocess

    script = f"{sys.executable} -m convotest.cli show --full {LONG}/conversation.yaml | head -n 2"
    done = subprocess.run(script, shell=True, cwd=shipped, env=offline_env(), capture_output=True, text=True)
    assert done.stdout.splitlines()[0].startswith("long_compaction [conversation]")
    assert done.stderr == ""


def test_diff_of_a_cassette_with_itself_finds_nothing(shipped: Path) -> None:
    done = cli("diff", f"{JOKES}/manual_chat.yaml", f"{JOKES}/manual_chat.yaml", cwd=shipped)
    assert (done.returncode, done.stdout) == (0, "no difference in what the model saw, replied or was billed\n")


def test_diff_shows_what_changed_per_turn_and_exits_1(shipped: Path, tmp_path: Path) -> None:
    edited = tmp_path / "manual_chat.yaml"
    text = (shipped / JOKES / "manual_chat.yaml").read_text(encoding="utf-8")
    assert text.count("Tell me another.") >= 2
    edited.write_text(text.replace("Tell me another.", "Tell me a third."), encoding="utf-8")
    done = cli("diff", str(shipped / JOKES / "manual_chat.yaml"), str(edited), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == (
        "turn 2:\n"
        "  the model saw 3 → 3 item(s)\n"
        "    item 3:\n"
        "      - user: Tell me another.\n"
        "      + user: Tell me a third.\n"
        "  reply:\n"
        '      - …e.". You just said: "Tell me another.".\n'
        '      + …e.". You just said: "Tell me a third.".\n'
    )


def test_diff_across_modes_says_so(shipped: Path) -> None:
    # jokes checks same_across_modes: its two modes' cassettes differ in nothing diff compares.
    done = cli("diff", f"{JOKES}/manual_chat.yaml", f"{JOKES}/manual_responses.yaml", cwd=shipped)
    assert done.returncode == 0
    assert done.stdout == (
        "note: comparing different modes: manual_chat → manual_responses\n"
        "no difference in what the model saw, replied or was billed\n"
    )


def test_diff_shows_token_differences(shipped: Path, tmp_path: Path) -> None:
    edited = tmp_path / "manual_chat.yaml"
    text = (shipped / JOKES / "manual_chat.yaml").read_text(encoding="utf-8")
    assert text.count("prompt_tokens: 51\n") == 1
    edited.write_text(text.replace("prompt_tokens: 51\n", "prompt_tokens: 1051\n"), encoding="utf-8")
    done = cli("diff", str(shipped / JOKES / "manual_chat.yaml"), str(edited), cwd=tmp_path)
    assert (done.returncode, done.stdout) == (1, "turn 2:\n  input tokens 51 → 1,051 (+1,000)\n")


def test_tokens_of_scenarios_and_of_a_cassette(shipped: Path) -> None:
    done = cli("tokens", "scenarios/long_compaction.convo.yaml", cwd=shipped)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("long_compaction [") == 3
    assert "turn  endpoint   estimate  input  cached  output  reasoning  window   headroom  billed  cut" in out
    assert "   6  compact         615    615       0     449          0    0.1%  1,014,193   1,718" in out
    assert "projection: input " in out
    one = cli("tokens", f"{JOKES}/manual_chat.yaml", cwd=shipped)
    assert one.returncode == 0
    assert one.stdout.startswith(f"{JOKES}/manual_chat.yaml\nturn  endpoint")


def test_tokens_without_cassettes_and_with_a_missing_path(shipped: Path, tmp_path: Path) -> None:
    shutil.copy(shipped / "scenarios" / "jokes.convo.yaml", tmp_path / "jokes.convo.yaml")
    none = cli("tokens", "jokes.convo.yaml", cwd=tmp_path)
    assert none.returncode == 1
    assert "no cassettes under cassettes/ for those scenarios; record them first" in none.stderr
    missing = cli("tokens", "nope", cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (2, "convotest tokens: no such file or folder: nope\n")
