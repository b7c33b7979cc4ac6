"""The plugin keeps loaded scenarios in pytest's cache folder: a second run collects without parsing,
with the same items and the same failure locations; an edit, ``--cache-clear``, ``-p no:cacheprovider``
and damaged entries behave as users expect from pytest's cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from plugin_helpers import CHAINED, GREETING, failure_section, write_project

from convotest.scenario import loader

ENTRIES = ".pytest_cache/d/convotest-scenarios"


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The scenario files parsed in this process's runs (the cache's misses), by file name."""
    seen: list[str] = []
    check = loader._check

    def counting(text: str | bytes, path: str) -> Any:
        seen.append(Path(path).name)
        return check(text, path)

    monkeypatch.setattr(loader, "_check", counting)
    return seen


def collected(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest_inprocess("--collect-only", "-q", *args)
    return [line for line in result.stdout.lines if "::" in line]


def entries(root: Path) -> list[Path]:
    return sorted((root / ENTRIES).glob("*.pickle"))


def test_a_second_run_collects_the_same_items_from_the_cache(pytester: pytest.Pytester, parses: list[str]) -> None:
    root = write_project(pytester, {"greeting": GREETING, "chained": CHAINED})
    first = collected(pytester)
    assert sorted(parses) == ["chained.convo.yaml", "greeting.convo.yaml"]
    assert len(entries(root)) == 2
    assert collected(pytester) == first
    assert len(parses) == 2, "the second run parsed nothing"
    assert first == [
        "chained.convo.yaml::chained[previous_response_id]",
        "chained.convo.yaml::chained[conversation]",
        "greeting.convo.yaml::greeting[manual_chat]",
        "greeting.convo.yaml::greeting[manual_responses]",
    ]


def test_failures_point_at_the_same_lines_after_a_cache_hit(
    pytester: pytest.Pytester, parses: list[str], recorded: Path
) -> None:
    failing = GREETING.replace('contains: ["I have seen 1 messages."]', 'contains: ["I have seen 2 messages."]')
    write_project(pytester, {"greeting": failing}, cassettes=recorded)
    sections = []
    for _ in range(2):
        result = pytester.runpytest_inprocess()
        result.assert_outcomes(failed=2)
        sections.append(failure_section(result.stdout.lines, "greeting [manual_chat]"))
    assert parses == ["greeting.convo.yaml"]
    assert sections[0] == sections[1]
    assert sections[0][0].startswith("greeting.convo.yaml:9: ")  # the line of the failing `contains`


def test_an_edited_file_is_collected_as_it_now_is(pytester: pytest.Pytester, parses: list[str]) -> None:
    root = write_project(pytester, {"greeting": GREETING})
    collected(pytester)
    path = root / "greeting.convo.yaml"
    path.write_text(GREETING.replace("name: greeting", "name: hello"))
    assert collected(pytester) == [
        "greeting.convo.yaml::hello[manual_chat]",
        "greeting.convo.yaml::hello[manual_responses]",
    ]
    path.write_text(GREETING.replace('  - user: "Orange."', '  - usr: "Orange."'))
    result = pytester.runpytest_inprocess("--collect-only", "-q")
    result.stdout.fnmatch_lines(["greeting.convo.yaml:10:5: turns[1]: unknown key 'usr' (did you mean 'user'?)"])
    assert parses == ["greeting.convo.yaml"] * 3
    assert len(entries(root)) == 1


def test_a_broken_file_is_reported_on_every_run(pytester: pytest.Pytester, parses: list[str]) -> None:
    write_project(pytester, {"broken": GREETING.replace("model: gpt-4o-mini\n", "")})
    for _ in range(2):
        result = pytester.runpytest_inprocess("--collect-only", "-q")
        result.stdout.fnmatch_lines(["broken.convo.yaml:1:1: missing required key 'model'"])
    assert parses == ["broken.convo.yaml"] * 2
    assert entries(pytester.path) == []


def test_without_the_cacheprovider_nothing_is_stored(pytester: pytest.Pytester, parses: list[str]) -> None:
    write_project(pytester, {"greeting": GREETING})
    first = collected(pytester, "-p", "no:cacheprovider")
    assert collected(pytester, "-p", "no:cacheprovider") == first
    assert len(first) == 2
    assert parses == ["greeting.convo.yaml"] * 2
    assert not (pytester.path / ".pytest_cache").exists()


def test_cache_clear_makes_every_file_load_again(pytester: pytest.Pytester, parses: list[str]) -> None:
    root = write_project(pytester, {"greeting": GREETING})
    first = collected(pytester)
    assert collected(pytester, "--cache-clear") == first
    assert collected(pytester) == first
    assert parses == ["greeting.convo.yaml"] * 2
    assert len(entries(root)) == 1


def test_damaged_entries_are_ignored_and_written_again(pytester: pytest.Pytester, parses: list[str]) -> None:
    root = write_project(pytester, {"greeting": GREETING, "chained": CHAINED})
    first = collected(pytester)
    good = {entry: entry.read_bytes() for entry in entries(root)}
    for entry, data in good.items():
        entry.write_bytes(data[: len(data) // 2])
    assert collected(pytester) == first
    assert {entry: entry.read_bytes() for entry in entries(root)} == good
    assert collected(pytester) == first
    assert len(parses) == 4


def test_the_convo_fixture_loads_through_the_cache(pytester: pytest.Pytester, parses: list[str]) -> None:
    write_project(pytester, {"greeting": GREETING})
    pytester.makepyfile(
        test_load="""
        def test_load(convo):
            scenario = convo.load("greeting.convo.yaml")
            assert scenario.turns[1].loc.line == 10
            assert scenario.path.endswith("greeting.convo.yaml")
        """
    )
    for _ in range(2):
        pytester.runpytest_inprocess("test_load.py").assert_outcomes(passed=1)
    assert parses == ["greeting.convo.yaml"]
