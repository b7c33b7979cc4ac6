"""Loader unit tests: every field, the defaults, source positions, and the semantic checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import convotest.scenario
from convotest.errors import ScenarioError, SourceLoc
from convotest.scenario import _yaml, check_text, discover, load_file, load_text
from convotest.scenario.model import (
    ALL_MODES,
    RESPONSES_MODES,
    CompactionExpect,
    ContextExpect,
    Limits,
    Marks,
    ReplyExpect,
    ServerCompaction,
    TokensExpect,
)

GOOD = Path(__file__).parent / "data" / "good"
MINIMAL = "version: 1\nmodel: gpt-4o-mini\nturns:\n  - user: hi\n"


def error_of(text: str | bytes, path: str = "t.convo.yaml") -> tuple[int, int, str]:
    with pytest.raises(ScenarioError) as info:
        load_text(text, path)
    return info.value.line, info.value.column, info.value.message


# -- every field -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def everything() -> convotest.scenario.Scenario:
    (scenario,) = load_file(GOOD / "everything.convo.yaml")
    return scenario


def test_top_level_fields(everything: convotest.scenario.Scenario) -> None:
    s = everything
    assert (s.name, s.version, s.model, s.description) == (
        "everything",
        1,
        "gpt-4.1-mini",
        "Uses every field of format v1.",
    )
    assert s.path == str(GOOD / "everything.convo.yaml")
    assert s.instructions == "Be brief."
    assert s.params == {"temperature": 0.2, "max_output_tokens": 300, "metadata": {"team": "qa", "tags": ["a", "b"]}}
    assert s.modes == ("manual_responses", "previous_response_id")
    assert s.limits == Limits(context_window=50000, max_output_tokens=4000)
    assert s.server_compaction == ServerCompaction(20000)
    assert s.marks == Marks(skip=None, xfail="known emulator gap")
    assert s.driver is None
    assert s.document == 0
    assert s.file_stem == "everything"


def test_scenario_expect(everything: convotest.scenario.Scenario) -> None:
    assert everything.expect is not None
    assert everything.expect.tokens == TokensExpect(input_max=2000, window_used_max=0.5)
    assert everything.expect.context == ContextExpect(same_across_modes=True)
    assert everything.expect.locs["tokens.input_max"].line == 21
    assert everything.expect.locs["context.same_across_modes"].line == 24


def test_turn_kinds_and_contents(everything: convotest.scenario.Scenario) -> None:
    turns = everything.turns
    assert [t.kind for t in turns] == ["user", "input", "compact", "compact", "compact", "user"]
    assert [t.index for t in turns] == list(range(6))
    assert [(m.role, m.content) for m in turns[0].messages] == [("user", "Tell me a joke.")]
    assert [(m.role, m.content) for m in turns[1].messages] == [
        ("developer", "Answer in French."),
        ("user", "Another one."),
    ]
    assert [t.compact_instructions for t in turns[2:5]] == ["Keep the jokes.", None, None]
    assert turns[3].messages == ()
    assert turns[1].expect is None


def test_turn_expect_fields(everything: convotest.scenario.Scenario) -> None:
    expect = everything.turns[0].expect
    assert expect is not None
    assert expect.status == "completed"
    assert expect.reply == ReplyExpect(
        contains=("I have seen 1 messages.",), not_contains=("sorry",), matches=r"^I have seen \d+"
    )
    context = expect.context
    assert context is not None and context.equals is not None
    assert [(m.role, m.content) for m in context.equals] == [("user", "Tell me a joke.")]
    assert context == ContextExpect(
        messages=1,
        roles=("user",),
        contains=("joke",),
        equals=context.equals,
        starts_with_compaction=False,
        instructions="Be brief.",
    )
    assert expect.tokens == TokensExpect(
        input_max=500,
        input_min=5,
        output_max=200,
        reasoning_max=0,
        total_max=700,
        headroom_min=1000,
        window_used_max=1.0,
        estimate_tolerance=3,
        billed_input_max=600,
    )
    assert isinstance(expect.tokens.window_used_max, float)
    compact = everything.turns[2].expect
    assert compact is not None
    assert compact.compaction == CompactionExpect(
        user_messages_verbatim=True, compaction_items=1, input_tokens_after_max=1000, schema="compact.schema.json"
    )
    assert compact.tokens == TokensExpect(input_max=3000)


def test_source_positions(everything: convotest.scenario.Scenario) -> None:
    path = str(GOOD / "everything.convo.yaml")
    assert everything.loc == SourceLoc(path, 2, 1)
    assert {k: v.line for k, v in everything.locs.items()} == {
        "version": 2,
        "name": 3,
        "description": 4,
        "model": 5,
        "instructions": 6,
        "params": 7,
        "modes": 11,
        "limits": 12,
        "server_compaction": 15,
        "marks": 17,
        "expect": 19,
        "turns": 25,
    }
    assert [t.loc.line if t.loc else None for t in everything.turns] == [26, 52, 55, 64, 65, 66]
    assert everything.turn_loc(1) == SourceLoc(path, 52, 5)
    assert everything.turns[0].messages[0].loc == SourceLoc(path, 26, 11)
    assert [m.loc.line if m.loc else None for m in everything.turns[1].messages] == [53, 54]
    expect = everything.turns[0].expect
    assert expect is not None and expect.context is not None and expect.context.equals is not None
    assert expect.context.equals[0].loc == SourceLoc(path, 38, 13)
    assert {k: v.line for k, v in expect.locs.items() if "." not in k} == {
        "status": 28,
        "reply": 29,
        "context": 33,
        "tokens": 42,
    }
    assert expect.locs["tokens.input_max"] == SourceLoc(path, 43, 9)
    assert expect.locs["context.equals"].line == 37
    assert expect.locs["reply.matches"].line == 32


def test_every_position_is_inside_the_file(everything: convotest.scenario.Scenario) -> None:
    lines = (GOOD / "everything.convo.yaml").read_text().count("\n")
    locs = [everything.loc, *everything.locs.values()]
    for turn in everything.turns:
        locs += [turn.loc, *(m.loc for m in turn.messages), *(turn.expect.locs.values() if turn.expect else [])]
    assert all(loc is not None and 1 <= loc.line <= lines and loc.column >= 1 for loc in locs)


def test_several_documents_anchors_and_merge_keys() -> None:
    first, second, third = load_file(GOOD / "multi.convo.yml")
    assert [s.name for s in (first, second, third)] == ["first", "second", "third-one"]
    assert [s.document for s in (first, second, third)] == [0, 1, 2]
    assert second.driver == "my_app.chat:ChatDriver"
    assert second.modes == ("custom",)
    assert second.marks == Marks(skip="needs the app")
    expect = second.turns[0].expect
    assert expect is not None
    # The explicit key beats the merged one; the merged one keeps the anchor's position.
    assert expect.tokens == TokensExpect(input_max=2000, output_max=100)
    assert expect.locs["tokens.input_max"].line == 16
    assert expect.locs["tokens.output_max"].line == 22
    assert [t.messages[0].content for t in second.turns[1:]] == ["again", "again"]
    assert third.loc is not None and third.loc.line == 26


# -- defaults --------------------------------------------------------------------------------------


def test_defaults() -> None:
    (s,) = load_text(MINIMAL, "dir/knock-knock_2.convo.yaml")
    assert s.name == "knock-knock_2"
    assert s.modes == ALL_MODES
    assert (s.description, s.instructions, s.driver, s.expect, s.server_compaction) == (None,) * 5
    assert (s.params, s.limits, s.marks) == ({}, Limits(), Marks())
    assert s.turns[0].expect is None


@pytest.mark.parametrize(
    ("extra", "turns", "modes"),
    [
        ("", "  - user: a\n  - compact: {}\n", RESPONSES_MODES),
        ("server_compaction: {compact_threshold: 1000}\n", "  - user: a\n", RESPONSES_MODES),
        ("driver: app.drivers:Mine\n", "  - user: a\n  - compact:\n", ("custom",)),
        ("", "  - input: [{role: user, content: a}]\n", ALL_MODES),
    ],
)
def test_default_modes(extra: str, turns: str, modes: tuple[str, ...]) -> None:
    (s,) = load_text(f"version: 1\nmodel: m\n{extra}turns:\n{turns}", "d.convo.yaml")
    assert s.modes == modes


def test_name_from_yml_stem_and_explicit_name() -> None:
    assert load_text(MINIMAL, "a/b/jokes.convo.yml")[0].name == "jokes"
    assert load_text("name: mine\n" + MINIMAL, "Knock Knock.convo.yaml")[0].name == "mine"


def test_bytes_and_bom_are_accepted() -> None:
    assert load_text(("\ufeff" + MINIMAL).encode(), "b.convo.yaml")[0].model == "gpt-4o-mini"
    assert load_text(MINIMAL.encode("utf-16"), "b.convo.yaml")[0].model == "gpt-4o-mini"


def test_float_written_integers_become_int() -> None:
    text = MINIMAL + "    expect: {tokens: {input_max: 2000.0}}\n"
    tokens = load_text(text, "f.convo.yaml")[0].turns[0].expect
    assert tokens is not None and tokens.tokens is not None
    assert tokens.tokens.input_max == 2000 and isinstance(tokens.tokens.input_max, int)


def test_float_written_counts_become_int() -> None:
    (s,) = load_text(MINIMAL + "    expect: {context: {messages: 1.0}}\n", "f.convo.yaml")
    assert s.turns[0].expect is not None and s.turns[0].expect.context is not None
    assert s.turns[0].expect.context.messages == 1 and isinstance(s.turns[0].expect.context.messages, int)


def test_schema_patterns_are_also_checked_whole() -> None:
    # JSON Schema's "$" lets a trailing newline through; the loader must not.
    assert error_of(MINIMAL + 'name: "abc\\n"\n')[:2] == (5, 7)
    assert error_of(MINIMAL + 'driver: "a.b:C\\n"\n')[2] == "driver: expected \"package.module:Name\", got 'a.b:C\\n'"


def test_bare_document_separators_are_ignored() -> None:
    scenarios = load_text("---\n" + MINIMAL + "---\n", "s.convo.yaml")
    assert [s.document for s in scenarios] == [0]


# -- problems --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nmodel: m\n", (1, 1, "missing required key 'turns'")),
        ("version: true\nmodel: m\nturns: [user: a]\n", (1, 10, "version: expected 1, got true")),
        (
            MINIMAL + "    expect: {tokens: {input_max: true}}\n",
            (5, 34, "turns[0].expect.tokens.input_max: expected an integer, got true"),
        ),
        (MINIMAL + "modes: []\n", (5, 8, "modes: must not be empty")),
        (MINIMAL + "modes: [conversation, conversation]\n", (5, 23, "modes[1]: 'conversation' is listed twice")),
        (
            MINIMAL + "driver: a.b:C\nmodes: [manual_chat]\n",
            (6, 1, "modes: a scenario with `driver` runs in the single mode 'custom'; remove `modes`"),
        ),
        (
            MINIMAL + "server_compaction: {compact_threshold: 5000}\nmodes: [manual_chat, conversation]\n",
            (5, 1, "server_compaction: needs a Responses mode, but modes include 'manual_chat' (line 6)"),
        ),
        (
            "version: 1\nmodel: m\nturns:\n  - compact: {}\n  - user: a\n",
            (4, 5, "turns[0].compact: a compact step cannot be the first turn: nothing to compact"),
        ),
        (
            MINIMAL + "  - compact:\n    expect: {reply: {contains: [x]}}\n",
            (6, 14, "turns[1].expect.reply: a compact step has no reply; check it on the next turn"),
        ),
        (
            MINIMAL + "    expect: {tokens: {input_min: 9, input_max: 3}}\n",
            (5, 34, "turns[0].expect.tokens.input_min: is greater than input_max (9 > 3)"),
        ),
        (
            MINIMAL + "    expect: {context: {messages: 2, equals: [{role: user, content: hi}]}}\n",
            (5, 34, "turns[0].expect.context.messages: is 2 but equals lists 1 messages"),
        ),
        (
            MINIMAL + "    expect: {context: {roles: [assistant], equals: [{role: user, content: hi}]}}\n",
            (5, 31, "turns[0].expect.context.roles: disagrees with the roles of equals"),
        ),
        (
            MINIMAL + "    expect: {context: {messages: 3, roles: [user]}}\n",
            (5, 34, "turns[0].expect.context.messages: is 3 but roles lists 1"),
        ),
        (
            MINIMAL + "limits: {context_window: 100, max_output_tokens: 200}\n",
            (5, 50, "limits.max_output_tokens: is larger than context_window (200 > 100)"),
        ),
        (
            MINIMAL + "params: {when: 2024-01-01}\n",
            (5, 16, "params.when: a date 2024-01-01 cannot be sent as JSON (quote it to make it text)"),
        ),
        (MINIMAL + "params: {t: .nan}\n", (5, 13, "params.t: nan cannot be sent as JSON")),
        (MINIMAL + "params: [1]\n", (5, 9, "params: expected a mapping, got a list")),
        (
            MINIMAL + "marks: {skip: true}\n",
            (5, 15, "marks.skip: expected a string, got true (quote it to make it text)"),
        ),
        (
            MINIMAL + "name: Jokes\n",
            (
                5,
                7,
                "name: 'Jokes' is not a valid scenario name "
                "(use lowercase letters, digits, '_' and '-', starting with a letter or digit)",
            ),
        ),
        (
            MINIMAL + "expect: {context: {messages: 1}}\n",
            (5, 20, "expect.context: unknown key 'messages' (expected one of: same_across_modes)"),
        ),
        (
            MINIMAL + "expect: {context: {same_across_modes: true}}\n    user: b\n",
            (6, 5, "YAML syntax error: did not find expected key (while parsing a block mapping at line 1)"),
        ),
        ("version: 1\nmodel: m\nturns:\n  - input: []\n", (4, 12, "turns[0].input: must not be empty")),
        (
            "version: 1\nmodel: m\nturns:\n  - {user: a, expect: x}\n",
            (4, 23, "turns[0].expect: expected a mapping, got 'x'"),
        ),
        (
            "version: 1\nmodel: m\nturns:\n  - compact: 3\n",
            (4, 14, "turns[0].compact: expected a mapping or null, got 3"),
        ),
        ("version: 1\nmodel: m\nturns:\n  - user: ''\n", (4, 11, "turns[0].user: must not be empty")),
        ("version: 1\nmodel: m\nturns:\n  - x\n", (4, 5, "turns[0]: expected a mapping, got 'x'")),
        ("version: 1\nmodel: m\nturns: [user: a]\nyes: 1\n", (4, 1, "mapping keys must be text, got true (quote it)")),
        ("version: 1\nmodel: m\nmodel: n\nturns: [user: a]\n", (3, 1, "duplicate key 'model'")),
        (
            "version: 1\nmodel: !!python/name:os.system\nturns: [user: a]\n",
            (2, 8, "unsupported YAML tag 'tag:yaml.org,2002:python/name:os.system'"),
        ),
        ("version: 1\nmodel: m\nturns: !!set {a}\n", (3, 8, "unsupported YAML tag 'tag:yaml.org,2002:set'")),
        ("a: &x [*x]\n", (1, 8, "YAML alias *x refers to its own parent")),
        ("a: *x\n", (1, 4, "YAML alias *x refers to no anchor (anchors do not cross ---)")),
        ("a:\n  <<: [1]\n", (2, 8, "a YAML merge (<<) needs a mapping or a list of mappings")),
        ("~\n", (1, 1, "a scenario must be a mapping, got null")),
        ("# only a comment\n", (1, 1, "no scenario in this file (it is empty or only comments)")),
        ('version: 1\nmodel: "\ud800"\n', (2, 9, "text is not valid Unicode (lone surrogate)")),
    ],
)
def test_problem(text: str, expected: tuple[int, int, str]) -> None:
    assert error_of(text) == expected


def test_first_problem_by_position_is_raised() -> None:
    text = "version: 1\nmodel: 3\nmodes: [nope]\nturns: []\n"
    assert error_of(text) == (2, 8, "model: expected a string, got 3 (quote it to make it text)")


def test_path_without_a_valid_stem_needs_a_name() -> None:
    line, column, message = error_of(MINIMAL, "<string>")
    assert (line, column) == (1, 1)
    assert message.startswith("name: the file name '<string>' is not a valid scenario name; add `name:`")


def test_duplicate_default_names_explain_the_fix() -> None:
    assert error_of(MINIMAL + "---\n" + MINIMAL, "d.convo.yaml") == (
        6,
        1,
        "name: duplicate scenario name 'd' (first at line 1) (each scenario of a file needs its own `name:`)",
    )


def test_nesting_and_alias_bombs_are_bounded() -> None:
    assert error_of("[" * 200_000)[2] == f"nesting deeper than {_yaml.MAX_DEPTH} levels"
    assert error_of("a: " + "{b: " * 100 + "1" + "}" * 100)[2] == f"nesting deeper than {_yaml.MAX_DEPTH} levels"
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    assert error_of("\n".join(lines))[2] == f"document expands to more than {_yaml.MAX_VALUES} values (YAML aliases?)"
    merges = ["m0: &m0 {" + ", ".join(f"k{i}: {i}" for i in range(10)) + "}"]
    merges += [f"m{d}: &m{d} {{<<: [{', '.join([f'*m{d - 1}'] * 10)}]}}" for d in range(1, 9)]
    assert error_of("\n".join(merges))[2] == f"document expands to more than {_yaml.MAX_VALUES} values (YAML aliases?)"
    # Aliases nest their target's depth: a chain of them must hit the depth limit, not RecursionError.
    chain = ["a0: &a0 " + "[" * 60 + "]" * 60]
    chain += [f"a{i}: &a{i} " + "[" * 50 + f"*a{i - 1}" + "]" * 50 for i in range(1, 30)]
    assert error_of("\n".join(chain))[2] == f"nesting deeper than {_yaml.MAX_DEPTH} levels"


def test_a_huge_modes_list_is_cut_before_the_schema() -> None:
    text = MINIMAL + "modes: [" + ", ".join(f"{{a: {i}}}" for i in range(5000)) + "]\n"
    scenarios, problems = check_text(text, "m.convo.yaml")
    assert scenarios == []
    messages = [p.message for p in problems]
    assert "modes: must have at most 4 items" in messages
    assert len(messages) == 6  # maxItems + the first five items' "unknown mode", not one per item


@pytest.mark.parametrize(
    "text",
    [
        MINIMAL,
        "a: [1\n",
        "a:\n\tb: 1\n",
        "version: 1\nmodel: m\nturns:\n  - user: hi\n    expect: {tokens: {input_max: x}}\n",
        "key: \x07\n",
        "- a\n- b: [c, {d: e}]\n",
    ],
)
def test_pure_python_and_libyaml_agree(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def outcome() -> object:
        try:
            return load_text(text, "p.convo.yaml")
        except ScenarioError as exc:
            return (exc.line, exc.column, exc.message)

    with_libyaml = outcome()
    monkeypatch.setattr(_yaml, "_SafeLoader", yaml.SafeLoader)
    pure = outcome()
    if isinstance(pure, tuple) and isinstance(with_libyaml, tuple) and "YAML syntax error" in pure[2]:
        # The two parsers word syntax errors differently; where they point must agree.
        assert (pure[0], pure[1], "YAML syntax error") == (with_libyaml[0], with_libyaml[1], with_libyaml[2][:17])
    else:
        assert pure == with_libyaml


# -- files -----------------------------------------------------------------------------------------


def test_load_file_reports_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_file(tmp_path)
    assert (info.value.path, info.value.line, info.value.column) == (str(tmp_path), 1, 1)
    assert info.value.message.startswith("cannot read the file: ")


def test_discover(tmp_path: Path) -> None:
    for name in [
        "b.convo.yaml",
        "a.convo.yml",
        "sub/c.convo.yaml",
        "notes.yaml",
        ".hidden/d.convo.yaml",
        "x.convo.json",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(MINIMAL)
    explicit = tmp_path / "notes.yaml"
    assert discover([tmp_path, explicit, str(tmp_path / "b.convo.yaml")]) == [
        tmp_path / "a.convo.yml",
        tmp_path / "b.convo.yaml",
        tmp_path / "notes.yaml",
        tmp_path / "sub" / "c.convo.yaml",
    ]
    with pytest.raises(ScenarioError, match="no such file or directory"):
        discover([tmp_path / "missing"])


def test_public_api_is_small_sorted_and_complete() -> None:
    names = convotest.scenario.__all__
    assert names == sorted(names)
    assert all(hasattr(convotest.scenario, name) for name in names)
    assert {"discover", "load_file", "load_text", "run_validate", "schema", "validate_paths"} <= set(names)
