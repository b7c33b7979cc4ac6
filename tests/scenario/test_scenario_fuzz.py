"""Property tests: whatever the input, the loader returns scenarios or raises ScenarioError, nothing else."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convotest.errors import ScenarioError
from convotest.scenario import Scenario, load_text

GOOD = Path(__file__).parent / "data" / "good"
BASE: dict[str, Any] = yaml.safe_load((GOOD / "everything.convo.yaml").read_text())
KEYS = sorted(
    {"user", "input", "compact", "expect", "reply", "context", "tokens", "modes", "driver", "name", "params"}
    | set(BASE)
)
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["manual_chat", "conversation", "user", "assistant", "a.b:C", "[x", ""]),
    st.dates(),
    st.datetimes(timezones=st.just(datetime.UTC)),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=4),
    ),
    max_leaves=20,
)


def outcome(text: str | bytes) -> list[Scenario] | ScenarioError:
    """Load ``text``; fail the test if anything but ScenarioError escapes or the error is badly located."""
    try:
        return load_text(text, "fuzz.convo.yaml")
    except ScenarioError as exc:
        assert exc.line >= 1 and exc.column >= 1
        assert exc.path == "fuzz.convo.yaml"
        assert exc.message and not exc.message.startswith("internal error"), exc.message
        return exc


@FAST
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    outcome(text)


FRAGMENTS = [
    *["version: 1\n", "model: m\n", "turns:\n", "  - user: hi\n", "  - compact:\n", "    expect:\n", "---\n"],
    *["      tokens: {input_max: 5}\n", "&a ", "*a ", "<<: ", "\t", "[", "]", "{", "}", ": ", "- ", "'", '"'],
    *["!!set ", "!x ", "? ", "|\n", "#", "\n", "  ", "%YAML 1.1\n", "\x85", "\ufeff"],
]


@FAST
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30))
def test_yaml_shaped_text(parts: list[str]) -> None:
    outcome("".join(parts))


@FAST
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    outcome(data)


@FAST
@given(values)
def test_arbitrary_structures(data: Any) -> None:
    outcome(yaml.safe_dump(data))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


@FAST
@given(st.data())
def test_mutated_valid_scenario(data: st.DataObject) -> None:
    """Near-valid documents reach the semantic checks and the model builder, where crashes would hide."""
    doc = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(doc)[1:]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = data.draw(values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.sampled_from(KEYS))] = data.draw(values)
    result = outcome(yaml.safe_dump(doc))
    if isinstance(result, list):
        for scenario in result:
            assert scenario.turns and scenario.modes
            assert all(t.loc is not None and t.loc.line >= 1 for t in scenario.turns)


def test_unmutated_base_loads() -> None:
    """The mutation test starts from a valid scenario (else it would only test error paths)."""
    assert isinstance(outcome(yaml.safe_dump(BASE)), list)
