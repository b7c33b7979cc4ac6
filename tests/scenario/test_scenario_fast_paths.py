"""The loader's fast paths give what the general ones give.

The compiled schema check only says "valid" when jsonschema agrees (jsonschema writes every error
message), and the one-pass YAML reader gives the same data, positions and errors as the composer.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from test_scenario_fuzz import BASE, FRAGMENTS, KEYS, values

from convotest.errors import ScenarioError
from convotest.scenario import _yaml, loader
from convotest.scenario._quickschema import compile_schema

DATA = Path(__file__).parent / "data"
SHIPPED = Path(__file__).resolve().parents[2] / "scenarios"
FILES = sorted(DATA.glob("*/*")) + sorted(SHIPPED.rglob("*.convo.y*ml"))
MANY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def full_validator() -> Draft202012Validator:
    return Draft202012Validator(loader._inlined_schema())


def quick(data: Any) -> bool:
    return loader._quick_check()(data)


def documents(path: Path) -> list[_yaml.Document]:
    try:
        return _yaml.parse_documents(str(path), _yaml.decode(str(path), path.read_bytes()))
    except ScenarioError:
        return []


# -- the compiled schema check ------------------------------------------------------------------------


def test_the_shipped_schema_compiles() -> None:
    assert compile_schema(loader._inlined_schema()) is not None


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_quick_check_agrees_with_jsonschema_on_every_test_and_shipped_file(path: Path) -> None:
    """Valid documents take the fast path (no "not sure" for them); invalid ones never do."""
    validator = full_validator()
    for doc in documents(path):
        assert quick(doc.data) == (not list(validator.iter_errors(doc.data)))


@MANY
@given(st.data())
def test_quick_check_never_passes_what_jsonschema_rejects(data: st.DataObject) -> None:
    doc = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(1, 3))):
        parent: Any = doc
        while isinstance(parent, dict | list) and parent and data.draw(st.booleans()):
            key = data.draw(st.sampled_from(list(parent) if isinstance(parent, dict) else range(len(parent))))
            if not isinstance(parent[key], dict | list):
                break
            parent = parent[key]
        if isinstance(parent, dict):
            parent[data.draw(st.sampled_from([*KEYS, *parent]))] = data.draw(values)
        elif isinstance(parent, list) and parent:
            parent[data.draw(st.integers(0, len(parent) - 1))] = data.draw(values)
    if quick(doc):
        assert not list(full_validator().iter_errors(doc))


@pytest.mark.parametrize(
    ("schema", "value", "expected"),
    [
        ({"type": "integer"}, True, False),  # a bool is not an integer in JSON Schema
        ({"type": "integer"}, 2.0, False),  # jsonschema accepts it: left to jsonschema ("not sure")
        ({"type": "number"}, 2.5, True),
        ({"const": 1}, True, False),
        ({"enum": ["a", "b"]}, "b", True),
        ({"type": "string", "pattern": "^a$"}, "a\n", True),  # re.search, as jsonschema ($ matches before \n)
        ({"type": "array", "uniqueItems": True}, ["a", "a"], False),
        ({"type": "array", "uniqueItems": True}, [1, 2], False),  # non-text items: "not sure"
        ({"type": "object", "required": ["x"]}, {"y": 1}, False),
        ({"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}, {"a": 1, "b": 2}, False),
        ({"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}, {"a": 1}, True),
        ({"description": "anything"}, Path("x"), False),  # not JSON data: "not sure"
    ],
)
def test_quick_check_cases(schema: dict[str, Any], value: Any, expected: bool) -> None:
    check = compile_schema(schema)
    assert check is not None
    assert check(value) is expected


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "patternProperties": {"^x": {}}},
        {"anyOf": [{"type": "string"}]},
        {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        {"additionalProperties": {"type": "string"}},
        {"$ref": "https://example.com/other.json"},
        {"type": "string", "format": "date"},
    ],
)
def test_a_schema_with_unmodelled_keywords_compiles_to_nothing(schema: dict[str, Any]) -> None:
    """The loader then validates every document with jsonschema alone."""
    assert compile_schema(schema) is None


# -- the one-pass YAML reader -------------------------------------------------------------------------


def read_both(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast reader's documents (or error) equal the general reader's, position maps in order."""

    def outcome() -> object:
        try:
            docs = _yaml.parse_documents("f.convo.yaml", text)
        except ScenarioError as exc:
            return (exc.line, exc.column, exc.message)
        return [
            (d.index, d.line, d.column, repr(d.data), list(d.value_locs.items()), list(d.key_locs.items()))
            for d in docs
        ]

    fast = outcome()
    with monkeypatch.context() as patch:

        def never_simple(*args: object) -> list[_yaml.Document]:
            raise _yaml._NotSimple

        patch.setattr(_yaml, "_read_simple", never_simple)
        general = outcome()
    assert fast == general


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fast_reader_matches_the_composer_on_every_test_and_shipped_file(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        text = _yaml.decode(str(path), path.read_bytes())
    except ScenarioError:
        return
    read_both(text, monkeypatch)


EXTRA_FRAGMENTS = [
    *["a: 1\n", "a: 2\n", "? [x]\n: y\n", "1: x\n", "b: !!str 3\n", "c: !!int x\n", "d: !foo x\n"],
    *["e: 2001-13-45\n", "- &b x\n", "- *b\n", "{a: 1, a: 2}\n", "[a, [b, [c]]]\n", "x: !!map {}\n"],
    *["y: !!seq []\n", "z: ''\n", '"": q\n', "n: null\n", "~: t\n", "k: |\n  block\n", "? {a: b}\n"],
]


@MANY
@given(st.lists(st.sampled_from(FRAGMENTS + EXTRA_FRAGMENTS), max_size=30))
def test_fast_reader_matches_the_composer_on_yaml_shaped_text(parts: list[str]) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        read_both("".join(parts), monkeypatch)


@MANY
@given(values)
def test_fast_reader_matches_the_composer_on_structures(data: Any) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        read_both(yaml.safe_dump(data), monkeypatch)


def test_fast_reader_is_used_for_plain_files_and_not_for_anchors(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    compose = _yaml._Composer.compose

    def counting(self: _yaml._Composer, events: Any) -> list[Any]:
        calls.append(self.path)
        return compose(self, events)

    monkeypatch.setattr(_yaml._Composer, "compose", counting)
    _yaml.parse_documents("plain.convo.yaml", "a: 1\nb: [x, {c: d}]\n")
    assert calls == []
    _yaml.parse_documents("anchors.convo.yaml", "a: &x 1\nb: *x\n")
    assert calls == ["anchors.convo.yaml"]
