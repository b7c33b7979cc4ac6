"""Request matching for replay, and the explanation shown when nothing matches.

A request matches a recorded one when method, path, query and normalised JSON body are equal.
Normalising drops the fields the user calls volatile and replaces server-assigned ids (``resp_…``,
``msg_…``, ``conv_…``) by their order of first appearance in the run (``<resp#1>``), on both sides, so
a re-recorded chain with fresh ids still lines up. Keys are hashable tuples, so replay looks a request up
in a dict instead of scanning the cassette. No vcrpy import here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from deepdiff import DeepDiff

__all__ = ["IdCanonicaliser", "MatchKey", "RequestShape", "explain_difference", "render_diff", "request_shape"]

_ID_PREFIXES = "resp|msg|conv|rs|cmp|fc|call|chatcmpl|ctc|mcp|ws|fs|cu|ig|lsh"
_ID = re.compile(rf"\b({_ID_PREFIXES})([-_])[A-Za-z0-9]{{6,}}\b")
#: The same ids as one group: ``split`` returns text and ids alternately. The lookahead (every prefix's first
#: letter) lets most positions of a long body fail before the word-boundary test and the alternation.
_ID_SPLIT = re.compile(rf"(?=[cfilmrw])\b((?:{_ID_PREFIXES})[-_][A-Za-z0-9]{{6,}})\b")

MatchKey = tuple[str, str, str, str]


@dataclass
class IdCanonicaliser:
    """Maps server-assigned ids to ``<prefix#n>`` by order of first appearance."""

    seen: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def _sub(self, match: re.Match[str]) -> str:
        text = match.group(0)
        found = self.seen.get(text)
        if found is None:
            prefix = match.group(1)
            self.counts[prefix] = self.counts.get(prefix, 0) + 1
            found = self.seen[text] = f"<{prefix}#{self.counts[prefix]}>"
        return found

    def text(self, value: str) -> str:
        """``value`` with every id replaced by its canonical name."""
        if "_" not in value and "-" not in value:
            return value
        # split + join rather than sub with a callback: a resent history holds an id per item.
        parts = _ID_SPLIT.split(value)
        if len(parts) == 1:
            return value
        seen = self.seen
        found = parts[1::2]
        for i, text in enumerate(found):
            name = seen.get(text)
            if name is None:
                match = _ID.match(text)
                assert match is not None
                name = self._sub(match)
            found[i] = name
        parts[1::2] = found
        return "".join(parts)

    def learn(self, value: Any) -> None:
        """Register the ids in a response body (JSON text or parsed), in order."""
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            self.text(value)
        else:
            self.text(json.dumps(value))


def _drop(value: Any, volatile: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: _drop(v, volatile) for k, v in value.items() if k not in volatile}
    if isinstance(value, list):
        return [_drop(v, volatile) for v in value]
    return value


@dataclass(frozen=True)
class RequestShape:
    """A request reduced to what matching compares."""

    method: str
    path: str
    query: str
    #: Canonical JSON of the body (ids replaced, volatile fields dropped), or the raw text.
    body: str

    @property
    def key(self) -> MatchKey:
        """The hashable matching key."""
        return (self.method, self.path, self.query, self.body)

    def parsed_body(self) -> Any:
        """The canonical body as data (for diffs)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return self.body


def request_shape(
    method: str,
    uri: str,
    body: bytes | str | None,
    ids: IdCanonicaliser,
    volatile: Iterable[str] = (),
) -> RequestShape:
    """Normalise one request; registers new ids in ``ids`` as it goes."""
    parts = urlsplit(uri)
    # Host and port are not compared: a cassette recorded against the emulator on a random port, or
    # against api.openai.com, replays under any base URL with the same path.
    path = parts.path.rstrip("/")
    query = "&".join(f"{k}={ids.text(v)}" for k, v in sorted(parse_qsl(parts.query, keep_blank_values=True)))
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    canonical = text
    if text.strip():
        try:
            parsed = json.loads(text)
        except ValueError:
            canonical = ids.text(text)
        else:
            drop = frozenset(volatile)
            if drop:
                parsed = _drop(parsed, drop)
            canonical = ids.text(json.dumps(parsed, sort_keys=True, ensure_ascii=False, separators=(",", ":")))
    return RequestShape(method.upper(), ids.text(path), query, canonical)


_PATH_PART = re.compile(r"\[('(?:[^'\\]|\\.)*'|\d+)\]")


def _dotted(path: str) -> str:
    """``root['input'][4]['content']`` → ``body.input[4].content``."""
    out = "body"
    for part in _PATH_PART.findall(path):
        out += f"[{part}]" if part.isdigit() else "." + part[1:-1]
    return out


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_diff(expected: Any, actual: Any, *, limit: int = 12) -> list[str]:
    """Lines like ``body.input[4].content: 'Orange.' → 'Banana.'`` for a deepdiff of two bodies."""
    diff = DeepDiff(expected, actual, verbose_level=2)
    lines: list[str] = []
    for path, change in diff.get("values_changed", {}).items():
        lines.append(f"{_dotted(path)}: {_short(change['old_value'])} → {_short(change['new_value'])}")
    for path, change in diff.get("type_changes", {}).items():
        lines.append(f"{_dotted(path)}: {_short(change['old_value'])} → {_short(change['new_value'])}")
    for kind, verb in (("dictionary_item_removed", "missing"), ("iterable_item_removed", "missing")):
        for path, value in diff.get(kind, {}).items():
            lines.append(f"{_dotted(path)}: {verb} (recorded {_short(value)})")
    for kind in ("dictionary_item_added", "iterable_item_added"):
        for path, value in diff.get(kind, {}).items():
            lines.append(f"{_dotted(path)}: unexpected {_short(value)}")
    if len(lines) > limit:
        lines = [*lines[:limit], f"… and {len(lines) - limit} more differences"]
    return lines


def explain_difference(recorded: RequestShape, actual: RequestShape) -> list[str]:
    """What differs between a recorded request and the one sent, one line per difference."""
    lines: list[str] = []
    if recorded.method != actual.method or recorded.path != actual.path:
        lines.append(f"request: {recorded.method} {recorded.path} → {actual.method} {actual.path}")
    if recorded.query != actual.query:
        lines.append(f"query: {recorded.query!r} → {actual.query!r}")
    if recorded.body != actual.body:
        lines.extend(render_diff(recorded.parsed_body(), actual.parsed_body()))
    return lines


def header_value(headers: Mapping[str, Any], name: str) -> str | None:
    """A header's first value, case-insensitively."""
    for key, value in headers.items():
        if key.lower() == name:
            return str(value[0]) if isinstance(value, list) and value else str(value)
    return None
