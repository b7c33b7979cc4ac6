"""Parse request bodies that resend a growing history in time proportional to what is new.

A manual-mode client sends the whole conversation every turn: at turn 1,000 its ``input`` (or chat
``messages``) holds some 2,000 items that the previous request already carried, byte for byte. Parsing
each body from scratch makes replay cost grow with the history. ``HistoryParser`` remembers, per route,
the previous body's text up to the end of its history list; when the next body starts with that very
text, only what follows is parsed (with the stdlib's C scanner, item by item), and the previous items are
reused as the same objects. The result equals ``json.loads`` of the body in every case; bodies that do
not extend the previous one are parsed in full.

Shared items are shared objects: callers must treat parsed bodies as read-only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["HISTORY_FIELDS", "HistoryParser", "ParsedBody", "history_field"]

#: Top-level request fields that carry a resent history (Responses ``input``, Chat ``messages``).
HISTORY_FIELDS: tuple[str, ...] = ("input", "messages")


def history_field(data: Any) -> str | None:
    """The field of a parsed request body that holds its history as a list, if any."""
    if not isinstance(data, dict):
        return None
    return next((name for name in HISTORY_FIELDS if isinstance(data.get(name), list)), None)


_DECODER = json.JSONDecoder()
# The stdlib's C scanner (what json.loads runs), value by value; typeshed does not declare these two.
_scan_once: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
# The stdlib's own whitespace pattern (not in its typed API).
_ws = re.compile(r"[ \t\n\r]*").match


class _Malformed(Exception):
    """Not the JSON object shape the incremental path handles: parse with ``json.loads`` instead."""


@dataclass(frozen=True)
class ParsedBody:
    """A request body as parsed JSON, with what it shares with the previous body of its route."""

    #: The parsed JSON (``None`` when the body is empty or not JSON).
    data: Any
    #: The body as text when it is not JSON (``None`` otherwise, and for an empty body).
    text: str | None = None
    #: The top-level list field holding the history (``input``/``messages``), if the body has one.
    field: str | None = None
    #: How many leading history items are the very objects of the previous body of this route.
    shared: int = 0


@dataclass
class _State:
    """What the next body of a route may continue: its text up to the end of the history's last item."""

    #: The body up to the end of its history's last item (bytes or text, as the body came).
    prefix: bytes | str
    field: str
    head: dict[str, Any]
    items: list[Any]


@dataclass
class _Parsed:
    """A body parsed around its history list: what precedes it, its items, where the last item ends."""

    data: dict[str, Any]
    field: str
    head: dict[str, Any]
    items: list[Any]
    #: Position in the parsed text just after the history's last item (or its ``[`` when empty).
    cut: int


def _skip(text: str, pos: int) -> int:
    found = _ws(text, pos)
    assert found is not None  # the pattern matches the empty string
    return found.end()


def _value(text: str, pos: int) -> tuple[Any, int]:
    try:
        return _scan_once(text, pos)
    except StopIteration:
        raise _Malformed from None


def _key(text: str, pos: int) -> tuple[str, int]:
    """A key and the position after its ``:``; ``pos`` is at the opening quote."""
    if text[pos : pos + 1] != '"':
        raise _Malformed
    key, pos = _scanstring(text, pos + 1)
    pos = _skip(text, pos)
    if text[pos : pos + 1] != ":":
        raise _Malformed
    return key, _skip(text, pos + 1)


def _items(text: str, pos: int, items: list[Any]) -> int:
    """Parse list items into ``items`` from ``pos`` (after ``[`` or after an item); returns the position of ``]``."""
    pos = _skip(text, pos)
    while text[pos : pos + 1] != "]":
        if items:
            if text[pos : pos + 1] != ",":
                raise _Malformed
            pos = _skip(text, pos + 1)
        item, pos = _value(text, pos)
        items.append(item)
        pos = _skip(text, pos)
    return pos


def _next_key(text: str, pos: int, first: bool) -> tuple[str | None, int]:
    """The next member's key and the position of its value; ``(None, position after "}")`` at the end."""
    pos = _skip(text, pos)
    char = text[pos : pos + 1]
    if char == "}":
        return None, pos + 1
    if not first:
        if char != ",":
            raise _Malformed
        pos = _skip(text, pos + 1)
    return _key(text, pos)


def _members(text: str, pos: int, out: dict[str, Any], first: bool) -> int:
    """Parse ``, "key": value`` pairs into ``out`` up to the closing ``}``; returns the position after it."""
    while True:
        key, pos = _next_key(text, pos, first)
        if key is None:
            return pos
        first = False
        out[key], pos = _value(text, pos)


class HistoryParser:
    """Parses JSON bodies, reusing the history the previous body of the same route already carried."""

    def __init__(self) -> None:
        self._last: dict[str, _State] = {}

    def parse(self, body: bytes | str | None, route: str = "") -> ParsedBody:
        """The body parsed; ``route`` (e.g. ``"POST /v1/responses"``) scopes what may be continued."""
        state = self._last.pop(route, None)
        if body is None:
            return ParsedBody(None)
        if state is not None:
            continued = self._continue(body, route, state)
            if continued is not None:
                return continued
        if isinstance(body, bytes):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                # Replaced characters change lengths: no byte prefix to continue from, parse it as it is.
                return _plain(body.decode("utf-8", "replace"))
        else:
            text = body
        if not text.strip():
            return ParsedBody(None)
        try:
            found = self._full(text)
        except (_Malformed, ValueError):
            found = None
        if found is None:
            return _plain(text)
        cut = text[: found.cut]
        prefix = cut.encode("utf-8") if isinstance(body, bytes) else cut
        self._last[route] = _State(prefix, found.field, found.head, found.items)
        return ParsedBody(found.data, field=found.field)

    def _continue(self, body: bytes | str, route: str, state: _State) -> ParsedBody | None:
        """Parse only what follows the previous body's history, if ``body`` repeats it; else ``None``."""
        prefix = state.prefix
        # The prefix ends on an item's last character, so the rest starts on a character boundary.
        try:
            if isinstance(body, bytes) and isinstance(prefix, bytes) and body.startswith(prefix):
                tail = body[len(prefix) :].decode("utf-8")
                found = _after(tail, state)
                prefix += tail[: found.cut].encode("utf-8")
            elif isinstance(body, str) and isinstance(prefix, str) and body.startswith(prefix):
                tail = body[len(prefix) :]
                found = _after(tail, state)
                prefix += tail[: found.cut]
            else:
                return None
        except (_Malformed, ValueError):
            return None
        self._last[route] = _State(prefix, found.field, found.head, found.items)
        return ParsedBody(found.data, field=found.field, shared=len(state.items))

    @staticmethod
    def _full(text: str) -> _Parsed | None:
        """Parse an object with a history list; ``None`` when the body has none (or is not an object)."""
        pos = _skip(text, 0)
        if text[pos : pos + 1] != "{":
            return None
        head: dict[str, Any] = {}
        pos += 1
        first = True
        while True:
            key, pos = _next_key(text, pos, first)
            if key is None:
                return None
            first = False
            if key in HISTORY_FIELDS and text[pos : pos + 1] == "[" and key not in head:
                items: list[Any] = []
                end = _items(text, pos + 1, items)
                return _finish(text, key, head, items, end)
            head[key], pos = _value(text, pos)


def _after(tail: str, state: _State) -> _Parsed:
    """The body whose text after ``state.prefix`` is ``tail``: its new items, then the rest of the object."""
    items = list(state.items)
    end = _items(tail, 0, items)
    return _finish(tail, state.field, state.head, items, end)


def _plain(text: str) -> ParsedBody:
    """A body without a history to continue, parsed as ``json.loads`` would (its text kept if not JSON)."""
    if not text.strip():
        return ParsedBody(None)
    try:
        return ParsedBody(json.loads(text))
    except ValueError:
        return ParsedBody(None, text=text)


def _finish(text: str, field: str, head: dict[str, Any], items: list[Any], end: int) -> _Parsed:
    """Parse what follows the history list (``end`` is at its ``]``)."""
    tail: dict[str, Any] = {}
    pos = _skip(text, _members(text, end + 1, tail, first=False))
    if pos != len(text) or field in tail:
        raise _Malformed  # trailing data or a repeated history field: leave it to json.loads
    data = dict(head)
    data[field] = items
    data.update(tail)
    # The next body continues right after the last item (before any whitespace and the "]").
    cut = end
    while cut > 0 and text[cut - 1] in " \t\n\r":
        cut -= 1
    return _Parsed(data, field, head, items, cut)
