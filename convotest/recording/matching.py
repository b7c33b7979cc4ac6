"""Request matching for replay, and the explanation shown when nothing matches.

A request matches a recorded one when method, path, query and normalised JSON body are equal.
Normalising drops the fields the user calls volatile and replaces server-assigned ids (``resp_…``,
``msg_…``, ``conv_…``) by their order of first appearance in the run (``<resp#1>``), on both sides, so
a re-recorded chain with fresh ids still lines up. Keys are hashable tuples, so replay looks a request up
in a dict instead of scanning the cassette. No vcrpy import here.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from deepdiff import DeepDiff

from convotest.incremental_json import HistoryParser, ParsedBody

__all__ = [
    "IdCanonicaliser",
    "MatchKey",
    "RequestShape",
    "Shaper",
    "explain_difference",
    "render_diff",
    "request_shape",
]

_ID_PREFIXES = "resp|msg|conv|rs|cmp|fc|call|chatcmpl|ctc|mcp|ws|fs|cu|ig|lsh"
_ID = re.compile(rf"\b({_ID_PREFIXES})([-_])[A-Za-z0-9]{{6,}}\b")
#: The same ids as one group: ``split`` returns text and ids alternately. The lookahead (every prefix's first
#: letter) lets most positions of a long body fail before the word-boundary test and the alternation.
_ID_SPLIT = re.compile(rf"(?=[cfilmrw])\b((?:{_ID_PREFIXES})[-_][A-Za-z0-9]{{6,}})\b")

MatchKey = tuple[str, str, str, str]


@dataclass
class IdCanonicaliser:
    """Maps server-assigned ids to ``<prefix#n>`` by order of first appearance.

    ``fork()`` gives a child that sees the parent's names and keeps its own new ones apart until
    ``commit()``: a request's ids count as seen only once it is played.
    """

    seen: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    parent: IdCanonicaliser | None = None

    def fork(self) -> IdCanonicaliser:
        """A child map: names new ids after this one's, without changing it."""
        return IdCanonicaliser({}, dict(self.counts), self)

    def commit(self) -> None:
        """Make this child's new names the parent's."""
        if self.parent is not None:
            self.parent.seen.update(self.seen)
            self.parent.counts = dict(self.counts)

    def _name(self, text: str) -> str:
        found = self.seen.get(text)
        if found is None and self.parent is not None:
            found = self.parent._name(text)
        if found is None:
            match = _ID.match(text)
            assert match is not None
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
        parts[1::2] = [self._name(text) for text in parts[1::2]]
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


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, eq=False)
class _History:
    """A body's history list as canonical item texts: the first ``shared`` of ``base``'s, then ``own``.

    Stored as a chain so a request that resends 2,000 items keeps only the ones it added.
    """

    field: str
    base: _History | None
    shared: int
    own: tuple[str, ...]
    count: int
    #: Digest of the canonical item texts in order (its state, to continue it).
    digest: Any

    def texts(self) -> list[str]:
        """Every item's canonical text, in order."""
        chain: list[_History] = []
        node: _History | None = self
        while node is not None:
            chain.append(node)
            node = node.base
        out: list[str] = []
        for link in reversed(chain):
            del out[link.shared :]
            out.extend(link.own)
        return out


@dataclass(frozen=True)
class RequestShape:
    """A request reduced to what matching compares."""

    method: str
    path: str
    query: str
    #: Canonical JSON of the body without its history list (ids replaced, volatile fields dropped), or the raw text.
    rest: str
    history: _History | None = None

    @property
    def key(self) -> MatchKey:
        """The hashable matching key."""
        if self.history is None:
            return (self.method, self.path, self.query, self.rest)
        history = self.history
        return (self.method, self.path, self.query, f"{self.rest}\0{history.field}\0{history.digest.hexdigest()}")

    def parsed_body(self) -> Any:
        """The canonical body as data (for diffs)."""
        try:
            parsed = json.loads(self.rest)
        except ValueError:
            return self.rest
        if self.history is not None and isinstance(parsed, dict):
            parsed[self.history.field] = [json.loads(text) for text in self.history.texts()]
        return parsed

    @property
    def body(self) -> str:
        """The canonical body as JSON text (sorted keys, ids replaced)."""
        if self.history is None:
            return self.rest
        return _canonical_json(self.parsed_body())


class Shaper:
    """Turns requests into ``RequestShape``s; a body resending the previous one's history costs only its new items."""

    def __init__(self, volatile: Iterable[str] = (), scrub: Callable[[str], str] | None = None) -> None:
        self.volatile = frozenset(volatile)
        self.scrub = scrub

    def _text(self, value: Any, ids: IdCanonicaliser) -> str:
        if self.volatile:
            value = _drop(value, self.volatile)
        text = _canonical_json(value)
        if self.scrub is not None:
            text = self.scrub(text)
        return ids.text(text)

    def shape(
        self,
        method: str,
        uri: str,
        body: ParsedBody,
        ids: IdCanonicaliser,
        base: RequestShape | None = None,
    ) -> RequestShape:
        """Normalise one request; registers new ids in ``ids`` as it goes.

        ``base`` is the shape of the request whose history ``body.shared`` leading items repeat.
        """
        parts = urlsplit(uri)
        # Host and port are not compared: a cassette recorded against the emulator on a random port, or
        # against api.openai.com, replays under any base URL with the same path.
        path = ids.text(parts.path.rstrip("/"))
        query = "&".join(f"{k}={ids.text(v)}" for k, v in sorted(parse_qsl(parts.query, keep_blank_values=True)))
        data = body.data
        if data is None:
            text = body.text or ""
            if self.scrub is not None:
                text = self.scrub(text)
            return RequestShape(method.upper(), path, query, ids.text(text))
        name = body.field
        if name is None or not isinstance(data, dict) or not isinstance(data.get(name), list):
            return RequestShape(method.upper(), path, query, self._text(data, ids))
        items: list[Any] = data[name]
        prior = base.history if base is not None else None
        shared = body.shared
        if prior is None or prior.field != name or shared != prior.count or shared > len(items):
            prior, shared = None, 0
        digest = prior.digest.copy() if prior is not None else hashlib.blake2b(digest_size=16)
        own = []
        for item in items[shared:]:
            text = self._text(item, ids)
            own.append(text)
            raw = text.encode("utf-8")
            digest.update(b"%d:" % len(raw))
            digest.update(raw)
        history = _History(name, prior, shared, tuple(own), len(items), digest)
        rest = self._text({k: v for k, v in data.items() if k != name}, ids)
        return RequestShape(method.upper(), path, query, rest, history)


def request_shape(
    method: str,
    uri: str,
    body: bytes | str | None,
    ids: IdCanonicaliser,
    volatile: Iterable[str] = (),
) -> RequestShape:
    """Normalise one request on its own; registers new ids in ``ids`` as it goes."""
    return Shaper(volatile).shape(method, uri, HistoryParser().parse(body), ids)


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
    if recorded.key[3] != actual.key[3]:
        lines.extend(render_diff(recorded.parsed_body(), actual.parsed_body()))
    return lines


def header_value(headers: Mapping[str, Any], name: str) -> str | None:
    """A header's first value, case-insensitively."""
    for key, value in headers.items():
        if key.lower() == name:
            return str(value[0]) if isinstance(value, list) and value else str(value)
    return None
