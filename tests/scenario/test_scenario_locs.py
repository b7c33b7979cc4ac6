"""``Locs``: the key positions of a scenario, held as numbers and read as ``SourceLoc``s."""

from __future__ import annotations

import gc
import pickle

from convotest.errors import Locs, SourceLoc
from convotest.scenario import load_text

TEXT = """\
version: 1
name: budget
model: gpt-4o-mini
turns:
  - user: Hello
    expect:
      reply: {contains: [hi]}
      tokens:
        input_max: 100
"""


def test_a_position_reads_as_the_source_location_it_was_packed_from() -> None:
    locs = Locs("a.convo.yaml", {"reply": Locs.pack(7, 7), "tokens.input_max": Locs.pack(9, 9)})
    assert locs["tokens.input_max"] == SourceLoc("a.convo.yaml", 9, 9)
    assert locs.get("missing") is None
    assert "reply" in locs and "missing" not in locs
    assert list(locs) == ["reply", "tokens.input_max"] and len(locs) == 2
    # a mapping like any other: equal to a dict of the same locations, in a repr that shows them
    assert locs == {"reply": SourceLoc("a.convo.yaml", 7, 7), "tokens.input_max": SourceLoc("a.convo.yaml", 9, 9)}
    assert locs != {"reply": SourceLoc("a.convo.yaml", 7, 8), "tokens.input_max": SourceLoc("a.convo.yaml", 9, 9)}
    assert "SourceLoc(path='a.convo.yaml', line=9, column=9)" in repr(locs)


def test_long_lines_and_far_columns_keep_their_numbers() -> None:
    locs = Locs("a.convo.yaml", {"k": Locs.pack(2_000_000, 70_000)})
    assert (locs["k"].line, locs["k"].column) == (2_000_000, 70_000)


def test_a_loaded_scenario_keeps_its_positions_where_the_garbage_collector_never_looks() -> None:
    [scenario] = load_text(TEXT, "budget.convo.yaml")
    expect = scenario.turns[0].expect
    assert expect is not None
    assert isinstance(expect.locs, Locs) and isinstance(scenario.locs, Locs)
    assert expect.locs["tokens.input_max"] == SourceLoc("budget.convo.yaml", 9, 9)
    assert scenario.locs["turns"] == SourceLoc("budget.convo.yaml", 4, 1)
    # what Locs is for: pytest's end-of-session collections walk every tracked object a session keeps
    assert not gc.is_tracked(expect.locs.packed)
    assert not gc.is_tracked(scenario.locs.packed)


def test_locs_survive_pickling() -> None:
    locs = Locs("a.convo.yaml", {"reply": Locs.pack(7, 7)})
    assert pickle.loads(pickle.dumps(locs)) == locs
