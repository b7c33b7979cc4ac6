"""Compaction checks: the compact response's shape, what it kept, how the next turn continues from it.

Three layers, all pure (no I/O except reading JSON Schemas):

* ``check_compaction(window, compacted)`` / ``check_inline_compaction(response)`` return ``Problem``s with
  a JSON path into the response, what was expected and what came;
* ``check_continuation`` / ``check_inline_continuation`` check the request after a compaction;
* ``check_compaction_expectations(scenario, mode, transcript)`` turns those into scenario ``Failure``s,
  and ``compaction_report(transcript)`` measures what each compact step cost and saved.

See ``docs/compaction.md`` for what each problem code means.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from convotest.errors import SourceLoc
from convotest.failures import Failure
from convotest.scenario.model import CompactionExpect, Scenario, Turn
from convotest.transcript import ContextItem, Transcript, TurnRecord

__all__ = [
    "COMPACTION_ID_PREFIX",
    "CompactionStep",
    "Problem",
    "check_compaction",
    "check_compaction_expectations",
    "check_continuation",
    "check_inline_compaction",
    "check_inline_continuation",
    "compaction_report",
    "item_schema",
    "response_schema",
]

#: Prefix of compaction item ids in real traffic (``cmp_0fe74db1…``); the compact response itself is ``resp_…``.
COMPACTION_ID_PREFIX = "cmp_"

_RESPONSE_SCHEMA = "compaction_response.schema.json"
_ITEM_SCHEMA = "compaction_item.schema.json"

#: Item types a compact step must have replaced, with the words used in messages.
_LEFTOVER_NAMES = {
    "reasoning": "reasoning item",
    "function_call": "function call",
    "function_call_output": "function call output",
}


# --------------------------------------------------------------------------------------------- schemas


def _load_schema(name: str) -> dict[str, Any]:
    text = resources.files("convotest").joinpath("schemas", name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def response_schema() -> dict[str, Any]:
    """The shipped JSON Schema (draft 2020-12) of a ``/v1/responses/compact`` response body."""
    return _load_schema(_RESPONSE_SCHEMA)


def item_schema() -> dict[str, Any]:
    """The shipped JSON Schema (draft 2020-12) of one compaction item."""
    return _load_schema(_ITEM_SCHEMA)


@cache
def _builtin_validator(name: str) -> Any:
    # The response schema refers to the item schema by relative $ref; a registry resolves it offline.
    item = item_schema()
    registry: Registry[Any] = Registry().with_resource(
        item["$id"], Resource.from_contents(item, default_specification=DRAFT202012)
    )
    schema = response_schema() if name == _RESPONSE_SCHEMA else item
    return jsonschema.Draft202012Validator(schema, registry=registry)


# --------------------------------------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a compaction: a code, a one-line message, and where (JSON path)."""

    code: str
    message: str
    #: JSON path into the checked document, e.g. ``$.output[3].type`` or ``$.input[0]``.
    path: str
    expected: Any = None
    actual: Any = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _p(base: str, *parts: str | int) -> str:
    out = base
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


# --------------------------------------------------------------------------------------------- items


def _item_type(item: Mapping[str, Any]) -> str | None:
    t = item.get("type")
    if isinstance(t, str):
        return t
    # Short-form input messages ({role, content}) carry no type.
    return "message" if "role" in item else None


def _text_of(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)]
        return "".join(parts)
    return None


def _is_user_message(item: Any) -> bool:
    return isinstance(item, Mapping) and _item_type(item) == "message" and item.get("role") == "user"


def _text_path(base: str, item: Mapping[str, Any]) -> str:
    content = item.get("content")
    if isinstance(content, list):
        texts = [i for i, p in enumerate(content) if isinstance(p, Mapping) and "text" in p]
        if len(texts) == 1:
            return _p(base, "content", texts[0], "text")
    return _p(base, "content")


def _leftover_name(item: Mapping[str, Any]) -> str | None:
    """What to call an item a compaction should have removed, or ``None`` when it may stay."""
    t = _item_type(item)
    if t == "message":
        return "assistant message" if item.get("role") == "assistant" else None
    if t is None:
        return None
    if t in _LEFTOVER_NAMES:
        return _LEFTOVER_NAMES[t]
    # Every built-in tool has a `<tool>_call` item and often a `<tool>_call_output` answer.
    if t.endswith("_call") or t.endswith("_call_output"):
        return f"{t} item"
    return None


def _describe_item(item: Any) -> str:
    if not isinstance(item, Mapping):
        return f"{type(item).__name__} {item!r}"
    t = _item_type(item)
    if t == "message":
        text = _text_of(item.get("content"))
        return f"{item.get('role')} message {_short(text or '')}"
    if t == "compaction":
        return f"compaction item {item.get('id') or '(no id)'}"
    return f"{t or 'untyped'} item"


def _compaction_indexes(output: Sequence[Any], *, strict: bool) -> list[int]:
    found = []
    for i, item in enumerate(output):
        if not isinstance(item, Mapping):
            continue
        t = _item_type(item)
        # With a user schema a gateway may name its summary item differently; any item that is neither a
        # message nor something compaction must remove is then taken as the compaction item.
        if t == "compaction" or (not strict and t not in (None, "message") and _leftover_name(item) is None):
            found.append(i)
    return found


# --------------------------------------------------------------------------------------------- checks


def _schema_problems(document: Any, validator: Any) -> list[Problem]:
    problems = []
    for err in sorted(validator.iter_errors(document), key=lambda e: (list(e.absolute_path), e.message)):
        path = err.json_path
        if err.validator == "required" and isinstance(err.instance, Mapping):
            # Point at the missing field itself, so it lines up with the semantic problems' paths.
            missing = [k for k in err.validator_value if k not in err.instance and repr(k) in err.message]
            if missing:
                path = _p(path, missing[0])
        problems.append(
            Problem(
                "schema",
                f"does not match the schema: {err.message}",
                path,
                expected=f"{err.validator}: {err.validator_value!r}",
                actual=err.instance,
            )
        )
    return problems


def _user_message_problems(window: Sequence[Any], output: Sequence[Any]) -> list[Problem]:
    expected = [_text_of(m.get("content")) or "" for m in window if _is_user_message(m)]
    found = [(i, _text_of(m.get("content")) or "") for i, m in enumerate(output) if _is_user_message(m)]
    actual = [text for _, text in found]

    def where(j: int) -> int:
        # Output index a window message missing before found[j] should have been at.
        return found[j][0] if j < len(found) else len(output)

    missing: list[tuple[int, int]] = []  # (window user message number, output index)
    extra: list[int] = []  # positions in `found`
    problems: list[Problem] = []
    matcher = difflib.SequenceMatcher(a=expected, b=actual, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        paired = min(i2 - i1, j2 - j1) if op == "replace" else 0
        for k in range(paired):
            idx, text = found[j1 + k]
            problems.append(
                Problem(
                    "user_message_edited",
                    f"user message {i1 + k + 1} of the window was changed: expected "
                    f"{_short(expected[i1 + k])}, got {_short(text)}",
                    _text_path(_p("$.output", idx), output[idx]),
                    expected=expected[i1 + k],
                    actual=text,
                )
            )
        missing.extend((i, where(j1 + paired)) for i in range(i1 + paired, i2))
        extra.extend(range(j1 + paired, j2))

    moved = {text for text in (expected[i] for i, _ in missing) if text in {actual[j] for j in extra}}
    for i, idx in missing:
        text = expected[i]
        if text in moved:
            continue
        problems.append(
            Problem(
                "user_message_missing",
                f"user message {i + 1} of the window is missing: expected {_short(text)}",
                _p("$.output", idx),
                expected=text,
                actual=None,
            )
        )
    for j in extra:
        idx, text = found[j]
        if text in moved:
            where_from = expected.index(text) + 1
            problems.append(
                Problem(
                    "user_message_order",
                    f"user message {where_from} of the window is out of order: {_short(text)} "
                    f"is at output position {idx}",
                    _p("$.output", idx),
                    expected=expected,
                    actual=actual,
                )
            )
        else:
            problems.append(
                Problem(
                    "user_message_extra",
                    f"user message not in the window: {_short(text)}",
                    _p("$.output", idx),
                    expected=None,
                    actual=text,
                )
            )
    return sorted(problems, key=lambda p: _path_key(p.path))


def _path_key(path: str) -> tuple[int, str]:
    # Sort by output index first so problems read top to bottom like the response.
    head = path.split("]", 1)[0]
    digits = head.rsplit("[", 1)[-1]
    return (int(digits) if digits.isdigit() else -1, path)


def _compaction_item_problems(item: Mapping[str, Any], base: str) -> list[Problem]:
    problems = []
    content = item.get("encrypted_content")
    if not isinstance(content, str) or not content:
        got = "nothing (field absent)" if "encrypted_content" not in item else repr(content)
        problems.append(
            Problem(
                "encrypted_content_empty",
                f"compaction item has no encrypted_content: expected a non-empty string, got {got}",
                _p(base, "encrypted_content"),
                expected="non-empty string",
                actual=content,
            )
        )
    cid = item.get("id")
    if not isinstance(cid, str) or not cid.startswith(COMPACTION_ID_PREFIX) or cid == COMPACTION_ID_PREFIX:
        problems.append(
            Problem(
                "compaction_id",
                f"compaction item id should look like '{COMPACTION_ID_PREFIX}…', got {cid!r}",
                _p(base, "id"),
                expected=f"{COMPACTION_ID_PREFIX}…",
                actual=cid,
            )
        )
    return problems


def _usage_problems(document: Mapping[str, Any], *, required: bool) -> list[Problem]:
    usage = document.get("usage")
    if not isinstance(usage, Mapping):
        if not required:
            return []
        return [
            Problem(
                "usage_missing",
                f"usage is missing: expected input_tokens, output_tokens and total_tokens, got {usage!r}",
                "$.usage",
                expected="usage object",
                actual=usage,
            )
        ]
    inp, out, total = (usage.get(k) for k in ("input_tokens", "output_tokens", "total_tokens"))
    if not all(isinstance(v, int) for v in (inp, out, total)):
        # The schema names the bad field; a sum of non-numbers says nothing more.
        return []
    assert isinstance(inp, int) and isinstance(out, int)
    if total != inp + out:
        return [
            Problem(
                "usage_inconsistent",
                f"usage.total_tokens is {total}, expected input_tokens + output_tokens = {inp} + {out} = {inp + out}",
                "$.usage.total_tokens",
                expected=inp + out,
                actual=total,
            )
        ]
    return []


def _merge(semantic: list[Problem], schema: list[Problem]) -> list[Problem]:
    # A semantic problem explains the same spot better than the schema's generic error: keep one.
    # An item reported whole (a leftover) also covers the schema's complaints about its fields.
    taken = {p.path for p in semantic}
    items = tuple(p.path + sep for p in semantic if p.path.endswith("]") for sep in ".[")
    return semantic + [p for p in schema if p.path not in taken and not p.path.startswith(items)]


def check_compaction(
    window: Sequence[Mapping[str, Any]],
    compacted: Mapping[str, Any],
    *,
    schema: Mapping[str, Any] | None = None,
) -> list[Problem]:
    """Check a compact response against the window that was sent; an empty list means it is sound.

    ``schema`` (a user JSON Schema for gateways with another shape) replaces the shipped one; the checks
    that restate the shipped shape (item types, id prefix, ``encrypted_content``, usage present) are then
    left to it, while the content checks (user messages, leftovers, one compaction item last) still run.
    """
    if isinstance(window, str):
        window = [{"role": "user", "content": window}]
    strict = schema is None
    if strict:
        validator = _builtin_validator(_RESPONSE_SCHEMA)
    else:
        validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)(schema)
    schema_problems = _schema_problems(compacted, validator)
    if not isinstance(compacted, Mapping):
        return schema_problems
    output = compacted.get("output")
    if not isinstance(output, list):
        return schema_problems

    problems: list[Problem] = []
    cmp_at = _compaction_indexes(output, strict=strict)
    for i, item in enumerate(output):
        if not isinstance(item, Mapping):
            continue
        base = _p("$.output", i)
        name = _leftover_name(item)
        t = _item_type(item)
        if name is not None:
            problems.append(
                Problem(
                    "leftover_item",
                    f"{name} left in the compacted output: expected only user messages and one compaction item",
                    base,
                    expected="user message or compaction item",
                    actual=_describe_item(item),
                )
            )
        elif strict and t not in ("message", "compaction"):
            problems.append(
                Problem(
                    "unknown_item_type",
                    f"unexpected item type {t!r}: expected 'message' (user) or 'compaction'",
                    _p(base, "type"),
                    expected=["message", "compaction"],
                    actual=t,
                )
            )
        elif strict and t == "compaction":
            problems.extend(_compaction_item_problems(item, base))

    problems.extend(_user_message_problems(window, output))

    if not cmp_at:
        problems.append(
            Problem(
                "compaction_missing",
                "expected exactly one compaction item at the end of output, found none",
                "$.output",
                expected=1,
                actual=0,
            )
        )
    elif len(cmp_at) > 1:
        at = ", ".join(_p("$.output", i) for i in cmp_at)
        problems.append(
            Problem(
                "compaction_count",
                f"expected exactly one compaction item, found {len(cmp_at)} (at {at})",
                "$.output",
                expected=1,
                actual=len(cmp_at),
            )
        )
    if cmp_at and cmp_at[-1] != len(output) - 1:
        last = cmp_at[-1]
        problems.append(
            Problem(
                "compaction_not_last",
                f"compaction item is at index {last} of {len(output)} items; expected it last "
                f"(index {len(output) - 1}), followed here by {_describe_item(output[last + 1])}",
                _p("$.output", last),
                expected=len(output) - 1,
                actual=last,
            )
        )
    problems.extend(_usage_problems(compacted, required=strict))
    return _merge(problems, schema_problems)


def check_inline_compaction(response: Mapping[str, Any]) -> list[Problem]:
    """Check a ``responses.create`` response whose ``output`` carries a server-side compaction item."""
    output = response.get("output")
    if not isinstance(output, list):
        return [Problem("schema", f"output should be a list, got {type(output).__name__}", "$.output", "list", output)]
    cmp_at = _compaction_indexes(output, strict=True)
    problems: list[Problem] = []
    item_validator = _builtin_validator(_ITEM_SCHEMA)
    for i in cmp_at:
        base = _p("$.output", i)
        semantic = _compaction_item_problems(output[i], base)
        schema = [
            Problem(p.code, p.message, base + p.path[1:], p.expected, p.actual)
            for p in _schema_problems(output[i], item_validator)
        ]
        problems.extend(_merge(semantic, schema))
    if not cmp_at:
        problems.append(
            Problem(
                "compaction_missing",
                "expected a compaction item in output (context_management compaction), found none",
                "$.output",
                expected=1,
                actual=0,
            )
        )
    elif len(cmp_at) > 1:
        at = ", ".join(_p("$.output", i) for i in cmp_at)
        problems.append(
            Problem(
                "compaction_count",
                f"expected one compaction item in output, found {len(cmp_at)} (at {at})",
                "$.output",
                expected=1,
                actual=len(cmp_at),
            )
        )
    problems.extend(_usage_problems(response, required=True))
    return problems


# --------------------------------------------------------------------------------------------- continuation


def _same_item(want: Mapping[str, Any], got: Any) -> bool:
    if not isinstance(got, Mapping):
        return False
    kind = _item_type(want)
    if kind != _item_type(got):
        return False
    if kind == "message":
        return want.get("role") == got.get("role") and _text_of(want.get("content")) == _text_of(got.get("content"))
    if kind == "compaction":
        # A context rebuilt without the raw item may lack the content; then the kind is all we can compare.
        a, b = want.get("encrypted_content"), got.get("encrypted_content")
        return a == b or b is None
    ignore = {"id", "status"}
    return {k: v for k, v in want.items() if k not in ignore} == {k: v for k, v in got.items() if k not in ignore}


def _conversation_id(request: Mapping[str, Any] | None) -> str | None:
    if request is None:
        return None
    conv = request.get("conversation")
    if isinstance(conv, Mapping):
        conv = conv.get("id")
    return conv if isinstance(conv, str) else None


def _input_items(request: Mapping[str, Any]) -> list[Any] | None:
    inp = request.get("input")
    if isinstance(inp, str):
        return [{"role": "user", "content": inp}]
    if isinstance(inp, list):
        return inp
    return None


def _window_problems(compacted: Sequence[Mapping[str, Any]], window: Sequence[Any], base: str) -> list[Problem]:
    """The window must begin with every compacted item, in order."""
    cmp_items = [c for c in compacted if isinstance(c, Mapping) and _item_type(c) == "compaction"]
    if cmp_items and not any(_same_item(cmp_items[-1], w) for w in window):
        starts = f"it starts with {_describe_item(window[0])}" if window else "it is empty"
        return [
            Problem(
                "continuation_window",
                f"the next request does not carry the compacted window: {_describe_item(cmp_items[-1])} is "
                f"not in it ({starts})",
                _p(base, 0),
                expected=[_describe_item(c) for c in compacted],
                actual=[_describe_item(w) for w in window[: len(compacted)]],
            )
        ]
    for i, want in enumerate(compacted):
        got = window[i] if i < len(window) else None
        if _same_item(want, got):
            continue
        dropped = [c for c in compacted[:-1] if _is_user_message(c)]
        if _item_type(want) == "message" and cmp_items and _same_item(cmp_items[-1], got):
            # Seen in real traffic (pydantic-ai): only the compaction item is sent back, so the model
            # loses the user messages the compact step kept verbatim.
            return [
                Problem(
                    "continuation_user_messages_dropped",
                    f"the next request sends the compaction item but not the {len(dropped)} user message(s) "
                    f"the compact step kept: expected {_describe_item(want)} first, got {_describe_item(got)}",
                    _p(base, i),
                    expected=[_describe_item(c) for c in compacted],
                    actual=[_describe_item(w) for w in window[: len(compacted)]],
                )
            ]
        return [
            Problem(
                "continuation_window",
                f"the next request does not start with the compacted window: item {i} should be "
                f"{_describe_item(want)}, got {_describe_item(got) if got is not None else 'nothing'}",
                _p(base, i),
                expected=_describe_item(want),
                actual=_describe_item(got) if got is not None else None,
            )
        ]
    return []


def _context_as_items(context: Sequence[ContextItem]) -> list[dict[str, Any]]:
    items = []
    for c in context:
        if isinstance(c.raw, Mapping):
            items.append(dict(c.raw))
        elif c.kind == "message":
            items.append({"type": "message", "role": c.role, "content": c.text or ""})
        else:
            items.append({"type": c.kind})
    return items


def check_continuation(
    compacted_output: Sequence[Mapping[str, Any]],
    next_request: Mapping[str, Any],
    *,
    mode: str,
    context: Sequence[Mapping[str, Any]] | None = None,
    previous_request: Mapping[str, Any] | None = None,
) -> list[Problem]:
    """Check that the request after a ``/responses/compact`` step continues from its output.

    ``manual_responses``: ``input`` starts with the compacted window. ``previous_response_id``: a fresh
    chain (no ``previous_response_id``) whose ``input`` starts with it. ``conversation``: a conversation
    other than ``previous_request``'s, whose window starts with it. ``context`` (what the next call saw,
    e.g. conversation items + input) replaces ``input`` as the window when given.
    """
    problems: list[Problem] = []
    prev_id = next_request.get("previous_response_id")
    conv = _conversation_id(next_request)
    if mode in ("manual_responses", "previous_response_id") and prev_id:
        fresh = "a fresh chain" if mode == "previous_response_id" else "the compacted window as input"
        problems.append(
            Problem(
                "continuation_chained",
                f"the next request continues the old chain (previous_response_id {prev_id!r}) instead of "
                f"{fresh}: everything before the compact step is sent again",
                "$.previous_response_id",
                expected=None,
                actual=prev_id,
            )
        )
    if mode == "manual_responses" and conv:
        problems.append(
            Problem(
                "continuation_chained",
                f"the next request uses conversation {conv!r}: expected the compacted window as input only",
                "$.conversation",
                expected=None,
                actual=conv,
            )
        )
    if mode == "conversation":
        old = _conversation_id(previous_request)
        if conv is None:
            problems.append(
                Problem(
                    "continuation_no_conversation",
                    "the next request names no conversation: expected a fresh conversation built from the "
                    "compacted window",
                    "$.conversation",
                    expected="conv_…",
                    actual=None,
                )
            )
        elif old is not None and conv == old:
            problems.append(
                Problem(
                    "continuation_same_conversation",
                    f"the next request reuses conversation {conv!r} from before the compact step: expected a "
                    f"fresh conversation built from the compacted window",
                    "$.conversation",
                    expected="a new conversation",
                    actual=conv,
                )
            )
    if context is not None:
        problems.extend(_window_problems(compacted_output, context, "$.context"))
    else:
        items = _input_items(next_request)
        problems.extend(_window_problems(compacted_output, items or [], "$.input"))
    return problems


def check_inline_continuation(
    response: Mapping[str, Any],
    next_request: Mapping[str, Any],
    *,
    mode: str,
    context: Sequence[Mapping[str, Any]] | None = None,
) -> list[Problem]:
    """Check that the request after a server-side compaction carries the compaction item ``response`` emitted.

    The server ignores what precedes the latest compaction item, so the next window effectively starts
    from it: ``manual_responses`` must send it (as the latest compaction item of ``input``);
    ``previous_response_id`` must chain from ``response``; ``conversation`` must stay in its conversation.
    ``context`` (what the next call saw), when given, must contain it too.
    """
    output = response.get("output")
    items = [o for o in output if isinstance(o, Mapping)] if isinstance(output, list) else []
    cmp_items = [o for o in items if _item_type(o) == "compaction"]
    if not cmp_items:
        return []
    item = cmp_items[-1]
    problems: list[Problem] = []

    def carried(window: Sequence[Any], base: str) -> None:
        at = [i for i, w in enumerate(window) if isinstance(w, Mapping) and _item_type(w) == "compaction"]
        if not at or not _same_item(item, window[at[-1]]):
            got = f"the latest is {_describe_item(window[at[-1]])}" if at else "none is sent"
            problems.append(
                Problem(
                    "continuation_window",
                    f"the next window does not start from {_describe_item(item)} emitted by response "
                    f"{response.get('id')!r}: {got}",
                    _p(base, at[-1]) if at else base,
                    expected=_describe_item(item),
                    actual=_describe_item(window[at[-1]]) if at else None,
                )
            )

    if mode == "previous_response_id":
        prev_id = next_request.get("previous_response_id")
        if prev_id != response.get("id"):
            problems.append(
                Problem(
                    "continuation_chain_broken",
                    f"the next request should chain from {response.get('id')!r}, which holds the compaction "
                    f"item; got previous_response_id {prev_id!r}",
                    "$.previous_response_id",
                    expected=response.get("id"),
                    actual=prev_id,
                )
            )
    elif mode == "conversation":
        want, got = _conversation_id(response), _conversation_id(next_request)
        if want is not None and got != want:
            problems.append(
                Problem(
                    "continuation_same_conversation",
                    f"the next request should stay in conversation {want!r}, which holds the compaction "
                    f"item; got {got!r}",
                    "$.conversation",
                    expected=want,
                    actual=got,
                )
            )
    elif context is None:
        carried(_input_items(next_request) or [], "$.input")
    if context is not None:
        carried(context, "$.context")
    return problems


# --------------------------------------------------------------------------------------------- scenarios


def _loc(turn: Turn | None, key: str) -> SourceLoc | None:
    if turn is None:
        return None
    if turn.expect is not None and f"compaction.{key}" in turn.expect.locs:
        return turn.expect.locs[f"compaction.{key}"]
    return turn.loc


def _scenario_turn(scenario: Scenario, index: int | None) -> Turn | None:
    if index is None or not 0 <= index < len(scenario.turns):
        return None
    return scenario.turns[index]


def _neighbours(transcript: Transcript, at: int) -> tuple[TurnRecord | None, TurnRecord | None]:
    """The last model call before position ``at`` and the first after it, compact steps excluded."""
    before = next((t for t in reversed(transcript.turns[:at]) if t.endpoint != "compact"), None)
    after = next((t for t in transcript.turns[at + 1 :] if t.endpoint != "compact"), None)
    return before, after


def _reported_input(record: TurnRecord | None) -> int | None:
    if record is None:
        return None
    if record.usage is not None:
        return record.usage.input_tokens
    return record.tokens.reported_input if record.tokens is not None else None


def _window_of(record: TurnRecord) -> list[Any]:
    # The effective context covers compact(previous_response_id=…) too, where the request has no window.
    if record.context:
        return _context_as_items(record.context)
    return _input_items(record.request) or []


def _user_schema(scenario: Scenario, ref: str) -> tuple[Mapping[str, Any] | None, str | None]:
    path = Path(scenario.path).parent / ref
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        return None, f"cannot read compaction schema {str(path)!r}: {exc}"
    if not isinstance(data, Mapping):
        return None, f"compaction schema {str(path)!r} is not a JSON object"
    try:
        jsonschema.validators.validator_for(data, default=jsonschema.Draft202012Validator).check_schema(data)
    except jsonschema.SchemaError as exc:
        return None, f"compaction schema {str(path)!r} is not a valid JSON Schema: {exc.message}"
    return data, None


_CODE_KEYS = {
    "user_message_edited": "user_messages_verbatim",
    "user_message_missing": "user_messages_verbatim",
    "user_message_extra": "user_messages_verbatim",
    "user_message_order": "user_messages_verbatim",
    "compaction_missing": "compaction_items",
    "compaction_count": "compaction_items",
    "schema": "schema",
}


def _compact_step_failures(
    scenario: Scenario, mode: str, transcript: Transcript, at: int, record: TurnRecord
) -> Iterator[Failure]:
    turn = _scenario_turn(scenario, record.turn)
    expect = turn.expect.compaction if turn is not None and turn.expect is not None else None
    expect = expect or CompactionExpect()

    def fail(key: str, message: str) -> Failure:
        return Failure(f"compaction.{key}", message, record.turn, mode, _loc(turn, key))

    if record.response is None:
        yield fail("shape", f"compact step returned no response (HTTP {record.http_status})")
        return
    schema: Mapping[str, Any] | None = None
    error = None
    if expect.schema:
        schema, error = _user_schema(scenario, expect.schema)
    if error:
        yield fail("schema", error)
    shape = [] if error else check_compaction(_window_of(record), record.response, schema=schema)
    for problem in shape:
        if problem.code == "user_message_extra" and record.partial:
            continue  # the traffic does not show the start of the window, so "not in the window" is unknowable
        key = _CODE_KEYS.get(problem.code, "shape")
        if key == "user_messages_verbatim" and expect.user_messages_verbatim is False:
            continue
        if key == "compaction_items" and expect.compaction_items is not None:
            continue  # replaced by the explicit count below
        yield fail(key, f"compact output at {problem}")
    output = record.response.get("output")
    if expect.compaction_items is not None and isinstance(output, list) and not error:
        count = len(_compaction_indexes(output, strict=schema is None))
        if count != expect.compaction_items:
            yield fail(
                "compaction_items",
                f"expected {expect.compaction_items} compaction item(s) in the compact output, got {count}",
            )

    before, after = _neighbours(transcript, at)
    if expect.input_tokens_after_max is not None:
        reported = _reported_input(after)
        if after is None:
            yield fail("input_tokens_after_max", "no model call after the compact step to measure")
        elif reported is None:
            yield fail("input_tokens_after_max", "the first call after the compact step reported no input tokens")
        elif reported > expect.input_tokens_after_max:
            was = _reported_input(before)
            yield fail(
                "input_tokens_after_max",
                f"input tokens after compaction: {reported} > max {expect.input_tokens_after_max} "
                f"(first call after the compact step" + (f"; {was} before it)" if was is not None else ")"),
            )

    if after is not None and isinstance(output, list):
        items = [o for o in output if isinstance(o, Mapping)]
        # Manual and chained modes put the whole window in the request; a conversation may hold it instead.
        context = (
            None
            if mode in ("manual_responses", "previous_response_id") or not after.context
            else (_context_as_items(after.context))
        )
        problems = check_continuation(
            items, after.request, mode=mode, context=context, previous_request=before.request if before else None
        )
        yield from _continuation_failures(scenario, mode, record, after, problems)


def _continuation_failures(
    scenario: Scenario, mode: str, step: TurnRecord, after: TurnRecord, problems: list[Problem]
) -> Iterator[Failure]:
    turn = _scenario_turn(scenario, after.turn)
    where = f"turn {step.turn + 1}" if step.turn is not None else f"call {step.index + 1}"
    for problem in problems:
        yield Failure(
            "compaction.continuation",
            f"after the compaction at {where}: {problem}",
            after.turn,
            mode,
            turn.loc if turn is not None else None,
        )


def check_compaction_expectations(scenario: Scenario, mode: str, transcript: Transcript) -> list[Failure]:
    """Every compaction failure of a run: compact step shape and ``expect.compaction``, then continuation."""
    failures: list[Failure] = []
    for at, record in enumerate(transcript.turns):
        if record.endpoint == "compact":
            failures.extend(_compact_step_failures(scenario, mode, transcript, at, record))
            continue
        output = record.response.get("output") if record.response is not None else None
        if not isinstance(output, list) or not any(
            isinstance(o, Mapping) and o.get("type") == "compaction" for o in output
        ):
            continue
        assert record.response is not None
        turn = _scenario_turn(scenario, record.turn)
        for problem in check_inline_compaction(record.response):
            failures.append(
                Failure(
                    "compaction.inline",
                    f"server-side compaction output at {problem}",
                    record.turn,
                    mode,
                    turn.loc if turn else None,
                )
            )
        _, after = _neighbours(transcript, at)
        if after is not None:
            # Only manual_responses puts the window in the request; otherwise the server holds the item.
            context = _context_as_items(after.context) if mode != "manual_responses" and after.context else None
            problems = check_inline_continuation(record.response, after.request, mode=mode, context=context)
            failures.extend(_continuation_failures(scenario, mode, record, after, problems))
    return failures


# --------------------------------------------------------------------------------------------- report


@dataclass(frozen=True)
class CompactionStep:
    """What one compact step cost and saved, in reported input tokens."""

    #: Position of the compact call in ``Transcript.turns``.
    index: int
    #: Scenario turn of the compact step (0-based), ``None`` for foreign traffic.
    turn: int | None
    #: Input tokens of the last model call before the compact step.
    tokens_before: int | None
    #: Input tokens of the first model call after it.
    tokens_after: int | None
    #: Reported input and output tokens of the compact call itself.
    cost_input: int | None
    cost_output: int | None

    @property
    def cost(self) -> int | None:
        """Input + output tokens the compact call was billed."""
        if self.cost_input is None or self.cost_output is None:
            return None
        return self.cost_input + self.cost_output

    @property
    def savings_per_turn(self) -> int | None:
        """Input tokens each later turn sends less (negative when the context grew)."""
        if self.tokens_before is None or self.tokens_after is None:
            return None
        return self.tokens_before - self.tokens_after

    @property
    def turns_to_pay_off(self) -> int | None:
        """Turns after which the savings exceed the compact call's cost; ``None`` when it never pays."""
        saved, cost = self.savings_per_turn, self.cost
        if saved is None or cost is None or saved <= 0:
            return None
        return max(1, math.ceil(cost / saved))

    def describe(self) -> str:
        """One line for the terminal summary and ``convotest report``."""
        head = f"compact at turn {self.turn + 1}" if self.turn is not None else f"compact (call {self.index + 1})"
        before = "?" if self.tokens_before is None else f"{self.tokens_before:,}"
        after = "?" if self.tokens_after is None else f"{self.tokens_after:,}"
        saved = self.savings_per_turn
        delta = "" if saved is None else f" ({-saved:+,}/turn)"
        cost = (
            "cost unknown"
            if self.cost is None
            else f"cost {self.cost:,} tokens ({self.cost_input:,} in + {self.cost_output:,} out)"
        )
        if saved is None or self.cost is None:
            verdict = "payback unknown"
        elif self.turns_to_pay_off is None:
            verdict = "never pays for itself"
        else:
            n = self.turns_to_pay_off
            verdict = f"pays for itself after {n} turn{'s' if n != 1 else ''}"
        return f"{head}: input {before} → {after} tokens{delta}, {cost}, {verdict}"


def compaction_report(transcript: Transcript) -> list[CompactionStep]:
    """One ``CompactionStep`` per ``/responses/compact`` call of a run, in order."""
    steps = []
    for at, record in enumerate(transcript.turns):
        if record.endpoint != "compact":
            continue
        before, after = _neighbours(transcript, at)
        usage = record.usage
        steps.append(
            CompactionStep(
                index=at,
                turn=record.turn,
                tokens_before=_reported_input(before),
                tokens_after=_reported_input(after),
                cost_input=usage.input_tokens if usage is not None else None,
                cost_output=usage.output_tokens if usage is not None else None,
            )
        )
    return steps
