"""Rebuild, from recorded traffic alone, what the model saw at every model call.

``build_transcript(exchanges)`` walks the exchanges in order, keeping the server-side state the traffic
implies (responses by id for ``previous_response_id`` chains, conversations and their items, items by id
for ``item_reference``, server-side compaction items), and makes one ``TurnRecord`` per model call with
its effective context. Pure: no I/O, no SDK. See ``docs/reconstruction.md`` for the rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from convotest.transcript import ContextItem, Endpoint, Exchange, Transcript, TurnRecord, Usage, plain_message_text

__all__ = [
    "assemble_chat_stream",
    "assemble_responses_stream",
    "build_transcript",
    "conversation_items",
    "endpoint_of",
    "usage_from",
]

_MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})
_COMPACTION_TYPES = frozenset({"compaction", "compaction_summary"})
_CONV_ITEMS = re.compile(r"/conversations/([^/]+)/items/?$")
_CONV_ITEM = re.compile(r"/conversations/([^/]+)/items/([^/]+)/?$")
_CONV = re.compile(r"/conversations/([^/]+)/?$")
_INPUT_ITEMS = re.compile(r"/responses/([^/]+)/input_items/?$")
_RESPONSE = re.compile(r"/responses/([^/]+)/?$")


def endpoint_of(exchange: Exchange) -> Endpoint | None:
    """Which model endpoint a request went to (matched on the path suffix), or ``None``."""
    if exchange.method.upper() != "POST":
        return None
    p = exchange.path.rstrip("/")
    if p.endswith("/chat/completions"):
        return "chat"
    if p.endswith("/responses/compact"):
        return "compact"
    if p.endswith("/responses"):
        return "responses"
    return None


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def usage_from(raw: Any) -> Usage | None:
    """Map a Chat (``prompt_tokens``…) or Responses (``input_tokens``…) usage object to ``Usage``."""
    if not isinstance(raw, Mapping):
        return None
    if "prompt_tokens" in raw or "completion_tokens" in raw:
        inp, out = _int(raw.get("prompt_tokens")), _int(raw.get("completion_tokens"))
        in_d, out_d = raw.get("prompt_tokens_details"), raw.get("completion_tokens_details")
    elif "input_tokens" in raw or "output_tokens" in raw:
        inp, out = _int(raw.get("input_tokens")), _int(raw.get("output_tokens"))
        in_d, out_d = raw.get("input_tokens_details"), raw.get("output_tokens_details")
    else:
        return None
    total = raw.get("total_tokens")
    return Usage(
        input_tokens=inp,
        output_tokens=out,
        total_tokens=total if isinstance(total, int) else inp + out,
        cached_tokens=_int(in_d.get("cached_tokens")) if isinstance(in_d, Mapping) else 0,
        reasoning_tokens=_int(out_d.get("reasoning_tokens")) if isinstance(out_d, Mapping) else 0,
    )


# --------------------------------------------------------------------------- streams


def _event_data(events: Iterable[dict[str, Any]]) -> Iterable[tuple[str | None, dict[str, Any]]]:
    for ev in events:
        data = ev.get("data")
        if isinstance(data, dict):
            name = data.get("type") if isinstance(data.get("type"), str) else ev.get("event")
            yield name, data


def assemble_responses_stream(events: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The final Response object of a streamed ``/responses`` call.

    Taken from the terminal ``response.completed`` / ``incomplete`` / ``failed`` event; when the stream was
    cut before it, rebuilt from the latest snapshot plus the ``output_item.done`` items and text deltas.
    """
    snapshot: dict[str, Any] | None = None
    done_items: dict[int, dict[str, Any]] = {}
    added_items: dict[int, dict[str, Any]] = {}
    deltas: dict[int, list[str]] = {}
    for name, data in _event_data(events):
        if name in ("response.completed", "response.incomplete", "response.failed") and isinstance(
            data.get("response"), dict
        ):
            return dict(data["response"])
        if isinstance(data.get("response"), dict):
            snapshot = data["response"]
        elif name == "response.output_item.done" and isinstance(data.get("item"), dict):
            done_items[_int(data.get("output_index"))] = data["item"]
        elif name == "response.output_item.added" and isinstance(data.get("item"), dict):
            added_items[_int(data.get("output_index"))] = data["item"]
        elif name == "response.output_text.delta" and isinstance(data.get("delta"), str):
            deltas.setdefault(_int(data.get("output_index")), []).append(data["delta"])
    if snapshot is None and not done_items and not added_items:
        return None
    resp = dict(snapshot or {"object": "response"})
    output: list[dict[str, Any]] = []
    for idx in sorted(set(done_items) | set(added_items)):
        if idx in done_items:
            output.append(done_items[idx])
            continue
        item = dict(added_items[idx])
        if item.get("type") == "message" and idx in deltas:
            item["content"] = [{"type": "output_text", "text": "".join(deltas[idx]), "annotations": []}]
        output.append(item)
    resp["output"] = output
    if resp.get("status") in (None, "in_progress", "queued"):
        resp["status"] = "incomplete"
    return resp


def assemble_chat_stream(events: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """A ``chat.completion`` object assembled from streamed chunks (content deltas, tool calls, usage chunk)."""
    first: dict[str, Any] | None = None
    content: list[str] = []
    refusal: list[str] = []
    role = "assistant"
    finish: str | None = None
    usage: Any = None
    tool_calls: dict[int, dict[str, Any]] = {}
    for _name, data in _event_data(events):
        if first is None:
            first = data
        if data.get("usage"):
            usage = data["usage"]
        for choice in data.get("choices") or []:
            if not isinstance(choice, dict) or _int(choice.get("index")) != 0:
                continue
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
            delta = choice.get("delta") or {}
            if not isinstance(delta, dict):
                continue
            if isinstance(delta.get("role"), str):
                role = delta["role"]
            if isinstance(delta.get("content"), str):
                content.append(delta["content"])
            if isinstance(delta.get("refusal"), str):
                refusal.append(delta["refusal"])
            for tc in delta.get("tool_calls") or []:
                if not isinstance(tc, dict):
                    continue
                slot = tool_calls.setdefault(
                    _int(tc.get("index")), {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
                )
                if tc.get("id"):
                    slot["id"] = tc["id"]
                fn = tc.get("function") or {}
                if isinstance(fn, dict):
                    if isinstance(fn.get("name"), str):
                        slot["function"]["name"] += fn["name"]
                    if isinstance(fn.get("arguments"), str):
                        slot["function"]["arguments"] += fn["arguments"]
    if first is None:
        return None
    message: dict[str, Any] = {
        "role": role,
        "content": "".join(content) if content or not tool_calls else None,
        "refusal": "".join(refusal) if refusal else None,
    }
    if tool_calls:
        message["tool_calls"] = [tool_calls[i] for i in sorted(tool_calls)]
    return {
        "id": first.get("id"),
        "object": "chat.completion",
        "created": first.get("created"),
        "model": first.get("model"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }


# --------------------------------------------------------------------------- items


def _content_text(content: Any) -> str | None:
    if content is None:
        return None
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        content = [content]
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping):
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
                elif isinstance(part.get("refusal"), str):
                    parts.append(part["refusal"])
        return "".join(parts)
    return str(content)


def _json_text(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, list):
        return _content_text(v)
    return json.dumps(v, ensure_ascii=False, sort_keys=True)


def _raw_id(raw: Any) -> str | None:
    if type(raw) is dict or isinstance(raw, Mapping):
        i = raw.get("id")
        if isinstance(i, str):
            return i
    return None


def _identity(kind: str, raw: Any, plain: bool) -> str | None:
    """What, besides (kind, role, text), tells two items apart, so equal-looking ones are not merged."""
    rid = _raw_id(raw)
    if rid is not None:
        return rid
    if not isinstance(raw, Mapping):
        return None
    call_id = raw.get("call_id")
    if isinstance(call_id, str):
        return call_id
    if kind in ("compaction", "reasoning", "other") or (kind == "message" and not plain):
        # no text to tell them apart: their opaque content (encrypted_content, …) does; and a message holding
        # more than its role and text (a name, an image) is not the plain message of the same text
        return json.dumps(raw, sort_keys=True, default=str)
    return None


@dataclass
class _Resp:
    """A response seen in the traffic: what a ``previous_response_id`` pointing at it continues."""

    chain: list[ContextItem]
    stored: bool
    instructions: str | None
    continued_by: str | None = None
    deleted: bool = False


@dataclass
class _Conv:
    items: list[ContextItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Why the tracked items may be incomplete; repeated on every call until a full listing resets it.
    partial_reasons: list[str] = field(default_factory=list)
    deleted: bool = False
    instructions: str | None = None
    had_response: bool = False
    last_record: TurnRecord | None = None
    #: The call whose whole context ``items`` begins with (its index), while nothing but appends changed them.
    items_of: int | None = None


class _Builder:
    def __init__(self) -> None:
        # id(obj) -> (obj, items): YAML aliases resend the same dict every turn; keeping obj pins its id()
        self._by_obj: dict[int, tuple[Any, list[ContextItem]]] = {}
        # equal items (history resent as fresh dicts) share one ContextItem object
        self._intern: dict[tuple[str, str | None, str | None, str | None], ContextItem] = {}
        self._short: dict[tuple[Any, str], ContextItem] = {}
        self._by_item_id: dict[str, tuple[Any, list[ContextItem]]] = {}
        self._remembered: set[int] = set()
        #: Per API (chat or not): the last history list, its items parsed one by one, flattened, and whether
        #: it holds item references.
        self._prev: dict[bool, tuple[Sequence[Any], Sequence[list[ContextItem]], Sequence[ContextItem], bool]] = {}
        #: Per API: the call whose context is the last history's items (its index), less how many leading ones.
        self._history_call: dict[bool, tuple[int, int]] = {}
        #: For the last Responses input: its reasoning items lacking encrypted_content, and whether its items
        #: were remembered (so the next call, resending them, only looks at what it adds).
        self._last_input: tuple[list[ContextItem], bool] = ([], False)
        #: One object for each distinct status, model, instructions and role text (``_share``).
        self._strings: dict[str, str] = {}
        self.items_by_id: dict[str, ContextItem] = {}
        self.unstored_ids: set[str] = set()
        self.server_compactions: set[str] = set()
        self.responses: dict[str, _Resp] = {}
        self.conversations: dict[str, _Conv] = {}
        self.turns: list[TurnRecord] = []
        # response id -> (its record, the items its own request sent): for the server-view check
        self.records: dict[str, tuple[TurnRecord, list[ContextItem]]] = {}

    # -- items ------------------------------------------------------------------------------------

    def _share(self, value: str | None) -> str | None:
        """The one object this builder keeps for strings equal to ``value``.

        Calls repeat their status, model and instructions, and items their roles, each parsed anew from its
        own JSON. Shared, a reader comparing one call's with the previous call's (token accounting walks
        thousands of calls, long after the tokenizer has pushed them out of the CPU's caches) gets its answer
        from identity alone, without reading either string.
        """
        return value if value is None else self._strings.setdefault(value, value)

    def _mk(self, kind: str, role: str | None, text: str | None, raw: Any, plain: bool = False) -> ContextItem:
        key = (kind, role, text, _identity(kind, raw, plain))
        got = self._intern.get(key)
        if got is None:
            got = ContextItem(kind=kind, role=self._share(role), text=text, raw=raw, plain=plain)
            self._intern[key] = got
        return got

    def items(self, raw_items: Any, *, chat: bool, notes: list[str] | None = None) -> list[ContextItem]:
        """Parse a list of input/output items (or chat messages) into context items."""
        if isinstance(raw_items, str):
            return [self._mk("message", "user", raw_items, {"role": "user", "content": raw_items}, True)]
        if not isinstance(raw_items, list):
            return []
        out: list[ContextItem] = []
        short, by_id, by_obj = self._short, self._by_item_id, self._by_obj
        for obj in raw_items:
            iid = None
            if type(obj) is dict:
                # fast path for the bulk of manual-mode history: short-form {role, content: str} messages
                if len(obj) == 2:
                    role, content = obj.get("role"), obj.get("content")
                    if type(content) is str and role in _MESSAGE_ROLES:
                        key = (role, content)
                        got = short.get(key)
                        if got is None:
                            got = short[key] = self._mk("message", role, content, obj, True)
                        out.append(got)
                        continue
                if obj.get("type") == "item_reference":
                    out.append(self._reference(obj, notes))
                    continue
                # an output item resent as input (fresh dicts when parsed from JSON): same id, same content
                iid = obj.get("id")
                if type(iid) is str:
                    hit = by_id.get(iid)
                    if hit is not None and (hit[0] is obj or hit[0] == obj):
                        out.extend(hit[1])
                        continue
                else:
                    iid = None
            hit = by_obj.get(id(obj))
            if hit is not None and hit[0] is obj:
                out.extend(hit[1])
                continue
            parsed = self._chat_item(obj) if chat else self._item(obj)
            if iid is not None:
                by_id[iid] = (obj, parsed)
            elif isinstance(obj, dict | list):
                by_obj[id(obj)] = (obj, parsed)
            out.extend(parsed)
        return out

    def history(self, raw_items: Any, *, chat: bool, notes: list[str] | None = None) -> tuple[list[ContextItem], int]:
        """Parse a request's messages/input, reusing the previous request's items for the common prefix.

        Returns the items and how many leading ones are the previous list's, reused whole (0 otherwise).

        Manual modes resend the whole history every turn. When it was parsed incrementally (or loaded from a
        cassette) the resent items are the previous request's very objects, and one C-level list comparison
        (identity short-circuits it) finds the whole previous list repeated; otherwise items are compared
        one by one, which is still much cheaper than parsing them.
        """
        if not isinstance(raw_items, list):
            self._prev.pop(chat, None)
            return self.items(raw_items, chat=chat, notes=notes), 0
        prev_raw, prev_parsed, prev_out, prev_refs = self._prev.get(chat, ((), (), (), False))
        size = len(prev_raw)
        if size and not prev_refs and len(raw_items) >= size and raw_items[:size] == prev_raw:
            # item_reference items are resolved afresh (their notes depend on the state now): none here.
            per_item = list(prev_parsed)
            out = list(prev_out)
            n = size
            reused = len(out)
        else:
            reused = 0
            out, per_item, n = [], [], 0
            limit = min(len(raw_items), size)
            while n < limit:
                obj, old = raw_items[n], prev_raw[n]
                if obj is not old and obj != old:
                    break
                if type(obj) is dict and obj.get("type") == "item_reference":
                    break
                out.extend(prev_parsed[n])
                per_item.append(prev_parsed[n])
                n += 1
        refs = False
        for obj in raw_items[n:]:
            parsed = self.items([obj], chat=chat, notes=notes)
            out.extend(parsed)
            per_item.append(parsed)
            refs = refs or (type(obj) is dict and obj.get("type") == "item_reference")
        # The prefix reused above holds no reference (the loop stops at one), so only new items can.
        self._prev[chat] = (raw_items, per_item, out, refs)
        # A copy: the caller's list may end up in a TurnRecord, and the next call continues from ``out``.
        return list(out), reused

    def _history_base(self, chat: bool, reused: int, skip: int, context_is_history: bool) -> int | None:
        """The call whose whole context the context of the call being built begins with, by way of its history.

        ``reused`` is what ``history`` returned; the call's context is the history's items less ``skip`` leading
        ones when ``context_is_history``. The call is remembered as the one the next history continues.
        """
        known = self._history_call.pop(chat, None)
        if context_is_history:
            self._history_call[chat] = (len(self.turns), skip)
        # The previous history was reused whole, and that call's context was its items less as many.
        return known[0] if reused and known is not None and known[1] == skip else None

    def _reference(self, obj: Mapping[str, Any], notes: list[str] | None) -> ContextItem:
        ref = obj.get("id")
        found = self.items_by_id.get(ref) if isinstance(ref, str) else None
        if found is None:
            if notes is not None:
                notes.append(f"item_reference {ref} is not in this traffic; the context is partial")
            return self._mk("other", None, f"item_reference:{ref}", obj)
        if ref in self.unstored_ids and notes is not None:
            notes.append(
                f"item_reference {ref} points at an item of a store:false response; the API answers 404 "
                "(items are not persisted when store is false) — send the full item instead"
            )
        return found

    def _chat_item(self, obj: Any) -> list[ContextItem]:
        if not isinstance(obj, Mapping):
            return [self._mk("other", None, None, obj)]
        role = obj.get("role")
        if role in ("tool", "function"):
            return [self._mk("function_call_output", None, _content_text(obj.get("content")), obj)]
        text = _content_text(obj.get("content"))
        calls = obj.get("tool_calls") or []
        out: list[ContextItem] = []
        if not calls or text:
            plain = plain_message_text(obj) is not None
            out.append(self._mk("message", role if isinstance(role, str) else None, text, obj, plain))
        for call in calls if isinstance(calls, list) else []:
            fn = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(fn, Mapping):
                out.append(self._mk("function_call", None, f"{fn.get('name')}({fn.get('arguments')})", call))
            else:
                out.append(self._mk("function_call", None, None, call))
        return out

    def _item(self, obj: Any) -> list[ContextItem]:
        if not isinstance(obj, Mapping):
            if isinstance(obj, str):
                return [self._mk("message", "user", obj, obj, True)]
            return [self._mk("other", None, None, obj)]
        typ = obj.get("type")
        role = obj.get("role")
        if typ == "message" or (typ is None and isinstance(role, str)):
            text = plain_message_text(obj)
            plain = text is not None
            if text is None:
                text = _content_text(obj.get("content"))
            item = self._mk("message", role if isinstance(role, str) else None, text, obj, plain)
        elif typ == "reasoning":
            summary = obj.get("summary")
            text = _content_text(summary) if summary else None
            item = self._mk("reasoning", None, text or None, obj)
        elif typ in _COMPACTION_TYPES:
            item = self._mk("compaction", None, None, obj)
        elif typ == "function_call":
            item = self._mk("function_call", None, f"{obj.get('name')}({obj.get('arguments')})", obj)
        elif typ == "function_call_output":
            item = self._mk("function_call_output", None, _json_text(obj.get("output")), obj)
        else:
            item = self._mk("other", None, str(typ) if typ is not None else None, obj)
        return [item]

    def remember(self, items: Iterable[ContextItem], *, stored: bool) -> None:
        seen = self._remembered
        for it in items:
            # items are interned (kept alive by the intern table), so id() is stable; history resent
            # every turn is only registered the first time
            key = id(it)
            if key in seen:
                continue
            seen.add(key)
            raw = it.raw
            if isinstance(raw, Mapping) and raw.get("type") == "item_reference":
                continue  # an unresolved reference stands for the item; it must not become it
            rid = _raw_id(raw)
            if rid is not None:
                self.items_by_id[rid] = it
                if not stored:
                    self.unstored_ids.add(rid)

    # -- non-model exchanges ---------------------------------------------------------------------

    def state_exchange(self, ex: Exchange) -> None:
        path = ex.path.rstrip("/")
        method = ex.method.upper()
        ok = 200 <= ex.status < 300
        if not ok:
            return
        resp = ex.response if isinstance(ex.response, Mapping) else {}
        req = ex.request if isinstance(ex.request, Mapping) else {}
        if method == "POST" and path.endswith("/conversations"):
            cid = resp.get("id")
            if isinstance(cid, str):
                conv = _Conv(items=self.items(req.get("items") or [], chat=False))
                self.remember(conv.items, stored=True)
                self.conversations[cid] = conv
            return
        m = _CONV_ITEMS.search(path)
        if m and method == "POST":
            conv = self._conv(m.group(1))
            data = resp.get("data")
            added = self.items(data if isinstance(data, list) else req.get("items") or [], chat=False)
            self.remember(added, stored=True)
            conv.items.extend(added)
            return
        if m and method == "GET":
            self._listing(m.group(1), ex, resp)
            return
        m = _CONV_ITEM.search(path)
        if m and method == "DELETE":
            conv = self._conv(m.group(1))
            item_id = m.group(2)
            kept = [it for it in conv.items if _raw_id(it.raw) != item_id]
            conv.items_of = None
            if len(kept) == len(conv.items):
                conv.partial_reasons.append(
                    f"item {item_id} was deleted from conversation {m.group(1)} but its id never appeared in "
                    "the traffic, so it may still be in the reconstructed context (partial)"
                )
            conv.items = kept
            return
        m = _CONV.search(path)
        if m and method == "DELETE":
            self._conv(m.group(1)).deleted = True
            return
        m = _INPUT_ITEMS.search(path)
        if m and method == "GET":
            self._input_items(m.group(1), ex, resp)
            return
        m = _RESPONSE.search(path)
        if m and method == "DELETE" and m.group(1) in self.responses:
            self.responses[m.group(1)].deleted = True

    def _conv(self, cid: str) -> _Conv:
        conv = self.conversations.get(cid)
        if conv is None:
            conv = _Conv(
                partial_reasons=[
                    f"conversation {cid} was created before this traffic; its earlier items are unknown (partial)"
                ]
            )
            self.conversations[cid] = conv
        return conv

    def _listing(self, cid: str, ex: Exchange, resp: Mapping[str, Any]) -> None:
        """Adopt a complete ``GET …/items`` listing: the server's own view, with the item ids."""
        data = resp.get("data")
        if not isinstance(data, list) or resp.get("has_more") or "after" in ex.query or "before" in ex.query:
            return
        if ex.query.get("order", "desc") != "asc":
            data = list(reversed(data))
        listed = self.items(data, chat=False)
        self.remember(listed, stored=True)
        conv = self._conv(cid)
        differs = _first_difference(listed, conv.items)
        if differs is not None and not conv.partial_reasons:
            note = (
                f"the server's item listing of {cid} (exchange {ex.index}) differs from the context rebuilt "
                f"from traffic at item {differs}; using the server's listing"
            )
            if conv.last_record is not None:
                conv.last_record.notes.append(note)
            else:
                conv.notes.append(note)
        # when equal, the listing still contributes the ids the server gave to input items
        conv.items = listed
        conv.items_of = None
        conv.partial_reasons = []

    def _input_items(self, rid: str, ex: Exchange, resp: Mapping[str, Any]) -> None:
        """Check a complete ``GET /responses/{id}/input_items`` listing against what was sent."""
        data = resp.get("data")
        known = self.records.get(rid)
        if known is None or not isinstance(data, list) or resp.get("has_more") or "after" in ex.query:
            return
        if ex.query.get("order", "desc") != "asc":
            data = list(reversed(data))
        listed = self.items(data, chat=False)
        record, own = known
        # the listing may hold the request's own input or (servers differ) the whole context
        if _first_difference(listed, own) is None or _first_difference(listed, record.context) is None:
            return
        record.notes.append(
            f"the server's input_items of {rid} (exchange {ex.index}) differ from the input sent at item "
            f"{_first_difference(listed, own)}"
        )

    # -- model calls -----------------------------------------------------------------------------

    def model_call(self, ex: Exchange, endpoint: Endpoint) -> None:
        req: dict[str, Any] = dict(ex.request) if isinstance(ex.request, Mapping) else {}
        notes: list[str] = []
        response: dict[str, Any] | None
        if ex.events is not None:
            assembled = assemble_chat_stream(ex.events) if endpoint == "chat" else assemble_responses_stream(ex.events)
            response = assembled
        else:
            response = dict(ex.response) if isinstance(ex.response, Mapping) else None
        err = response.get("error") if response is not None else None
        # a bare {"error": …} envelope is a failed call; a response object may carry `error` with
        # status "failed" (streams fail that way with HTTP 200) and is kept as it is
        envelope = response is not None and err and not ("output" in response or "choices" in response)
        if not 200 <= ex.status < 300 or response is None or envelope:
            msg = err.get("message") if isinstance(err, Mapping) else (ex.response_text or "")
            notes.append(f"HTTP {ex.status}: {msg}".rstrip(": ").strip())
            response = None
        elif isinstance(err, Mapping):
            notes.append(f"{response.get('status', 'failed')}: {err.get('message')}")

        if endpoint == "chat":
            record = self._chat(ex, req, response, notes)
        else:
            record = self._responses(ex, endpoint, req, response, notes)
        self.turns.append(record)

    def _chat(self, ex: Exchange, req: dict[str, Any], response: dict[str, Any] | None, notes: list[str]) -> TurnRecord:
        msgs, reused = self.history(req.get("messages") or [], chat=True)
        instructions: str | None = None
        skip = 0
        # a leading system/developer message is the instructions, as Responses' `instructions` field is,
        # so contexts of the same conversation compare equal across modes
        if msgs and msgs[0].kind == "message" and msgs[0].role in ("system", "developer"):
            instructions = msgs[0].text
            msgs = msgs[1:]
            skip = 1
        context_base = self._history_base(True, reused, skip, context_is_history=True)
        reply: str | None = None
        status: str | None = None
        output: list[dict[str, Any]] = []
        if response is not None:
            choices = response.get("choices") or []
            choice = choices[0] if choices and isinstance(choices[0], Mapping) else {}
            message = choice.get("message") if isinstance(choice.get("message"), Mapping) else None
            if message is not None:
                output = [dict(message)]
                reply = _content_text(message.get("content"))
            # cut short when any choice was (n > 1 asks for several)
            cut = any(isinstance(c, Mapping) and c.get("finish_reason") == "length" for c in choices)
            status = "incomplete" if cut else "completed"
        return TurnRecord(
            index=len(self.turns),
            endpoint="chat",
            turn=ex.turn,
            exchange=ex,
            request=req,
            response=response,
            http_status=ex.status,
            context=msgs,
            instructions=self._share(instructions),
            reply=reply,
            status=self._share(status),
            output_items=output,
            usage=usage_from(response.get("usage")) if response else None,
            model=self._share(_model(req, response)),
            carried_by="manual_chat",
            streamed=ex.events is not None,
            notes=notes,
            context_base=context_base,
        )

    def _responses(
        self,
        ex: Exchange,
        endpoint: Endpoint,
        req: dict[str, Any],
        response: dict[str, Any] | None,
        notes: list[str],
    ) -> TurnRecord:
        conv_ref = req.get("conversation")
        conv_id = conv_ref.get("id") if isinstance(conv_ref, Mapping) else conv_ref
        prev = req.get("previous_response_id")
        instructions = req.get("instructions") if isinstance(req.get("instructions"), str) else None
        stored = req.get("store") is not False
        partial = False
        if endpoint == "compact":
            carried_by = "compact"
        elif conv_id:
            carried_by = "conversation"
        elif prev:
            carried_by = "previous_response_id"
        else:
            carried_by = "manual_responses"

        base: list[ContextItem] = []
        #: The call whose whole context ``base`` begins with, when known.
        base_of: int | None = None
        conv: _Conv | None = None
        if conv_id and prev:
            notes.append(
                "both previous_response_id and conversation are set; the API rejects this "
                "(400 mutually_exclusive_parameters)"
            )
        if isinstance(conv_id, str) and conv_id:
            conv = self.conversations.get(conv_id)
            if conv is None:
                conv = self._conv(conv_id)
            if conv.deleted:
                notes.append(f"conversation {conv_id} was deleted earlier in this traffic")
            notes.extend(conv.partial_reasons)
            notes.extend(conv.notes)
            conv.notes = []
            partial = partial or bool(conv.partial_reasons)
            if conv.had_response and conv.instructions and not instructions:
                notes.append(
                    "instructions not resent: an earlier response in this conversation had instructions, "
                    "this call has none (conversations do not carry instructions)"
                )
            base = conv.items
            base_of = conv.items_of
        elif isinstance(prev, str) and prev:
            r = self.responses.get(prev)
            if r is None:
                partial = True
                notes.append(
                    f"previous_response_id {prev} is not in this traffic (the chain starts before it); "
                    "the earlier context is missing (partial)"
                )
            else:
                base = r.chain
                # the chain is that response's own context and output: its call is the base
                base_of = self.records[prev][0].index
                if r.deleted:
                    notes.append(
                        f"previous_response_id {prev} was deleted earlier in this traffic; the API answers "
                        "400 previous_response_not_found"
                    )
                if not r.stored:
                    notes.append(
                        f"previous_response_id {prev} points at a store:false response; the API answers "
                        "400 previous_response_not_found"
                    )
                if r.continued_by is not None and endpoint != "compact":
                    notes.append(
                        f"previous_response_id {prev} was already continued by {r.continued_by}; this call "
                        "forks the chain and does not see what came after it"
                    )
                if r.instructions and not instructions and endpoint != "compact":
                    notes.append(
                        "instructions not resent: the previous response had instructions, this call has "
                        "none (instructions are not carried over a previous_response_id chain)"
                    )
        new_items, reused = self.history(req.get("input"), chat=False, notes=notes)
        # A manual-mode history repeats the previous input whole: only what it adds is looked at again.
        last_bare, last_remembered = self._last_input
        bare = list(last_bare) if reused else []
        bare.extend(
            it
            for it in new_items[reused:]
            if it.kind == "reasoning" and isinstance(it.raw, Mapping) and not it.raw.get("encrypted_content")
        )
        self._last_input = (bare, False)
        if any(n.startswith("item_reference") and "not in this traffic" in n for n in notes):
            partial = True
        if not stored:
            for it in bare:
                notes.append(
                    f"reasoning item {_raw_id(it.raw)} sent under store:false without encrypted_content; "
                    "the API cannot resolve it (request include=['reasoning.encrypted_content'])"
                )
        joined = [*base, *new_items]
        window = self._apply_server_compaction(joined)
        cut = window is not joined
        from_history = self._history_base(False, reused, 0, context_is_history=not base and not cut)
        context_base = None if cut else base_of if base else from_history

        out_raw: list[dict[str, Any]] = []
        out_items: list[ContextItem] = []
        reply: str | None = None
        status: str | None = None
        if response is not None:
            raw_out = response.get("output")
            out_raw = [o for o in raw_out if isinstance(o, dict)] if isinstance(raw_out, list) else []
            out_items = self.items(out_raw, chat=False)
            if endpoint == "compact":
                status = "completed"
            else:
                st = response.get("status")
                status = st if isinstance(st, str) else "completed"
                details = response.get("incomplete_details")
                if status == "completed" and isinstance(details, Mapping) and details.get("reason"):
                    status = "incomplete"  # a proxy or an older server that says why but not the status
                texts = [
                    i.text for i in out_items if i.kind == "message" and i.role == "assistant" and i.text is not None
                ]
                reply = "".join(texts) if texts else ("" if out_items else None)
            self.remember(new_items[reused:] if reused and last_remembered else new_items, stored=stored)
            self._last_input = (bare, True)
            self.remember(out_items, stored=stored)
            if endpoint == "responses":
                for it in out_items:
                    rid = _raw_id(it.raw)
                    if it.kind == "compaction" and rid:
                        self.server_compactions.add(rid)
                rid = response.get("id")
                if isinstance(prev, str) and prev in self.responses:
                    self.responses[prev].continued_by = rid if isinstance(rid, str) else "?"
                if isinstance(rid, str):
                    self.responses[rid] = _Resp(chain=[*window, *out_items], stored=stored, instructions=instructions)
                if conv is not None:
                    conv.items = [*conv.items, *new_items, *out_items]
                    conv.items_of = None if cut else len(self.turns)
                    conv.had_response = True
                    conv.instructions = instructions or conv.instructions
        record = TurnRecord(
            index=len(self.turns),
            endpoint=endpoint,
            turn=ex.turn,
            exchange=ex,
            request=req,
            response=response,
            http_status=ex.status,
            context=window,
            instructions=self._share(instructions),
            reply=reply,
            status=self._share(status),
            output_items=out_raw,
            usage=usage_from(response.get("usage")) if response else None,
            model=self._share(_model(req, response)),
            carried_by=carried_by,
            streamed=ex.events is not None,
            notes=notes,
            partial=partial,
            context_base=context_base,
        )
        if response is not None and endpoint == "responses":
            rid = response.get("id")
            if isinstance(rid, str):
                self.records[rid] = (record, new_items)
            if conv is not None:
                conv.last_record = record
        return record

    def _apply_server_compaction(self, window: list[ContextItem]) -> list[ContextItem]:
        """Drop what precedes the latest server-side compaction item: that item stands for it.

        A compaction item emitted inline by ``context_management`` replaces the whole context before it
        (real traffic: 847 input tokens before, 552 after, with every old item resent). A ``/compact``
        output keeps its user messages before the compaction item, so those are not dropped.
        """
        if not self.server_compactions:
            return window
        for pos in range(len(window) - 1, 0, -1):
            it = window[pos]
            if it.kind == "compaction" and _raw_id(it.raw) in self.server_compactions:
                return window[pos:]
        return window


def _model(req: Mapping[str, Any], response: Mapping[str, Any] | None) -> str | None:
    m = req.get("model")
    if isinstance(m, str):
        return m
    if response is not None and isinstance(response.get("model"), str):
        return str(response["model"])
    return None


def build_transcript(exchanges: Sequence[Exchange]) -> Transcript:
    """One ``TurnRecord`` per model call, with the effective context rebuilt from the traffic alone."""
    b = _Builder()
    for ex in exchanges:
        endpoint = endpoint_of(ex)
        if endpoint is None:
            b.state_exchange(ex)
        else:
            b.model_call(ex, endpoint)
    return Transcript(turns=b.turns, exchanges=list(exchanges), items=list(b._intern.values()))


def conversation_items(exchanges: Sequence[Exchange]) -> dict[str, list[ContextItem]]:
    """Each conversation's items as the traffic leaves them (creation, responses, added and deleted items)."""
    b = _Builder()
    for ex in exchanges:
        endpoint = endpoint_of(ex)
        if endpoint is None:
            b.state_exchange(ex)
        else:
            b.model_call(ex, endpoint)
    return {cid: list(conv.items) for cid, conv in b.conversations.items()}


def _first_difference(a: Sequence[ContextItem], b: Sequence[ContextItem]) -> int | None:
    """1-based position of the first item whose (kind, role, text) differs, or ``None`` when equal."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if (x.kind, x.role, x.text) != (y.kind, y.role, y.text):
            return i + 1
    if len(a) != len(b):
        return min(len(a), len(b)) + 1
    return None
