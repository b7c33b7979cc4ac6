"""The cassette file format: vcrpy's ``version: 1`` YAML, made reviewable and linear in size.

What differs from vcrpy's own YAML serializer (see docs/cassettes.md):

* JSON bodies are stored as YAML structures (``body: {json: …}``), streamed bodies as a list of events
  (``body: {sse: [{event, data}, …]}``), anything else as vcrpy's ``body: {string: …}``.
* Items that repeat (the history a manual mode resends every turn) are written once and referred to
  by YAML aliases, so a cassette grows with the conversation, not with its square.
* ``metadata.convotest`` is the header: format version, convotest and SDK versions, scenario, mode,
  and the turn each interaction belongs to.

``serialize``/``deserialize`` have vcrpy's serializer signature, so plain vcrpy can load these files with
``vcr.register_serializer("convotest", convotest.recording.cassette_format)``. No vcrpy import here.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from convotest.errors import CassetteError
from convotest.incremental_json import HISTORY_FIELDS, history_field
from convotest.sse import parse_sse, render_sse

__all__ = [
    "FORMAT_VERSION",
    "JsonBody",
    "collector_paused",
    "deserialize",
    "dump_yaml",
    "expand_history",
    "load_yaml",
    "parse_sse",
    "render_sse",
    "serialize",
]

#: Bump when a cassette written by this version cannot be read by an older one.
FORMAT_VERSION = 1

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _FastLoader(_Loader):  # type: ignore[misc,valid-type]
    """``_Loader`` that remembers how plain scalars resolve (a cassette repeats the same keys thousands of times)."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is _ScalarNode and implicit[0]:
            # A plain scalar's tag depends on its text alone (no path resolvers are registered).
            tag = _PLAIN_TAGS.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(value) <= 40 and len(_PLAIN_TAGS) < 20_000:
                    _PLAIN_TAGS[value] = tag
            return tag
        return super().resolve(kind, value, implicit)


_ScalarNode = yaml.ScalarNode
_PLAIN_TAGS: dict[str, str] = {}
_STR, _INT, _NULL, _BOOL = (f"tag:yaml.org,2002:{t}" for t in ("str", "int", "null", "bool"))
_SEQ, _MAP = "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"


class _Unusual(Exception):
    """A node the fast builder leaves to PyYAML's own constructor (merge keys, sets, non-string keys…)."""


def _build(node: Any, loader: Any, memo: dict[int, Any]) -> Any:
    """The object for ``node``, as ``SafeConstructor`` makes it, for the node kinds cassettes are made of."""
    tag = node.tag
    if node.__class__ is _ScalarNode:
        if tag == _STR:
            return node.value
        if tag == _INT:
            value = node.value
            if value.isdigit() and (value[0] != "0" or value == "0"):
                return int(value)
        elif tag == _NULL:
            return None
        elif tag == _BOOL:
            return loader.bool_values[node.value.lower()]
        return loader.construct_object(node, deep=True)
    # Aliases are the same node object: they become the same Python object, as with PyYAML.
    done = memo.get(id(node))
    if done is not None:
        return done
    if tag == _SEQ:
        items: list[Any] = []
        memo[id(node)] = items
        items.extend(_build(child, loader, memo) for child in node.value)
        return items
    if tag == _MAP:
        mapping: dict[Any, Any] = {}
        memo[id(node)] = mapping
        for key, value in node.value:
            if key.tag != _STR or key.__class__ is not _ScalarNode:
                raise _Unusual
            mapping[key.value] = _build(value, loader, memo)
        return mapping
    raise _Unusual


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large document is built.

    Building a 1,000-turn cassette allocates about a million containers; the collections those
    allocations trigger walk the growing document again and again (most of the load time). Nothing
    built here needs collecting meanwhile; the collector runs as usual afterwards.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def load_yaml(text: str) -> Any:
    """Parse YAML safely, with libyaml when it is installed.

    Same result as ``yaml.load(text, Loader=CSafeLoader)``, about twice as fast on cassettes: libyaml
    composes the nodes, and the common ones (strings, ints, null, booleans, lists, string-keyed mappings)
    become Python objects without PyYAML's generic constructor machinery.
    """
    loader = _FastLoader(text)
    try:
        with collector_paused():
            node = loader.get_single_node()
            if node is None:
                return None
            try:
                return _build(node, loader, {})
            except _Unusual:
                return loader.construct_document(node)
    finally:
        loader.dispose()


def dump_yaml(data: Any) -> str:
    """Write YAML with libyaml when installed; identical objects become anchors and aliases."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


# --- bodies ----------------------------------------------------------------------------------------


class _Interner:
    """Hands back one shared object per distinct item, so the YAML dumper writes it once."""

    def __init__(self) -> None:
        self._seen: dict[str, Any] = {}

    @staticmethod
    def key(value: Any) -> str:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)

    def item(self, value: Any, key: str | None = None) -> Any:
        if not isinstance(value, dict | list):
            return value
        return self._seen.setdefault(key or self.key(value), value)

    def items(self, values: Any) -> Any:
        if isinstance(values, list):
            return [self.item(v) for v in values]
        return values


def _header(headers: Mapping[str, Any], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value[0] if isinstance(value, list) and value else value)
    return ""


def _as_text(body: Any) -> str | None:
    if body is None:
        return ""
    if isinstance(body, bytes):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return str(body)


#: Headers that change on every run and say nothing about the conversation: not written to cassettes.
_NOISE_REQUEST_HEADERS = frozenset(
    {"host", "content-length", "connection", "accept-encoding", "accept", "user-agent", "x-convotest-run"}
)
_NOISE_RESPONSE_HEADERS = frozenset(
    {
        "date",
        "server",
        "content-length",
        "openai-processing-ms",
        "cf-ray",
        "cf-cache-status",
        "alt-svc",
        "strict-transport-security",
        "x-envoy-upstream-service-time",
        "x-content-type-options",
    }
)
_NOISE_PREFIXES = ("x-stainless-", "x-ratelimit-")


def _quiet(headers: Mapping[str, Any], noise: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in headers.items() if k.lower() not in noise and not k.lower().startswith(_NOISE_PREFIXES)}


@dataclass
class _History:
    """The last history list sent to each route: (interaction number, field, item keys)."""

    last: dict[str, tuple[int, str, list[str]]] = field(default_factory=dict)

    def delta(self, route: str, number: int, body: dict[str, Any], interner: _Interner) -> dict[str, Any] | None:
        """Store ``body``'s history as the items after the previous request's list, if it continues it."""
        name = history_field(body)
        if name is None:
            return None
        items = body[name]
        keys = [interner.key(item) for item in items]
        previous = self.last.get(route)
        self.last[route] = (number, name, keys)
        body[name] = [interner.item(item, key) for item, key in zip(items, keys, strict=True)]
        if previous is None:
            return None
        prev_number, prev_name, prev_keys = previous
        if prev_name != name or not prev_keys or keys[: len(prev_keys)] != prev_keys:
            return None
        body[name] = body[name][len(prev_keys) :]
        return {"interaction": prev_number, "field": name}


def _encode_body(body: Any, content_type: str, interner: _Interner, *, response: bool) -> dict[str, Any]:
    text = _as_text(body)
    if text is None:
        return {"string": body}
    if "text/event-stream" in content_type:
        return {"sse": parse_sse(text)}
    if text.strip() and text.lstrip()[:1] in "{[":
        try:
            parsed = json.loads(text)
        except ValueError:
            return {"string": text}
        if isinstance(parsed, dict):
            # The parts that repeat across a conversation: history in requests, output in responses.
            for key in ("items", "output", "data"):
                if key in parsed:
                    parsed[key] = interner.items(parsed[key])
            if response and isinstance(parsed.get("choices"), list):
                for choice in parsed["choices"]:
                    if isinstance(choice, dict) and "message" in choice:
                        choice["message"] = interner.item(choice["message"])
        return {"json": parsed}
    return {"string": text}


def expand_history(interactions: list[Any], path: str = "<cassette>") -> dict[int, int]:
    """Resolve ``extends`` deltas in place, so every request body holds its whole history again.

    Returns, for each interaction that extended another, the 0-based index of the one it extended. The
    expanded lists share their items with the earlier ones (read-only).
    """
    extended: dict[int, int] = {}
    for number, interaction in enumerate(interactions, 1):
        try:
            body = interaction["request"]["body"]
        except (KeyError, TypeError):
            continue
        if not isinstance(body, dict) or "extends" not in body:
            continue
        ref = body["extends"]
        target = ref.get("interaction") if isinstance(ref, dict) else None
        name = ref.get("field") if isinstance(ref, dict) else None
        where = f"interaction #{number} request: extends"
        if not isinstance(target, int) or not 1 <= target < number or name not in HISTORY_FIELDS:
            raise CassetteError(path, f"{where} must name an earlier interaction and input/messages; re-record it")
        try:
            earlier = interactions[target - 1]["request"]["body"]["json"][name]
            own = body["json"][name]
        except (KeyError, TypeError):
            raise CassetteError(path, f"{where} #{target}.{name} is missing; re-record it") from None
        if not isinstance(earlier, list) or not isinstance(own, list):
            raise CassetteError(path, f"{where} #{target}.{name} is not a list; re-record it")
        body["json"] = {**body["json"], name: [*earlier, *own]}
        del body["extends"]
        extended[number - 1] = target - 1
    return extended


@dataclass
class JsonBody:
    """A recorded JSON request body kept parsed (its history expanded); rendered to text on demand."""

    data: Any
    #: 0-based index of the interaction whose history list this body's repeats, if it was stored as a delta.
    extends: int | None = None

    def text(self) -> str:
        """The body as compact JSON text, as a client would have sent it."""
        return json.dumps(self.data, ensure_ascii=False, separators=(",", ":"))


def _decode_body(body: Any, where: str, path: str) -> str | bytes:
    if body is None:
        return ""
    if isinstance(body, str | bytes):  # vcrpy's own request body form
        return body
    if not isinstance(body, dict):
        raise CassetteError(path, f"{where}: body must be a mapping with 'json', 'sse' or 'string'")
    if "json" in body:
        return json.dumps(body["json"], ensure_ascii=False, separators=(",", ":"))
    if "sse" in body:
        if not isinstance(body["sse"], list):
            raise CassetteError(path, f"{where}: body.sse must be a list of events")
        return render_sse(body["sse"])
    if "string" in body:
        value = body["string"]
        return value if isinstance(value, str | bytes) else ("" if value is None else str(value))
    raise CassetteError(path, f"{where}: body has none of 'json', 'sse', 'string' (keys: {sorted(body)})")


def _decode_status(status: Any, where: str, path: str) -> dict[str, Any]:
    """``{"code": int, "message": str}`` as vcrpy replays it (its reason phrase must be ASCII)."""
    code = status.get("code") if isinstance(status, dict) else None
    if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
        raise CassetteError(path, f"{where}: status.code must be an HTTP status code, not {code!r}; re-record it")
    message = status.get("message") if isinstance(status, dict) else None
    if message is None:
        message = ""
    if not isinstance(message, str) or not message.isascii():
        raise CassetteError(path, f"{where}: status.message must be ASCII text, not {message!r}; re-record it")
    return {"code": code, "message": message}


def _decode_headers(headers: Any, where: str, path: str) -> dict[str, list[str]]:
    """Headers as vcrpy keeps them: each name with a list of text values."""
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        raise CassetteError(path, f"{where}: headers must be a mapping of names to values; re-record it")
    out: dict[str, list[str]] = {}
    for name, value in headers.items():
        values = value if isinstance(value, list) else [value]
        if not isinstance(name, str) or not all(isinstance(v, str | int | float) for v in values):
            raise CassetteError(path, f"{where}: header {name!r} must map a name to text values; re-record it")
        out[name] = [str(v) for v in values]
    return out


# --- vcrpy serializer interface ----------------------------------------------------------------------


def serialize(cassette_dict: dict[str, Any]) -> str:
    """vcrpy serializer: the cassette as reviewable YAML."""
    interner = _Interner()
    history = _History()
    interactions = []
    for number, interaction in enumerate(cassette_dict.get("interactions", []), 1):
        request = dict(interaction["request"])
        response = dict(interaction["response"])
        req_type = _header(request.get("headers", {}), "content-type")
        request["headers"] = _quiet(request.get("headers") or {}, _NOISE_REQUEST_HEADERS)
        request["body"] = _encode_body(request.get("body"), req_type or "application/json", interner, response=False)
        parsed = request["body"].get("json")
        if isinstance(parsed, dict):
            route = f"{request.get('method', '')} {urlsplit(str(request.get('uri', ''))).path}"
            extends = history.delta(route, number, parsed, interner)
            if extends is not None:
                request["body"]["extends"] = extends
        # content-length is recomputed on load: the body is re-serialised, so its length changes.
        resp_headers = _quiet(response.get("headers") or {}, _NOISE_RESPONSE_HEADERS)
        response["headers"] = resp_headers
        body = response.get("body", {})
        raw = body.get("string") if isinstance(body, dict) else body
        response["body"] = _encode_body(raw, _header(resp_headers, "content-type"), interner, response=True)
        interactions.append({"request": request, "response": response})
    out: dict[str, Any] = {"version": cassette_dict.get("version", 1)}
    if cassette_dict.get("metadata"):
        out["metadata"] = cassette_dict["metadata"]
    out["interactions"] = interactions
    return dump_yaml(out)


def deserialize(cassette_string: str, path: str = "<cassette>", *, parsed_requests: bool = False) -> dict[str, Any]:
    """vcrpy serializer: YAML back to vcrpy's dict, bodies as strings. Raises ``CassetteError``.

    With ``parsed_requests``, JSON request bodies stay parsed as ``JsonBody`` (no text is rendered).
    """
    try:
        data = load_yaml(cassette_string)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise CassetteError(
            path, f"not valid YAML{where} (truncated or hand-edited?); delete it and re-record"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        raise CassetteError(path, "not a cassette: expected a mapping with an 'interactions' list; re-record it")
    if data.get("version") != 1:
        raise CassetteError(path, f"unsupported cassette version {data.get('version')!r} (expected 1); re-record it")
    header = (data.get("metadata") or {}).get("convotest") if isinstance(data.get("metadata"), dict) else None
    if isinstance(header, dict) and isinstance(header.get("format"), int) and header["format"] > FORMAT_VERSION:
        raise CassetteError(
            path,
            f"written by a newer convotest (cassette format {header['format']}, this one reads {FORMAT_VERSION}); "
            "upgrade convotest",
        )
    turns = header.get("turns") if isinstance(header, dict) else None
    if isinstance(turns, list) and len(turns) != len(data["interactions"]):
        raise CassetteError(
            path,
            f"its header lists {len(turns)} interactions but it holds {len(data['interactions'])} "
            "(truncated or hand-edited?); delete it and re-record",
        )
    extended = expand_history(data["interactions"], path)
    interactions = []
    for number, interaction in enumerate(data["interactions"], 1):
        where = f"interaction #{number}"
        try:
            request = dict(interaction["request"])
            response = dict(interaction["response"])
            request["method"], request["uri"], response["status"]["code"]
        except (KeyError, TypeError, ValueError):
            raise CassetteError(
                path, f"{where}: needs request.method, request.uri and response.status.code; re-record it"
            ) from None
        if not isinstance(request["method"], str) or not isinstance(request["uri"], str):
            raise CassetteError(path, f"{where} request: method and uri must be text; re-record it")
        raw_body = request.get("body")
        if parsed_requests and isinstance(raw_body, dict) and "json" in raw_body:
            request["body"] = JsonBody(raw_body["json"], extended.get(number - 1))
        else:
            request["body"] = _decode_body(raw_body, f"{where} request", path)
        request["headers"] = _decode_headers(request.get("headers"), f"{where} request", path)
        response["status"] = _decode_status(response["status"], f"{where} response", path)
        if "body" not in response:
            raise CassetteError(path, f"{where} response: no body (truncated or hand-edited?); delete it and re-record")
        body = _decode_body(response["body"], f"{where} response", path)
        raw = body.encode("utf-8") if isinstance(body, str) else body
        headers = _decode_headers(response.get("headers"), f"{where} response", path)
        headers["content-length"] = [str(len(raw))]
        response["headers"] = headers
        response["body"] = {"string": raw}
        interactions.append({"request": request, "response": response})
    out: dict[str, Any] = {"version": 1, "interactions": interactions}
    if data.get("metadata"):
        out["metadata"] = data["metadata"]
    return out
