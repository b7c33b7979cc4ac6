"""The JSON Schema: complete descriptions, strictness, agreement with the model, shipped scenarios valid."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from convotest.scenario import ALL_MODES, load_file, schema
from convotest.scenario.model import CompactionExpect, ContextExpect, Expect, ReplyExpect, TokensExpect
from convotest.scenario.schema import schema_text

ROOT = Path(__file__).parents[2]
SHIPPED = sorted((ROOT / "scenarios").glob("*.convo.yaml"))
GOOD = sorted((Path(__file__).parent / "data" / "good").glob("*.convo.y*ml"))


def object_schemas(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every sub-schema that declares ``properties``, with a JSON-pointer-ish name."""
    if isinstance(node, dict):
        if "properties" in node:
            yield where, node
        for key, value in node.items():
            yield from object_schemas(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from object_schemas(value, f"{where}/{index}")


def test_schema_is_valid_draft_2020_12() -> None:
    s = schema()
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(s)


def test_every_property_has_a_description() -> None:
    missing = [
        f"{where}/properties/{name}"
        for where, node in object_schemas(schema())
        for name, prop in node["properties"].items()
        if not str(prop.get("description", "")).strip()
    ]
    assert missing == []


def test_every_object_rejects_unknown_keys() -> None:
    loose = [where for where, node in object_schemas(schema()) if node.get("additionalProperties") is not False]
    assert loose == []


def test_schema_returns_a_fresh_copy_of_the_shipped_file() -> None:
    first = schema()
    first["title"] = "changed"
    assert schema()["title"] != "changed"
    shipped = ROOT / "convotest" / "schemas" / "scenario.schema.json"
    assert json.loads(shipped.read_text()) == schema() == json.loads(schema_text())


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_schema_and_model_name_the_same_fields() -> None:
    defs = schema()["$defs"]
    assert set(defs["tokensExpect"]["properties"]) == _fields(TokensExpect)
    assert set(defs["replyExpect"]["properties"]) == _fields(ReplyExpect)
    assert set(defs["compactionExpect"]["properties"]) == _fields(CompactionExpect)
    assert set(defs["contextExpect"]["properties"]) == _fields(ContextExpect) - {"same_across_modes"}
    assert set(defs["turnExpect"]["properties"]) == _fields(Expect) - {"locs"}
    assert tuple(schema()["properties"]["modes"]["items"]["enum"]) == ALL_MODES


def _documents(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


@pytest.mark.parametrize("path", SHIPPED + GOOD, ids=lambda p: p.name)
def test_scenario_files_validate_against_the_schema_alone(path: Path) -> None:
    validator = Draft202012Validator(schema())
    for document in _documents(path):
        assert [e.message for e in validator.iter_errors(document)] == []


def test_the_five_guide_flows_are_shipped() -> None:
    assert [p.name for p in SHIPPED] == [
        "dodgeball.convo.yaml",
        "explain_joke.convo.yaml",
        "jokes.convo.yaml",
        "knock_knock.convo.yaml",
        "long_compaction.convo.yaml",
    ]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_scenarios_point_editors_at_the_schema(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    assert (path.parent / first.removeprefix(prefix)).resolve() == (
        ROOT / "convotest" / "schemas" / "scenario.schema.json"
    )


def test_shipped_scenario_modes() -> None:
    modes = {p.stem.removesuffix(".convo"): load_file(p)[0].modes for p in SHIPPED}
    assert modes == {
        "dodgeball": ("conversation",),
        "explain_joke": ("previous_response_id",),
        "jokes": ("manual_chat", "manual_responses"),
        "knock_knock": ALL_MODES,
        "long_compaction": ("manual_responses", "previous_response_id", "conversation"),
    }


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_expectations_follow_the_emulator_contract(path: Path) -> None:
    """Recompute, per turn, the emulator's n and context.messages (docs/scenario-format.md) and compare."""
    (scenario,) = load_file(path)
    seen = 0  # messages of the expanded context so far (what the emulator's n counts)
    window: list[str] = []  # roles of the context's message items so far
    for turn in scenario.turns:
        if turn.kind == "compact":
            expected_n, expected_roles = None, list(window)
            window = [role for role in window if role == "user"]  # the compaction item is not a message
        else:
            seen += len(turn.messages)
            window += [m.role for m in turn.messages]
            expected_n, expected_roles = seen, list(window)
            seen += 1
            window.append("assistant")
        expect = turn.expect
        if expect is None:
            continue
        if expect.reply is not None and expected_n is not None:
            counts = [c for c in expect.reply.contains if c.startswith("I have seen ")]
            assert counts in ([], [f"I have seen {expected_n} messages."]), turn.describe()
        if expect.context is not None:
            if expect.context.messages is not None:
                assert expect.context.messages == len(expected_roles), turn.describe()
            if expect.context.roles is not None:
                assert list(expect.context.roles) == expected_roles, turn.describe()
