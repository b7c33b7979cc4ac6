"""``run_validate`` output, pinned by exact text for broken files, and ``validate_paths`` counting."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from convotest.scenario import run_validate, validate_paths

DATA = Path(__file__).parent / "data"
BROKEN = DATA / "broken"
SCENARIOS = Path(__file__).parents[2] / "scenarios"

#: file name → every line ``convotest validate FILE`` prints (after ``path:``).
PINNED = {
    "syntax_error.convo.yaml": [
        "6:1: YAML syntax error: found unexpected end of stream (while scanning a quoted scalar at line 4)"
    ],
    "tabs.convo.yaml": [
        "4:1: YAML syntax error: found character that cannot start any token (while scanning for the next token)"
    ],
    "unknown_key.convo.yaml": ["6:7: turns[0].expect: unknown key 'reploy' (did you mean 'reply'?)"],
    "misplaced_key.convo.yaml": ["5:5: turns[0]: unknown key 'reply' (did you mean to put it under 'expect'?)"],
    "unknown_top_key.convo.yaml": [
        "3:1: unknown key 'timeout' (expected one of: version, name, description, model, instructions, params, "
        "modes, limits, driver, server_compaction, marks, expect, turns)"
    ],
    "wrong_type.convo.yaml": ["7:20: turns[0].expect.tokens.input_max: expected an integer, got 'abc'"],
    "bad_mode.convo.yaml": ["5:5: modes[1]: unknown mode 'previous_respons_id' (did you mean 'previous_response_id'?)"],
    "compact_in_chat.convo.yaml": [
        "7:5: turns[2].compact: a compact step needs a Responses mode, but modes include 'manual_chat' (line 3)"
    ],
    "duplicate_name.convo.yaml": ["8:1: name: duplicate scenario name 'greet' (first at line 2)"],
    "missing_model.convo.yaml": ["2:1: missing required key 'model'"],
    "missing_version.convo.yaml": ["1:1: missing required key 'version' (add `version: 1`)"],
    "wrong_version.convo.yaml": ["1:10: version: expected 1, got 2"],
    "bad_regex.convo.yaml": [
        "7:18: turns[0].expect.reply.matches: invalid regular expression: missing ), unterminated subpattern "
        "at position 7"
    ],
    "bad_driver.convo.yaml": ["3:9: driver: expected \"package.module:Name\", got 'my_app.chat.Driver'"],
    "empty_turns.convo.yaml": ["3:8: turns: must not be empty"],
    "two_kinds.convo.yaml": [
        "6:5: turns[1]: a turn has exactly one of 'user', 'input' or 'compact', found 'user' and 'compact'"
    ],
    "empty.convo.yaml": ["1:1: no scenario in this file (it is empty or only comments)"],
    "low_threshold.convo.yaml": ["4:22: server_compaction.compact_threshold: must be at least 1000, got 500"],
    "reserved_param.convo.yaml": ["5:3: params.store: cannot be set in params: each mode sets `store` itself"],
    "compaction_on_user_turn.convo.yaml": [
        "6:7: turns[0].expect.compaction: only a compact step has compaction output to check"
    ],
    "starts_without_compact.convo.yaml": [
        "7:9: turns[0].expect.context.starts_with_compaction: is true but no compact step comes before this turn"
    ],
    "not_a_mapping.convo.yaml": ["1:1: a scenario must be a mapping, got a list"],
    "not_utf8.convo.yaml": ["4:11: file is not valid UTF-8 text: invalid start byte"],
    "several_problems.convo.yaml": [
        "4:11: turns[0].user: expected a string, got true (quote it to make it text)",
        "6:15: turns[1].input[0].role: unknown value 'robot' (expected one of: user, assistant, system, developer)",
    ],
    "Knock Knock.convo.yaml": [
        "1:1: name: the file name 'Knock Knock' is not a valid scenario name; add `name:` "
        "(lowercase letters, digits, '_' and '-', starting with a letter or digit)"
    ],
}


def _run(paths: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_validate(paths, out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("name", sorted(PINNED))
def test_broken_file_output_is_pinned(name: str) -> None:
    path = str(BROKEN / name)
    code, out, err = _run([path])
    assert code == 1
    assert out == "".join(f"{path}:{line}\n" for line in PINNED[name])
    count = len(PINNED[name])
    assert err == f"{count} problem{'s' if count > 1 else ''} found\n"


def test_every_broken_fixture_is_pinned() -> None:
    assert sorted(p.name for p in BROKEN.iterdir()) == sorted(PINNED)


def test_folder_reports_every_file_in_sorted_order() -> None:
    code, out, _ = _run([str(BROKEN)])
    assert code == 1
    expected = [
        f"{BROKEN / name}:{line}"
        for name in sorted(PINNED, key=lambda n: (BROKEN / n).as_posix())
        for line in PINNED[name]
    ]
    assert out.splitlines() == expected


def test_clean_run_prints_a_summary() -> None:
    code, out, err = _run([str(SCENARIOS), str(DATA / "good")])
    assert (code, err) == (0, "")
    assert out == "9 scenarios in 7 files OK\n"


def test_summary_uses_singulars(tmp_path: Path) -> None:
    (tmp_path / "one.convo.yaml").write_text("version: 1\nmodel: m\nturns: [user: hi]\n")
    assert _run([str(tmp_path)]) == (0, "1 scenario in 1 file OK\n", "")


def test_missing_path_and_empty_folder_are_problems(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    code, out, _ = _run([str(missing), str(tmp_path)])
    assert code == 1
    assert out == (
        f"{missing}:1:1: no such file or directory\n"
        f"{tmp_path}:1:1: no scenario files (*.convo.yaml, *.convo.yml) here\n"
    )


def test_no_paths_is_a_usage_error() -> None:
    assert _run([]) == (2, "", "convotest validate: give at least one scenario file or folder\n")


def test_validate_paths_counts_only_clean_files(tmp_path: Path) -> None:
    (tmp_path / "a.convo.yaml").write_text(
        "version: 1\nname: a\nmodel: m\nturns: [user: hi]\n---\nversion: 1\nname: b\nmodel: m\nturns: [user: hi]\n"
    )
    (tmp_path / "b.convo.yml").write_text("version: 1\nmodel: m\nturns: []\n")
    problems, loaded = validate_paths([tmp_path])
    assert loaded == 2
    assert [(p.path, p.line, p.column, p.message) for p in problems] == [
        (str(tmp_path / "b.convo.yml"), 3, 8, "turns: must not be empty")
    ]


def test_a_file_named_twice_is_checked_once(tmp_path: Path) -> None:
    file = tmp_path / "a.convo.yaml"
    file.write_text("version: 1\nmodel: m\nturns: []\n")
    problems, _ = validate_paths([file, tmp_path])
    assert len(problems) == 1
