"""Bad scenarios: whatever a scenario file holds, the loader answers with scenarios or one ``ScenarioError``
that names a line of the file — never another exception, never its own "internal error" fallback.

Two hypothesis generators, 2,000 documents in all by default (times ``CONVOTEST_SOAK``):

* scenario-shaped documents: every field of format v1, each usually valid and sometimes replaced by a
  value of the wrong type or shape, so the documents get past the YAML and schema passes and into the
  semantic checks and the model builder, where crashes would hide;
* mutations of the shipped scenario files as text: lines deleted, duplicated, swapped or re-indented,
  scalars swapped for other types, the file truncated, garbage (text or bytes) inserted.

By default the runs are derandomised (the same examples every run, so CI cannot flake); a soak run
(``CONVOTEST_SOAK`` > 1) explores at random.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import mutate_lines, scaled, shipped_files, soak

from convotest.errors import ScenarioError
from convotest.scenario.loader import load_text
from convotest.scenario.model import Scenario

#: Documents per generator: 500 scenario-shaped (each costs ~15 ms to generate) + 1,500 mutations = 2,000.
GENERATED = scaled(500)
MUTATED = scaled(1500)


def fuzz(examples: int) -> Any:
    return settings(
        max_examples=examples,
        derandomize=soak() == 1,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


PATH = "fuzzed.convo.yaml"
SHIPPED = {path.name: path.read_text(encoding="utf-8") for path in shipped_files()}


def outcome(text: str | bytes) -> list[Scenario] | ScenarioError:
    """Load ``text``; anything but scenarios or a well-located ``ScenarioError`` fails the test."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    lines = data.count(b"\n") + data.count(b"\r") + 1
    try:
        scenarios = load_text(text, PATH)
    except ScenarioError as exc:
        assert exc.path == PATH
        assert 1 <= exc.line <= lines + 1, (exc.line, lines, exc.message)
        assert exc.column >= 1
        assert exc.message.strip(), exc
        assert "internal error" not in exc.message, exc.message
        assert str(exc).startswith(f"{PATH}:{exc.line}:{exc.column}: ")
        return exc
    for scenario in scenarios:
        assert scenario.turns and scenario.modes
        assert scenario.loc is not None and scenario.loc.line >= 1
        assert all(turn.loc is not None and 1 <= turn.loc.line <= lines for turn in scenario.turns)
    return scenarios


# --- scenario-shaped documents -------------------------------------------------------------------------

MODES = ["manual_chat", "manual_responses", "previous_response_id", "conversation"]
ROLES = ["user", "assistant", "system", "developer"]

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["custom", "tool", "robot", "a.b:C", "", "1", "[x", "*a"]),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)

PHRASES = ["Tell me a joke.", "hi", "Orange.", "x", "Ünïcödé ✓", "I have seen 3 messages.", "a: b", "- [x]", "#no", "…"]
#: Mostly fixed phrases (generating free text is what costs most here), sometimes any text at all.
text = st.one_of(st.sampled_from(PHRASES), st.sampled_from(PHRASES), st.text(min_size=1, max_size=20).filter(str.strip))
words = st.lists(text, min_size=0, max_size=3)
counts = st.integers(0, 300_000)
regex = st.sampled_from(["^I have seen", r"\d+ messages", "(", "[a-", "a{2,1}", "(?P<x>a)(?P<x>b)", ".*"])
message = st.fixed_dictionaries({"role": st.sampled_from(ROLES), "content": text})
TOKEN_KEYS = ["input_max", "input_min", "output_max", "billed_input_max", "total_max", "reasoning_max", "headroom_min"]

reply = st.fixed_dictionaries({}, optional={"contains": words, "not_contains": words, "matches": regex})
context = st.fixed_dictionaries(
    {},
    optional={
        "messages": st.integers(0, 12),
        "roles": st.lists(st.sampled_from(ROLES), max_size=5),
        "contains": words,
        "equals": st.lists(message, max_size=4),
        "instructions": text,
        "reasoning_items": st.integers(0, 3),
        "starts_with_compaction": st.booleans(),
    },
)
tokens = st.fixed_dictionaries(
    {},
    optional={name: counts for name in TOKEN_KEYS}
    | {"window_used_max": st.floats(0, 1), "estimate_tolerance": st.integers(0, 100)},
)
compaction = st.fixed_dictionaries(
    {},
    optional={
        "compaction_items": st.integers(0, 3),
        "user_messages_verbatim": st.booleans(),
        "input_tokens_after_max": counts,
    },
)
turn_expect = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["completed", "incomplete"]),
        "reply": reply,
        "context": context,
        "tokens": tokens,
    },
)
compact_expect = st.fixed_dictionaries({}, optional={"compaction": compaction, "tokens": tokens})
first_turn = st.one_of(
    st.fixed_dictionaries({"user": text}, optional={"expect": turn_expect}),
    st.fixed_dictionaries({"input": st.lists(message, min_size=1, max_size=3)}, optional={"expect": turn_expect}),
)
turn = st.one_of(
    first_turn,
    st.fixed_dictionaries(
        {"compact": st.fixed_dictionaries({}, optional={"instructions": text})}, optional={"expect": compact_expect}
    ),
)
document = st.fixed_dictionaries(
    {
        "version": st.just(1),
        "model": st.sampled_from(["gpt-4o-mini", "gpt-4.1-mini", "o3-mini", "gpt-5", "no-such-model"]),
        "turns": st.builds(lambda first, rest: [first, *rest], first_turn, st.lists(turn, max_size=5)),
    },
    optional={
        "name": st.sampled_from(["jokes", "a", "x-1", "long_name_with_parts", "0"]),
        "description": text,
        "instructions": text,
        "modes": st.lists(st.sampled_from(MODES), min_size=1, max_size=4, unique=True),
        "params": st.dictionaries(
            st.sampled_from(["temperature", "top_p", "max_output_tokens", "seed"]),
            st.one_of(st.integers(0, 100), st.floats(0, 2)),
            max_size=3,
        ),
        "limits": st.fixed_dictionaries(
            {}, optional={"context_window": st.integers(1000, 2_000_000), "max_output_tokens": st.integers(16, 900)}
        ),
        "expect": st.fixed_dictionaries(
            {}, optional={"tokens": tokens, "context": st.fixed_dictionaries({"same_across_modes": st.booleans()})}
        ),
        "marks": st.fixed_dictionaries({}, optional={"skip": text, "xfail": text}),
        "server_compaction": st.fixed_dictionaries({"compact_threshold": st.integers(900, 200_000)}),
    },
)


def _nodes(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _nodes(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _nodes(value, (*path, index))
    return out


@st.composite
def corrupted(draw: st.DrawFn) -> dict[str, Any]:
    """A scenario-shaped document with zero to three corruptions: a node replaced by a value of another
    type, a key deleted, an unknown key added, a driver set."""
    doc: dict[str, Any] = draw(document)
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_nodes(doc)))
        parent: Any = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["retype", "retype", "delete", "add", "driver"]))
        if action == "driver":
            doc["driver"] = draw(st.sampled_from(["pkg.mod:Bot", "no colon", "a.b:C.d", ":x"]))
        elif not path:
            continue
        elif action == "retype":
            parent[path[-1]] = draw(junk)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(["surprise", "expect", "user", "compact", "turns", "modes"]))] = draw(junk)
    return doc


@st.composite
def documents(draw: st.DrawFn) -> str:
    """One or two such documents as YAML text, block or flow style."""
    docs = draw(st.lists(corrupted(), min_size=1, max_size=2))
    flow = draw(st.sampled_from([False, None, True]))
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump_all(
        docs, Dumper=dumper, default_flow_style=flow, allow_unicode=True, sort_keys=draw(st.booleans())
    )


@fuzz(GENERATED)
@given(documents())
def test_generated_documents(source: str) -> None:
    outcome(source)


def test_the_generator_reaches_every_pass() -> None:
    """The generated documents are not all thrown out early: some load, some fail the schema, some fail a
    semantic rule that only the loader's last pass checks."""
    seen: dict[str, int] = {"loaded": 0, "schema": 0, "semantic": 0}
    semantic = ("is greater than", "but equals lists", "needs a Responses mode", "invalid regular expression")

    @settings(max_examples=100, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(documents())
    def sample(source: str) -> None:
        result = outcome(source)
        if isinstance(result, list):
            seen["loaded"] += 1
        elif any(marker in result.message for marker in semantic):
            seen["semantic"] += 1
        else:
            seen["schema"] += 1

    sample()
    assert all(seen.values()), seen


# --- mutations of the shipped scenarios ---------------------------------------------------------------

SCALAR = re.compile(r"(:\s+|-\s+)([^\s#\[\]{}][^#]*?)\s*$")
REPLACEMENTS = ["null", "true", "0", "-1", "1e400", "[]", "{}", "[1, 2]", "{a: 1}", '""', "'x'", "~", "!!binary AA=="]
GARBAGE = ["\t", ": :", "- -", "{", "]", "&a", "*a", "*nope", "<<: *a", "!!python/object:os.system", "%TAG", "\x00"]


def _retyped(draw: st.DrawFn, line: str) -> str:
    match = SCALAR.search(line.rstrip("\n"))
    return line[: match.start(2)] + draw(st.sampled_from(REPLACEMENTS)) + "\n" if match else line


def _with_garbage(draw: st.DrawFn, line: str) -> str:
    junk = draw(st.one_of(st.sampled_from(GARBAGE), st.text(max_size=10)))
    column = draw(st.integers(0, len(line)))
    return line[:column] + junk + line[column:]


@st.composite
def mutated(draw: st.DrawFn) -> str | bytes:
    """A shipped scenario with one to four textual mutations."""
    name = draw(st.sampled_from(sorted(SHIPPED)))
    result = mutate_lines(
        draw,
        SHIPPED[name],
        {
            "indent": lambda draw, line: " " * draw(st.integers(1, 4)) + line,
            "dedent": lambda draw, line: line.lstrip(" "),
            "retype": _retyped,
            "garbage": _with_garbage,
        },
    )
    if draw(st.integers(0, 9)) == 0:
        return result.encode("utf-8")[: draw(st.integers(0, len(result)))] + draw(st.binary(max_size=8))
    return result


@fuzz(MUTATED)
@given(mutated())
def test_mutated_shipped_scenarios(source: str | bytes) -> None:
    outcome(source)


def test_the_shipped_scenarios_load_unmutated() -> None:
    """The mutations start from valid files (else only error paths would be exercised)."""
    for name, source in SHIPPED.items():
        assert isinstance(outcome(source), list), name
