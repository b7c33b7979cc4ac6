"""Safe YAML reading that keeps the source position of every key and value.

PyYAML's own composer recurses once per nesting level (libyaml's even in C, where a deep input
crashes the process) and expands aliases without limit, so documents are composed here from the
parser's event stream, iteratively, with a depth limit, a value budget and no recursive aliases.
Scalars are resolved and constructed by PyYAML's safe resolver/constructor, so values are the ones
``yaml.safe_load`` would give.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from convotest.errors import ScenarioError

__all__ = ["MAX_DEPTH", "MAX_VALUES", "Document", "Path", "parse_documents"]

#: Deepest nesting of mappings/sequences accepted (a scenario needs about 8).
MAX_DEPTH = 64
#: Most values one document may expand to, aliases included (stops "billion laughs" inputs).
MAX_VALUES = 100_000

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG, _INT_TAG, _NULL_TAG, _BOOL_TAG = (f"tag:yaml.org,2002:{kind}" for kind in ("str", "int", "null", "bool"))
#: Plain scalar text → resolved tag (bounded; shared by every composer).
_PLAIN_TAGS: dict[str, str] = {}
_MAP_TAGS = (None, "!", "tag:yaml.org,2002:map")
_SEQ_TAGS = (None, "!", "tag:yaml.org,2002:seq")

_SafeLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: A position inside a document: mapping keys and sequence indexes from the root.
Path = tuple[str | int, ...]


@dataclass(eq=False)
class _Node:
    """A composed YAML node; ``line``/``column`` are 1-based."""

    kind: str  # "scalar", "map", "seq" or "merge" (a ``<<`` key)
    line: int
    column: int
    value: Any = None
    pairs: list[tuple[_Node, _Node]] = field(default_factory=list)
    items: list[_Node] = field(default_factory=list)
    empty: bool = False  # a scalar written as nothing at all
    pending_key: _Node | None = None


@dataclass
class Document:
    """One YAML document as plain data, with where each value and each mapping key was written."""

    index: int
    data: Any
    line: int
    column: int
    #: Position of the value at each path (for aliases: where the anchored value was written).
    value_locs: dict[Path, tuple[int, int]] = field(default_factory=dict)
    #: Position of the key of each mapping entry, by the entry's path.
    key_locs: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def loc(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The position of ``path`` (its key when ``key``), else of its nearest located parent."""
        if key and path in self.key_locs:
            return self.key_locs[path]
        while path:
            if path in self.value_locs:
                return self.value_locs[path]
            path = path[:-1]
        return (self.line, self.column)


def _position(mark: Any) -> tuple[int, int]:
    return (int(mark.line) + 1, int(mark.column) + 1)


def _line_col_at(text: str, index: int) -> tuple[int, int]:
    before = text[:index]
    line = before.count("\n") + 1
    return line, index - (before.rfind("\n") + 1) + 1


def yaml_error(path: str, text: str, exc: yaml.YAMLError) -> ScenarioError:
    """Turn a PyYAML/libyaml error into a located ``ScenarioError``."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        start = exc.context_mark
        if exc.context and start is not None and mark is not None and start.line != mark.line:
            # An unclosed quote or bracket is reported where the file ends; say where it was opened.
            context = f" ({exc.context} at line {start.line + 1})"
        message = f"YAML syntax error: {problem}{context}"
    elif isinstance(exc, yaml.reader.ReaderError):
        message = f"YAML syntax error: {exc.reason} (character {exc.character!r})"
    else:
        message = f"YAML syntax error: {exc}"
    if mark is not None:
        line, column = _position(mark)
    elif isinstance(exc, yaml.reader.ReaderError) and isinstance(exc.position, int):
        line, column = _line_col_at(text, exc.position)
    else:
        line, column = 1, 1
    return ScenarioError(path, line, column, message)


class _Composer:
    """Builds ``_Node`` trees from parser events, without recursion."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.resolver = Resolver()
        self.constructor = SafeConstructor()

    def fail(self, line: int, column: int, message: str) -> ScenarioError:
        return ScenarioError(self.path, line, column, message)

    def scalar(self, event: yaml.ScalarEvent) -> _Node:
        line, column = _position(event.start_mark)
        tag = self.tag(event)
        if tag == _MERGE_TAG:
            return _Node("merge", line, column)
        empty = event.value == "" and event.tag is None and event.implicit[0]
        return _Node("scalar", line, column, value=self.value(event, tag, line, column), empty=empty)

    def tag(self, event: yaml.ScalarEvent) -> str:
        """The scalar's resolved tag, as PyYAML's composer would give it."""
        tag = event.tag
        if tag is not None and tag != "!":
            return tag
        text = event.value
        if not event.implicit[0]:
            return _STR_TAG  # quoted and block scalars without a tag are text (PyYAML's default scalar tag)
        # A plain scalar's tag depends on its text alone: resolve each distinct text once.
        found = _PLAIN_TAGS.get(text)
        if found is None:
            found = self.resolver.resolve(yaml.ScalarNode, text, event.implicit)  # type: ignore[no-untyped-call]
            if len(text) <= 40 and len(_PLAIN_TAGS) < 20_000:
                _PLAIN_TAGS[text] = found
        return found

    def value(self, event: yaml.ScalarEvent, tag: str, line: int, column: int) -> Any:
        """The scalar's value, as ``yaml.safe_load`` makes it."""
        text = event.value
        # The common values directly, as SafeConstructor makes them; anything else through it.
        if tag == _STR_TAG:
            return text
        if tag == _NULL_TAG:
            return None
        if tag == _BOOL_TAG:
            return SafeConstructor.bool_values[text.lower()]
        if tag == _INT_TAG and text.isdigit() and len(text) <= 18 and (text[0] != "0" or text == "0"):
            return int(text)
        node = yaml.ScalarNode(tag, text, None, None, event.style)
        try:
            return self.constructor.construct_object(node)
        except yaml.YAMLError:
            raise self.fail(line, column, f"unsupported YAML tag {event.tag!r}") from None
        except Exception as exc:  # int("9"*5000), bad !!binary, bad timestamp...: any value error
            reason = str(exc).split(";")[0][:80]
            raise self.fail(line, column, f"cannot read the value {text[:40]!r}: {reason}") from None
        finally:
            # The constructor caches every node it built; drop them so memory stays flat.
            self.constructor.constructed_objects.clear()

    def compose(self, events: Any) -> list[_Node]:
        """Read events until the end of the stream; one root node per document."""
        roots: list[_Node] = []
        anchors: dict[str, _Node] = {}
        stack: list[_Node] = []
        root: _Node | None = None
        while True:
            event = events.get_event()
            if isinstance(event, yaml.StreamEndEvent):
                return roots
            if isinstance(event, yaml.DocumentStartEvent):
                anchors, stack, root = {}, [], None
                continue
            if isinstance(event, yaml.DocumentEndEvent):
                if root is not None:
                    roots.append(root)
                continue
            if isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                stack.pop()
                continue
            if isinstance(event, yaml.StreamStartEvent):
                continue
            line, column = _position(event.start_mark)
            if isinstance(event, yaml.AliasEvent):
                node = anchors.get(event.anchor or "")
                if node is None:
                    raise self.fail(
                        line, column, f"YAML alias *{event.anchor} refers to no anchor (anchors do not cross ---)"
                    )
                if any(open_node is node for open_node in stack):
                    raise self.fail(line, column, f"YAML alias *{event.anchor} refers to its own parent")
            elif isinstance(event, yaml.ScalarEvent):
                node = self.scalar(event)
            elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                is_map = isinstance(event, yaml.MappingStartEvent)
                if event.tag not in (_MAP_TAGS if is_map else _SEQ_TAGS):
                    raise self.fail(line, column, f"unsupported YAML tag {event.tag!r}")
                if len(stack) >= MAX_DEPTH:
                    raise self.fail(line, column, f"nesting deeper than {MAX_DEPTH} levels")
                node = _Node("map" if is_map else "seq", line, column)
            else:  # pragma: no cover - PyYAML has no other event types
                raise self.fail(line, column, f"unexpected YAML event {type(event).__name__}")
            anchor = getattr(event, "anchor", None)
            if anchor is not None and not isinstance(event, yaml.AliasEvent):
                anchors[anchor] = node
            if not stack:
                root = node
            else:
                parent = stack[-1]
                if parent.kind == "seq":
                    parent.items.append(node)
                elif parent.pending_key is None:
                    parent.pending_key = node
                else:
                    parent.pairs.append((parent.pending_key, node))
                    parent.pending_key = None
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                stack.append(node)


class _NotSimple(Exception):
    """The stream needs the general composer: anchors, aliases, merge keys, odd keys or a huge document."""


def _read_simple(composer: _Composer, events: Any) -> list[Document]:
    """Every non-empty document, read in one pass from the events, for streams that need no node graph.

    What almost every scenario file is: no anchors, aliases or merge keys, text keys written once.
    Anything else raises ``_NotSimple`` and the stream is read again by ``_Composer`` and ``_Builder``,
    which report the same errors. The checks the composer makes as it goes (tags, depth, values) raise
    the composer's error here, at the same event: the composer reports them before any build error.
    Gives exactly what ``_Builder`` gives: the same data, positions, and position maps in the same order.
    """
    scalar_event, map_start, seq_start = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    map_end, seq_end = yaml.MappingEndEvent, yaml.SequenceEndEvent
    get_event = events.get_event
    plain_tags = _PLAIN_TAGS
    documents: list[Document] = []
    index = 0
    # A frame per open collection: [container, its path, pending key or None, the pending key's position].
    stack: list[list[Any]] = []
    doc = Document(index=0, data=None, line=1, column=1)
    value_locs, key_locs = doc.value_locs, doc.key_locs
    root_empty = False
    count = 0
    while True:
        event = get_event()
        kind = type(event)
        value: Any
        if kind is scalar_event:
            if event.anchor is not None:
                raise _NotSimple
            text = event.value
            if event.tag is not None:
                tag = composer.tag(event)
            elif event.implicit[0]:
                tag = plain_tags.get(text) or composer.tag(event)
            else:
                tag = _STR_TAG
            mark = event.start_mark
            line, column = mark.line + 1, mark.column + 1
            if tag == _STR_TAG:
                value = text
            elif tag == _MERGE_TAG:
                raise _NotSimple
            else:
                value = composer.value(event, tag, line, column)
            if not stack:
                root_empty = text == "" and event.tag is None and event.implicit[0]
        elif kind is map_end or kind is seq_end:
            stack.pop()
            continue
        elif kind is map_start or kind is seq_start:
            if event.anchor is not None:
                raise _NotSimple
            mark = event.start_mark
            line, column = mark.line + 1, mark.column + 1
            if event.tag not in (_MAP_TAGS if kind is map_start else _SEQ_TAGS):
                raise composer.fail(line, column, f"unsupported YAML tag {event.tag!r}")
            if len(stack) >= MAX_DEPTH:
                raise composer.fail(line, column, f"nesting deeper than {MAX_DEPTH} levels")
            value = {} if kind is map_start else []
            root_empty = False
        elif kind is yaml.DocumentStartEvent:
            stack = []
            doc = Document(index=index, data=None, line=1, column=1)
            value_locs, key_locs = doc.value_locs, doc.key_locs
            root_empty = False
            count = 0
            continue
        elif kind is yaml.DocumentEndEvent:
            index += 1
            if not root_empty:
                documents.append(doc)
            continue
        elif kind is yaml.StreamEndEvent:
            return documents
        elif kind is yaml.StreamStartEvent:
            continue
        else:  # an alias, or an event type the composer knows better
            raise _NotSimple
        if stack:
            frame = stack[-1]
            container = frame[0]
            if type(container) is list:
                path: Path = (*frame[1], len(container))
                container.append(value)
            elif frame[2] is None:
                if type(value) is not str or value in container:
                    raise _NotSimple  # a key that is not text (a collection, a number...), or written twice
                frame[2], frame[3] = value, (line, column)
                continue
            else:
                path = (*frame[1], frame[2])
                key_locs[path] = frame[3]
                container[frame[2]] = value
                frame[2] = None
        else:
            path = ()
            doc.data, doc.line, doc.column = value, line, column
        value_locs[path] = (line, column)
        count += 1
        if count > MAX_VALUES:
            raise _NotSimple
        if kind is not scalar_event:
            stack.append([value, path, None, None])


def _describe_key(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, int | float) else type(value).__name__


class _Builder:
    """Turns a ``_Node`` tree into plain data and fills a ``Document``'s position maps."""

    def __init__(self, path: str, doc: Document) -> None:
        self.path = path
        self.doc = doc
        self.count = 0

    def fail(self, node: _Node, message: str) -> ScenarioError:
        return ScenarioError(self.path, node.line, node.column, message)

    def entries(self, node: _Node, depth: int) -> list[tuple[_Node, _Node, bool]]:
        """A mapping's own entries (flagged True) then those it merges in with ``<<``, in YAML merge order."""
        own: list[tuple[_Node, _Node, bool]] = []
        merged: list[tuple[_Node, _Node, bool]] = []
        for key, value in node.pairs:
            if key.kind != "merge":
                own.append((key, value, True))
                continue
            sources = value.items if value.kind == "seq" else [value]
            for source in sources:
                # Merging repeats the source's entries, so nested merges of aliases grow like alias bombs.
                self.count += len(source.pairs)
                if self.count > MAX_VALUES:
                    raise self.fail(source, f"document expands to more than {MAX_VALUES} values (YAML aliases?)")
                if source.kind != "map":
                    raise self.fail(source, "a YAML merge (<<) needs a mapping or a list of mappings")
                if depth >= MAX_DEPTH:
                    raise self.fail(source, f"nesting deeper than {MAX_DEPTH} levels")
                merged.extend((k, v, False) for k, v, _ in self.entries(source, depth + 1))
        return own + merged

    def build(self, node: _Node, path: Path, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise self.fail(node, f"document expands to more than {MAX_VALUES} values (YAML aliases?)")
        if depth > MAX_DEPTH:
            raise self.fail(node, f"nesting deeper than {MAX_DEPTH} levels")
        self.doc.value_locs.setdefault(path, (node.line, node.column))
        if node.kind == "scalar":
            return node.value
        if node.kind == "merge":
            raise self.fail(node, "a YAML merge key (<<) can only be a mapping key")
        if node.kind == "seq":
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.items)]
        result: dict[str, Any] = {}
        for key, value, own in self.entries(node, depth):
            if key.kind != "scalar" or not isinstance(key.value, str):
                shown = _describe_key(key.value) if key.kind == "scalar" else f"a {key.kind}"
                raise self.fail(key, f"mapping keys must be text, got {shown} (quote it)")
            if key.value in result:
                if own:
                    raise self.fail(key, f"duplicate key {key.value!r}")
                continue  # merged entries never override what the mapping itself (or an earlier merge) set
            self.doc.key_locs.setdefault((*path, key.value), (key.line, key.column))
            result[key.value] = self.build(value, (*path, key.value), depth + 1)
        return result


def _check_encodable(path: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        line, column = _line_col_at(text, exc.start)
        raise ScenarioError(path, line, column, "text is not valid Unicode (lone surrogate)") from None


def decode(path: str, data: bytes) -> str:
    """Decode a scenario file's bytes (UTF-8, optional BOM; UTF-16 with a BOM) or raise ``ScenarioError``."""
    encoding = "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        shown = "UTF-16" if encoding == "utf-16" else "UTF-8"
        raise ScenarioError(path, line, column, f"file is not valid {shown} text: {exc.reason}") from None


def parse_documents(path: str, text: str) -> list[Document]:
    """Every non-empty YAML document of ``text``, as data with positions; raises only ``ScenarioError``."""
    _check_encodable(path, text)
    composer = _Composer(path)
    loader = None
    try:
        loader = _SafeLoader(text)  # the pure-Python reader checks every character here already
        try:
            return _read_simple(composer, loader)
        except _NotSimple:
            loader.dispose()
        loader = _SafeLoader(text)
        roots = composer.compose(loader)
    except yaml.YAMLError as exc:
        raise yaml_error(path, text, exc) from None
    finally:
        if loader is not None:
            loader.dispose()
    documents: list[Document] = []
    for index, root in enumerate(roots):
        if root.kind == "scalar" and root.empty:
            continue  # a bare "---" separator with nothing after it
        doc = Document(index=index, data=None, line=root.line, column=root.column)
        doc.data = _Builder(path, doc).build(root, (), 0)
        documents.append(doc)
    return documents
