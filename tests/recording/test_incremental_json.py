"""``HistoryParser``: equal to ``json.loads`` on every body, and sharing a resent history's items."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convotest.incremental_json import HistoryParser

_ITEM = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
_FORMATS: list[dict[str, Any]] = [
    {},
    {"separators": (",", ":"), "ensure_ascii": False},
    {"indent": 2},
    {"separators": (" , ", " : ")},
]


def _conversation(turns: int) -> list[bytes]:
    """Bodies as a manual-mode client sends them: the whole history again every turn."""
    history: list[Any] = []
    bodies = []
    for k in range(turns):
        history.append({"role": "user", "content": f"turn {k} — ünïcode 😀"})
        body = {"model": "m", "instructions": "Be brief.", "input": list(history), "store": False}
        bodies.append(json.dumps(body).encode("utf-8"))
        history.append({"type": "message", "id": f"msg_{k:08d}", "content": [{"type": "output_text", "text": "ok"}]})
    return bodies


def test_a_resent_history_is_parsed_once_and_its_items_shared() -> None:
    parser = HistoryParser()
    previous: list[Any] = []
    for number, body in enumerate(_conversation(6)):
        parsed = parser.parse(body, "POST /v1/responses")
        assert parsed.data == json.loads(body)
        assert parsed.field == "input"
        assert parsed.shared == len(previous) == max(0, 2 * number - 1)
        # The resent items are the previous body's very objects.
        assert all(a is b for a, b in zip(parsed.data["input"], previous, strict=False))
        previous = parsed.data["input"]


def test_routes_are_continued_separately() -> None:
    parser = HistoryParser()
    first, second = _conversation(2)
    assert parser.parse(first, "POST /v1/responses").shared == 0
    assert parser.parse(b'{"messages": [{"role": "user", "content": "x"}]}', "POST /v1/chat/completions").shared == 0
    assert parser.parse(second, "POST /v1/responses").shared == 1
    assert parser.parse(second, "POST /v1/other").shared == 0


@pytest.mark.parametrize(
    ("before", "after", "shared"),
    [
        (b'{"input":[1]}', b'{"input":[12]}', 0),  # a number is not a complete item until what follows it
        (b'{"input":[1]}', b'{"input":[1.5]}', 0),
        (b'{"input":[1]}', b'{"input":[1,2]}', 1),
        (b'{"input":[]}', b'{"input":[ 3 ]}', 0),
        (b'{"input":[ ]}', b'{"input":[ ]}', 0),
        (b'{"input":["a","b"]}', b'{"input":["a"]}', 0),  # history cut short (compaction): parsed afresh
        (b'{"input":["a"],"x":1}', b'{"input":["a","b"],"x":2,"y":[3]}', 1),
    ],
)
def test_continuation_edges(before: bytes, after: bytes, shared: int) -> None:
    parser = HistoryParser()
    parser.parse(before, "r")
    parsed = parser.parse(after, "r")
    assert (parsed.data, parsed.shared) == (json.loads(after), shared)


@pytest.mark.parametrize(
    ("body", "data", "text"),
    [
        (b"", None, None),
        (b"  \n", None, None),
        (b"not json", None, "not json"),
        (b'{"input":[1', None, '{"input":[1'),
        (b'{"input":[1]} trailing', None, '{"input":[1]} trailing'),
        (b"[1, 2]", [1, 2], None),
        (b'{"a": 1}', {"a": 1}, None),
        (b'{"input": [1], "input": [2]}', {"input": [2]}, None),  # json.loads keeps the last
        (b'{"input": "text"}', {"input": "text"}, None),
        (b'{"input":[5,\xff]}', None, '{"input":[5,\ufffd]}'),  # not UTF-8: replaced, as the traffic log shows it
    ],
)
def test_bodies_without_a_history_to_continue(body: bytes, data: Any, text: str | None) -> None:
    parser = HistoryParser()
    parser.parse(b'{"input":[5]}', "r")
    parsed = parser.parse(body, "r")
    assert (parsed.data, parsed.text, parsed.shared) == (data, text, 0)


def test_text_bodies_are_continued_like_bytes() -> None:
    parser = HistoryParser()
    bodies = [body.decode("utf-8") for body in _conversation(3)]
    assert [parser.parse(body).shared for body in bodies] == [0, 1, 3]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(_ITEM, max_size=3),  # items added this turn
            st.integers(min_value=0, max_value=3),  # items dropped from the end first (0 = none)
            st.dictionaries(st.sampled_from(["model", "store", "zz", "instructions"]), _ITEM, max_size=3),
            st.sampled_from(range(len(_FORMATS))),
            st.booleans(),  # bytes or text
        ),
        min_size=1,
        max_size=6,
    )
)
def test_equal_to_json_loads_on_any_sequence(steps: list[tuple[list[Any], int, dict[str, Any], int, bool]]) -> None:
    parser = HistoryParser()
    history: list[Any] = []
    for added, dropped, others, fmt, as_bytes in steps:
        if dropped:
            del history[-dropped:]
        history.extend(added)
        body = json.dumps({**others, "input": list(history)}, **_FORMATS[fmt])
        parsed = parser.parse(body.encode("utf-8") if as_bytes else body, "r")
        assert parsed.data == json.loads(body)
        assert parsed.text is None
        assert parsed.field == "input"
        assert 0 <= parsed.shared <= len(history)
