"""The emulator's behaviour, free of HTTP: each endpoint takes a parsed body and returns a JSON object.

Every method validates its input (raising ``ApiError``), then works under the store's lock so that
concurrent requests see and leave consistent state.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from convotest.emulator.config import EmulatorConfig
from convotest.emulator.errors import (
    ApiError,
    bad_request,
    invalid_type,
    invalid_value,
    missing_parameter,
    not_found,
    unknown_parameter,
)
from convotest.emulator.items import (
    compaction_payload,
    encode_compaction,
    expand,
    normalize_items,
    reasoning_blob,
)
from convotest.emulator.models import default_effort, is_known_model, limits_for, reasons, snapshot
from convotest.emulator.replies import message_text, reply_for, truncate_to_tokens
from convotest.emulator.store import Store
from convotest.tokens import REPLY_PRIMER, ModelLimits, TokenCounter

__all__ = ["REASONING_TOKENS", "Emulator"]

#: Reasoning tokens every reasoning-model reply reports (and spends from ``max_output_tokens``).
REASONING_TOKENS = 64
#: Below this many shared prefix tokens nothing is cached; above, caching is in blocks of this size.
CACHE_MIN_TOKENS = 1024
CACHE_BLOCK = 128
_PREFIX_CACHE_SIZE = 4096
_PRINT_CACHE_SIZE = 200_000
_PLAIN_PARTS = frozenset({"input_text", "output_text", "text"})
MAX_CONVERSATION_ITEMS_PER_CALL = 20

RESPONSE_PARAMS = frozenset(
    {
        "access_programs", "background", "background_options", "context_management", "conversation",
        "image", "include", "input", "instructions", "max_output_tokens", "max_tool_calls", "metadata",
        "model", "moderation", "parallel_tool_calls", "previous_response_id", "prompt", "prompt_cache_key",
        "prompt_cache_options", "prompt_cache_retention", "reasoning", "safety_identifier", "service_tier",
        "store", "stream", "stream_options", "temperature", "text", "tool_choice", "tools", "top_logprobs",
        "top_p", "truncation", "user",
    }
)  # fmt: skip
INPUT_TOKENS_PARAMS = frozenset(
    {
        "conversation", "input", "instructions", "model", "parallel_tool_calls", "personality",
        "previous_response_id", "reasoning", "text", "tool_choice", "tools", "truncation",
    }
)  # fmt: skip
COMPACT_PARAMS = frozenset(
    {
        "image", "input", "instructions", "model", "previous_response_id", "prompt_cache_key",
        "prompt_cache_options", "prompt_cache_retention", "service_tier",
    }
)  # fmt: skip
CHAT_PARAMS = frozenset(
    {
        "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
        "max_completion_tokens", "max_tokens", "messages", "metadata", "modalities", "model", "moderation",
        "n", "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key",
        "prompt_cache_options", "prompt_cache_retention", "reasoning_effort", "response_format",
        "safety_identifier", "seed", "service_tier", "stop", "store", "stream", "stream_options",
        "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user", "verbosity",
        "web_search_options",
    }
)  # fmt: skip
#: JSON types of the Responses create parameters that are validated by type alone.
_RESPONSE_TYPES = {
    "temperature": "number",
    "top_p": "number",
    "instructions": "string",
    "store": "boolean",
    "stream": "boolean",
    "background": "boolean",
    "parallel_tool_calls": "boolean",
    "tools": "array",
    "include": "array",
    "reasoning": "object",
    "text": "object",
    "user": "string",
    "top_logprobs": "integer",
    "max_tool_calls": "integer",
    "truncation": "string",
    "max_output_tokens": "integer",
    "metadata": "object",
}
CHAT_ROLES = ["system", "developer", "user", "assistant", "tool", "function"]

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def _check_unknown(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for key in body:
        if key not in allowed:
            raise unknown_parameter(key)


def _get(body: Mapping[str, Any], key: str, kind: str, *, required: bool = False, param: str | None = None) -> Any:
    """``body[key]`` checked against a JSON type; None when absent (or null) and not required."""
    value = body.get(key)
    name = param or key
    if value is None:
        if required:
            raise missing_parameter(name)
        return None
    types = _JSON_TYPES[kind]
    if isinstance(value, bool) and bool not in types:
        raise invalid_type(name, kind, value)
    if not isinstance(value, types):
        raise invalid_type(name, kind, value)
    return value


#: Reasoning efforts the API accepts, and the keys of a Responses ``reasoning`` object.
EFFORTS = ["none", "minimal", "low", "medium", "high", "xhigh"]
REASONING_KEYS = frozenset({"effort", "summary", "generate_summary"})
#: Token limits are 32-bit on the API side.
_MAX_TOKENS = 2**31 - 1


def _effort(value: Any, param: str) -> None:
    if value is not None and (not isinstance(value, str) or value not in EFFORTS):
        raise invalid_value(param, value, EFFORTS)


def _below_max(value: int | None, param: str) -> None:
    if value is not None and value > _MAX_TOKENS:
        raise bad_request(
            f"Invalid '{param}': integer above maximum value. Expected a value <= {_MAX_TOKENS}, "
            f"but got {value} instead.",
            param=param,
            code="integer_above_max_value",
        )


def _range(value: float | None, param: str, low: float, high: float) -> None:
    if value is None:
        return
    if value < low:
        raise bad_request(
            f"Invalid '{param}': decimal below minimum value. Expected a value >= {low}, but got {value} instead.",
            param=param,
            code="decimal_below_min_value",
        )
    if value > high:
        raise bad_request(
            f"Invalid '{param}': decimal above maximum value. Expected a value <= {high}, but got {value} instead.",
            param=param,
            code="decimal_above_max_value",
        )


def _metadata(body: Mapping[str, Any]) -> dict[str, str]:
    meta = _get(body, "metadata", "object")
    if meta is None:
        return {}
    if len(meta) > 16:
        raise bad_request(
            f"Invalid 'metadata': too many properties. Expected an object with at most 16 properties, "
            f"but got an object with {len(meta)} properties instead.",
            param="metadata",
            code="object_above_max_properties",
        )
    for key, value in meta.items():
        if len(key) > 64:
            raise bad_request(
                f"Invalid 'metadata': string too long. Expected a string with maximum length 64, "
                f"but got a string with length {len(key)} instead.",
                param="metadata",
                code="string_above_max_length",
            )
        if not isinstance(value, str):
            raise invalid_type(f"metadata.{key}", "string", value)
        if len(value) > 512:
            raise bad_request(
                f"Invalid 'metadata.{key}': string too long. Expected a string with maximum length 512, "
                f"but got a string with length {len(value)} instead.",
                param=f"metadata.{key}",
                code="string_above_max_length",
            )
    return dict(meta)


def _fingerprint(item: Mapping[str, Any]) -> str:
    # Ids differ between a resent history and the stored one; the content is what a cache matches on.
    # Plain messages (the common case) skip JSON: role and text identify them.
    if item.get("type", "message") == "message" and isinstance(item.get("role"), str):
        content = item.get("content")
        if isinstance(content, str) or (
            isinstance(content, list) and all(isinstance(p, Mapping) and p.get("type") in _PLAIN_PARTS for p in content)
        ):
            return f"{item['role']}\x00{message_text(content)}"
    return json.dumps({k: v for k, v in item.items() if k != "id"}, sort_keys=True, separators=(",", ":"))


def _page(items: Sequence[dict[str, Any]], query: Mapping[str, str], *, default_order: str = "desc") -> dict[str, Any]:
    """A cursor-paginated list envelope over ``items`` (oldest first) per ``order``/``after``/``before``/``limit``."""
    order = query.get("order", default_order)
    if order not in ("asc", "desc"):
        raise invalid_value("order", order, ["asc", "desc"])
    raw_limit = query.get("limit", "20")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise invalid_type("limit", "integer", raw_limit) from None
    if limit < 1:
        raise bad_request(
            f"Invalid 'limit': integer below minimum value. Expected a value >= 1, but got {limit} instead.",
            param="limit",
            code="integer_below_min_value",
        )
    if limit > 100:
        raise bad_request(
            f"Invalid 'limit': integer above maximum value. Expected a value <= 100, but got {limit} instead.",
            param="limit",
            code="integer_above_max_value",
        )
    ordered = list(items) if order == "asc" else list(reversed(items))
    ids = [item["id"] for item in ordered]
    start, end = 0, len(ordered)
    after = query.get("after")
    before = query.get("before")
    if after is not None:
        if after not in ids:
            raise invalid_value("after", after, why="No item with this id is in the list.")
        start = ids.index(after) + 1
    if before is not None:
        if before not in ids:
            raise invalid_value("before", before, why="No item with this id is in the list.")
        end = ids.index(before)
    window = ordered[start:end]
    if before is not None and after is None:
        # `before` pages backwards: the `limit` items right before the cursor.
        data = window[-limit:]
        has_more = len(window) > limit
    else:
        data = window[:limit]
        has_more = len(window) > limit
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


class Emulator:
    """All endpoint behaviour over one ``Store``."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.store = Store(self.config.db, self.config.seed)
        self.tokens = TokenCounter()
        self._prefixes: OrderedDict[tuple[str, str, str], list[str]] = OrderedDict()
        self._prints: dict[str, tuple[Mapping[str, Any], str]] = {}
        self._limit_cache: dict[str, ModelLimits] = {}

    def _limits(self, model: str) -> ModelLimits:
        """``limits_for`` memoised: the model table lookup is a prefix scan."""
        hit = self._limit_cache.get(model)
        if hit is None:
            hit = limits_for(model, self.config)
            if len(self._limit_cache) < 4096:
                self._limit_cache[model] = hit
        return hit

    def close(self) -> None:
        """Flush and close persistent state."""
        self.store.close()

    # -- shared helpers --

    def _model(self, body: Mapping[str, Any], *, chat: bool = False, required: bool = True) -> str | None:
        model = _get(body, "model", "string", required=required)
        if model is None:
            return None
        if not is_known_model(model, self.config):
            if chat:
                raise ApiError(
                    404,
                    f"The model `{model}` does not exist or you do not have access to it.",
                    code="model_not_found",
                )
            raise bad_request(f"The requested model '{model}' does not exist.", param="model", code="model_not_found")
        return str(model)

    def _fingerprint(self, item: Mapping[str, Any]) -> str:
        """``_fingerprint`` of an item, remembered for stored items (chains resend them every turn)."""
        iid = item.get("id")
        if isinstance(iid, str) and self.store.items.get(iid) is item:
            hit = self._prints.get(iid)
            if hit is not None and hit[0] is item:
                return hit[1]
            print_ = _fingerprint(item)
            if len(self._prints) >= _PRINT_CACHE_SIZE:
                self._prints.clear()
            self._prints[iid] = (item, print_)
            return print_
        return _fingerprint(item)

    def _cached_tokens(
        self, model: str, instructions: str | None, items: Sequence[Mapping[str, Any]], input_tokens: int
    ) -> int:
        """Tokens of the prefix shared with the latest request that began the same way, in cache blocks."""
        prints = [self._fingerprint(item) for item in items]
        key = (model, instructions or "", prints[0] if prints else "")
        previous = self._prefixes.get(key)
        self._prefixes[key] = prints
        self._prefixes.move_to_end(key)
        if len(self._prefixes) > _PREFIX_CACHE_SIZE:
            self._prefixes.popitem(last=False)
        if not previous:
            return 0
        shared = 0
        for mine, theirs in zip(prints, previous, strict=False):
            if mine != theirs:
                break
            shared += 1
        if shared == 0 or input_tokens < CACHE_MIN_TOKENS:
            return 0
        tokens = self.tokens.items(items[:shared], model=model, instructions=instructions) - REPLY_PRIMER
        if tokens < CACHE_MIN_TOKENS:
            return 0
        return min(tokens // CACHE_BLOCK * CACHE_BLOCK, input_tokens)

    def _count_input(self, path: str, model: str, items: Sequence[Mapping[str, Any]], body: Mapping[str, Any]) -> int:
        instructions = body.get("instructions")
        settings = {
            "model": model,
            "instructions": instructions if isinstance(instructions, str) else None,
            "tools": body.get("tools"),
            "text": body.get("text"),
        }
        encoding = self._limits(model).encoding
        return self.tokens.request(path, settings, context=items, encoding=encoding)

    def _conversation_id(self, body: Mapping[str, Any]) -> str | None:
        conv = body.get("conversation")
        if conv is None:
            return None
        if isinstance(conv, Mapping):
            conv = conv.get("id")
            if conv is None:
                raise missing_parameter("conversation.id")
            if not isinstance(conv, str):
                raise invalid_type("conversation.id", "string", conv)
        elif not isinstance(conv, str):
            raise invalid_type("conversation", "one of a string or an object", conv)
        if conv not in self.store.conversations:
            raise not_found(f"Conversation with id '{conv}' not found.", param="conversation")
        return conv

    def _context(
        self, body: Mapping[str, Any], *, input_required: bool
    ) -> tuple[list[str], list[dict[str, Any]], str | None]:
        """(ids of the earlier context, the new input items, the conversation id) of a request."""
        prev_id = _get(body, "previous_response_id", "string")
        has_conv = body.get("conversation") is not None
        if prev_id is not None and has_conv:
            raise bad_request(
                "Mutually exclusive parameters: Ensure you are only providing one of: "
                "'previous_response_id' or 'conversation'.",
                param="conversation",
                code="mutually_exclusive_parameters",
            )
        earlier: list[str] = []
        conv_id = self._conversation_id(body)
        if conv_id is not None:
            earlier = list(self.store.conversations[conv_id]["item_ids"])
        if prev_id is not None:
            if not prev_id.startswith("resp"):
                raise invalid_value("previous_response_id", prev_id, why="Expected an ID that begins with 'resp'.")
            record = self.store.responses.get(prev_id)
            if record is None:
                raise bad_request(
                    f"Previous response with id '{prev_id}' not found.",
                    param="previous_response_id",
                    code="previous_response_not_found",
                )
            earlier = list(record["chain_ids"])
        raw = body.get("input")
        if raw is None:
            if input_required and prev_id is None and conv_id is None:
                raise missing_parameter("input")
            items: list[dict[str, Any]] = []
        else:
            items = normalize_items(raw, "input", self.store)
        seen = set(earlier)
        for item in items:
            if item["id"] in seen:
                raise bad_request(
                    f"Duplicate item found with id {item['id']}. Remove the duplicate item from your input "
                    "and try again.",
                    param="input",
                    code="duplicate_item",
                )
            seen.add(item["id"])
        return earlier, items, conv_id

    def _fit(
        self, path: str, model: str, items: list[Mapping[str, Any]], body: Mapping[str, Any]
    ) -> tuple[list[Mapping[str, Any]], int]:
        """The counted context after ``truncation`` and its input tokens; 400 when it cannot fit."""
        limit = self._limits(model).input_limit
        truncation = body.get("truncation") or "disabled"
        tokens = self._count_input(path, model, items, body)
        if tokens > limit and truncation == "auto":
            while len(items) > 1 and tokens > limit:
                items = items[1:]
                tokens = self._count_input(path, model, items, body)
        if tokens > limit:
            raise bad_request(
                "Your input exceeds the context window of this model. Please adjust your input and try again.",
                param="input",
                code="context_length_exceeded",
            )
        return items, tokens

    def _validate_response_settings(self, body: Mapping[str, Any]) -> None:
        # Only the keys present are checked: most requests carry three or four.
        for key, value in body.items():
            kind = _RESPONSE_TYPES.get(key)
            if kind is not None and value is not None:
                _get(body, key, kind)
        if "temperature" in body:
            _range(body["temperature"], "temperature", 0, 2)
        if "top_p" in body:
            _range(body["top_p"], "top_p", 0, 1)
        truncation = body.get("truncation")
        if truncation is not None and truncation not in ("auto", "disabled"):
            raise invalid_value("truncation", truncation, ["auto", "disabled"])
        max_out = body.get("max_output_tokens")
        if max_out is not None and max_out < 16:
            raise bad_request(
                "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, "
                f"but got {max_out} instead.",
                param="max_output_tokens",
                code="integer_below_min_value",
            )
        _below_max(max_out, "max_output_tokens")
        reasoning = body.get("reasoning")
        if isinstance(reasoning, dict):
            for key in reasoning:
                if key not in REASONING_KEYS:
                    raise bad_request(
                        f"Unknown parameter: 'reasoning.{key}'.", param=f"reasoning.{key}", code="unknown_parameter"
                    )
            _effort(reasoning.get("effort"), "reasoning.effort")
        for n, entry in enumerate(body.get("include") or ()):
            if not isinstance(entry, str):
                raise invalid_type(f"include[{n}]", "string", entry)
        if "metadata" in body:
            _metadata(body)

    def _compact_threshold(self, body: Mapping[str, Any]) -> int | None:
        entries = _get(body, "context_management", "array")
        if not entries:
            return None
        threshold: int | None = None
        for index, entry in enumerate(entries):
            where = f"context_management[{index}]"
            if not isinstance(entry, Mapping):
                raise invalid_type(where, "object", entry)
            kind = entry.get("type")
            if kind != "compaction":
                raise invalid_value(f"{where}.type", kind, ["compaction"])
            value = _get(entry, "compact_threshold", "integer", param=f"{where}.compact_threshold")
            if value is not None and value < 1000:
                raise bad_request(
                    f"Invalid '{where}.compact_threshold': integer below minimum value. Expected a value "
                    f">= 1000, but got {value} instead.",
                    param=f"{where}.compact_threshold",
                    code="integer_below_min_value",
                )
            threshold = value if value is not None else 1000 if threshold is None else threshold
        return threshold

    def _sends_reasoning_content(self, body: Mapping[str, Any]) -> bool:
        if self.config.reasoning_content == "always":
            return True
        include = body.get("include")
        return isinstance(include, list) and "reasoning.encrypted_content" in include

    def _generate(
        self, model: str, expanded: Sequence[Mapping[str, Any]], max_out: int | None, effort: object
    ) -> tuple[str, int, int, bool]:
        """(visible text, its tokens, reasoning tokens, cut short) for a context under an output cap."""
        text = reply_for(expanded)
        limits = self._limits(model)
        cap = limits.max_output_tokens
        budget = min(cap, max_out) if max_out is not None else cap
        reasoning = min(REASONING_TOKENS, budget) if reasons(model, effort) else 0
        left = budget - reasoning
        enc = limits.encoding
        full = self.tokens.text(text, encoding=enc)
        if full <= left:
            return text, full, reasoning, False
        cut = truncate_to_tokens(text, left, lambda s: self.tokens.text(s, encoding=enc))
        return cut, self.tokens.text(cut, encoding=enc), reasoning, True

    # -- /v1/responses --

    def create_response(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/responses`` (non-streamed shape; streaming replays it as events)."""
        _check_unknown(body, RESPONSE_PARAMS)
        model = self._model(body)
        assert model is not None
        self._validate_response_settings(body)
        threshold = self._compact_threshold(body)
        store_it = body.get("store", True) is not False
        with self.store.lock:
            earlier_ids, new_items, conv_id = self._context(body, input_required=True)
            earlier = [self.store.items[i] for i in earlier_ids if i in self.store.items]
            full: list[Mapping[str, Any]] = [*earlier, *new_items]
            # Billing sees the whole context (convotest.tokens renders what a compaction item supersedes);
            # the reply sees it expanded.
            counted, input_tokens = self._fit("/v1/responses", model, full, body)
            _, expanded = expand(counted)
            instructions = body.get("instructions")
            cached = self._cached_tokens(model, instructions, counted, input_tokens)
            effort = (body.get("reasoning") or {}).get("effort")
            max_out = body.get("max_output_tokens")
            text, text_tokens, reasoning_tokens, cut = self._generate(model, expanded, max_out, effort)

            rid = self.store.new_id("resp_")
            created = self.store.now()
            output: list[dict[str, Any]] = []
            if reasoning_tokens:
                rs_id = self.store.new_id("rs_")
                reasoning_item: dict[str, Any] = {"id": rs_id, "type": "reasoning", "summary": []}
                if self._sends_reasoning_content(body):
                    digest = hashlib.sha256(text.encode()).hexdigest()
                    reasoning_item["encrypted_content"] = reasoning_blob(self.config.seed, rs_id, digest)
                output.append(reasoning_item)
            if text or not cut:
                output.append(
                    {
                        "id": self.store.new_id("msg_"),
                        "type": "message",
                        "status": "incomplete" if cut else "completed",
                        "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}],
                        "role": "assistant",
                    }
                )
            output_tokens = text_tokens + reasoning_tokens
            if threshold is not None and input_tokens + output_tokens >= threshold:
                replaced = compaction_payload([*expanded, *output])
                output.append(
                    {
                        "id": self.store.new_id("cmp_"),
                        "type": "compaction",
                        "encrypted_content": encode_compaction(replaced),
                    }
                )
            response = self._response_object(
                body,
                rid=rid,
                created=created,
                model=model,
                output=output,
                status="incomplete" if cut else "completed",
                conv_id=conv_id,
                store_it=store_it,
                usage=_usage(input_tokens, cached, output_tokens, reasoning_tokens),
            )
            if store_it:
                for item in [*new_items, *output]:
                    self.store.put_item(item)
                chain = [*earlier_ids, *(i["id"] for i in new_items), *(i["id"] for i in output)]
                self.store.put_response(
                    rid,
                    {"body": response, "input_ids": [i["id"] for i in new_items], "chain_ids": chain},
                )
            if conv_id is not None:
                record = self.store.conversations[conv_id]
                for item in [*new_items, *output]:
                    self.store.put_item(item)
                record["item_ids"].extend(i["id"] for i in [*new_items, *output])
                self.store.put_conversation(conv_id, record)
            self.store.commit()
            return response

    def _response_object(
        self,
        body: Mapping[str, Any],
        *,
        rid: str,
        created: int,
        model: str,
        output: list[dict[str, Any]],
        status: str,
        conv_id: str | None,
        store_it: bool,
        usage: dict[str, Any],
    ) -> dict[str, Any]:
        reasoning_in = body.get("reasoning") or {}
        text_out: dict[str, Any] = {"format": {"type": "text"}, "verbosity": "medium"}
        text_out.update(body.get("text") or {})
        fmt = text_out.get("format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            # The real API echoes a json_schema format with every optional field spelled out.
            text_out["format"] = {"description": None, "strict": False, **fmt}
        tier = body.get("service_tier")
        response: dict[str, Any] = {
            "id": rid,
            "object": "response",
            "created_at": created,
            "status": status,
            "background": bool(body.get("background") or False),
            "billing": {"payer": "developer"},
            "completed_at": created + 1 if status == "completed" else None,
            "error": None,
            "frequency_penalty": 0.0,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": body.get("max_tool_calls"),
            "model": snapshot(model),
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True) is not False,
            "presence_penalty": 0.0,
            "previous_response_id": body.get("previous_response_id"),
            "prompt_cache_key": body.get("prompt_cache_key"),
            "prompt_cache_retention": body.get("prompt_cache_retention") or "in_memory",
            "reasoning": {
                "effort": reasoning_in.get("effort") or default_effort(model),
                "summary": reasoning_in.get("summary"),
            },
            "safety_identifier": body.get("safety_identifier"),
            "service_tier": "default" if tier in (None, "auto") else tier,
            "store": store_it,
            "temperature": float(body.get("temperature", 1.0)),
            "text": text_out,
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_logprobs": body.get("top_logprobs") or 0,
            "top_p": float(body.get("top_p", 1.0)),
            "truncation": body.get("truncation") or "disabled",
            "usage": usage,
            "user": body.get("user"),
            "metadata": _metadata(body),
        }
        if conv_id is not None:
            response["conversation"] = {"id": conv_id}
        return response

    def get_response(self, rid: str) -> dict[str, Any]:
        """``GET /v1/responses/{id}``."""
        with self.store.lock:
            record = self.store.responses.get(rid)
            if record is None:
                raise not_found(f"Response with id '{rid}' not found.")
            body: dict[str, Any] = record["body"]
            return body

    def delete_response(self, rid: str) -> dict[str, Any]:
        """``DELETE /v1/responses/{id}``."""
        with self.store.lock:
            if rid not in self.store.responses:
                raise not_found(f"Response with id '{rid}' not found.")
            self.store.drop_response(rid)
            self.store.commit()
        return {"id": rid, "object": "response.deleted", "deleted": True}

    def cancel_response(self, rid: str) -> dict[str, Any]:
        """``POST /v1/responses/{id}/cancel``: only background responses can be; ours never run late."""
        self.get_response(rid)
        raise bad_request("Only responses created with background=true can be cancelled.", param=None)

    def input_items(self, rid: str, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /v1/responses/{id}/input_items``: the response's own input items, newest first by default."""
        with self.store.lock:
            record = self.store.responses.get(rid)
            if record is None:
                raise not_found(f"Response with id '{rid}' not found.")
            items = [self.store.items[i] for i in record["input_ids"] if i in self.store.items]
            return _page(items, query)

    def input_tokens(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/responses/input_tokens``: what ``usage.input_tokens`` of the same create would be."""
        _check_unknown(body, INPUT_TOKENS_PARAMS)
        model = self._model(body, required=False) or "gpt-4o"
        _get(body, "instructions", "string")
        with self.store.lock:
            counter = self.store.counter
            try:
                earlier_ids, new_items, _ = self._context(body, input_required=False)
            finally:
                # Counting is read-only: ids drawn for the input's items are given back.
                self.store.counter = counter
            earlier = [self.store.items[i] for i in earlier_ids if i in self.store.items]
            _, tokens = self._fit("/v1/responses", model, [*earlier, *new_items], body)
        return {"object": "response.input_tokens", "input_tokens": tokens}

    def compact(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/responses/compact``: the window's user messages then one compaction item."""
        _check_unknown(body, COMPACT_PARAMS)
        model = self._model(body)
        assert model is not None
        _get(body, "instructions", "string")
        with self.store.lock:
            earlier_ids, new_items, _ = self._context(body, input_required=True)
            earlier = [self.store.items[i] for i in earlier_ids if i in self.store.items]
            counted, input_tokens = self._fit("/v1/responses/compact", model, [*earlier, *new_items], body)
            _, expanded = expand(counted)
            rid = self.store.new_id("resp_")
            created = self.store.now()
            output: list[dict[str, Any]] = []
            for item in expanded:
                if item.get("type", "message") == "message" and item.get("role") == "user":
                    output.append(
                        {
                            "id": self.store.new_id("msg_"),
                            "type": "message",
                            "status": "completed",
                            "content": item.get("content"),
                            "role": "user",
                        }
                    )
            blob = encode_compaction(compaction_payload(expanded))
            output.append({"id": self.store.new_id("cmp_"), "type": "compaction", "encrypted_content": blob})
            # The compaction "summary" costs what the replaced non-user items cost.
            replaced = [i for i in expanded if i.get("role") != "user"]
            output_tokens = sum(self.tokens.item(i, model=model) for i in replaced)
            return {
                "id": rid,
                "object": "response.compaction",
                "created_at": created,
                "output": output,
                "usage": _usage(input_tokens, 0, output_tokens, 0),
            }

    # -- /v1/conversations --

    def _conversation(self, cid: str) -> dict[str, Any]:
        record = self.store.conversations.get(cid)
        if record is None:
            raise not_found(f"Conversation with id '{cid}' not found.")
        return record

    def _new_conversation_items(self, raw: Any, existing: Sequence[str]) -> list[dict[str, Any]]:
        if not isinstance(raw, list):
            raise invalid_type("items", "array", raw)
        if len(raw) > MAX_CONVERSATION_ITEMS_PER_CALL:
            raise bad_request(
                "Invalid 'items': array too long. Expected an array with maximum length "
                f"{MAX_CONVERSATION_ITEMS_PER_CALL}, but got an array with length {len(raw)} instead.",
                param="items",
                code="array_above_max_length",
            )
        items = normalize_items(raw, "items", self.store)
        seen = set(existing)
        for item in items:
            if item["id"] in seen:
                raise bad_request(
                    f"Item with id '{item['id']}' is already in the conversation.",
                    param="items",
                    code="item_already_in_conversation",
                )
            seen.add(item["id"])
        return items

    def create_conversation(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/conversations``."""
        _check_unknown(body, frozenset({"items", "metadata"}))
        metadata = _metadata(body)
        with self.store.lock:
            raw = body.get("items")
            items = self._new_conversation_items(raw, []) if raw is not None else []
            cid = self.store.new_id("conv_", 48)
            obj = {"id": cid, "object": "conversation", "created_at": self.store.now(), "metadata": metadata}
            for item in items:
                self.store.put_item(item)
            self.store.put_conversation(cid, {"object": obj, "item_ids": [i["id"] for i in items]})
            self.store.commit()
            return obj

    def get_conversation(self, cid: str) -> dict[str, Any]:
        """``GET /v1/conversations/{id}``."""
        with self.store.lock:
            obj: dict[str, Any] = self._conversation(cid)["object"]
            return obj

    def update_conversation(self, cid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/conversations/{id}``: replace its metadata."""
        _check_unknown(body, frozenset({"metadata"}))
        if "metadata" not in body:
            raise missing_parameter("metadata")
        metadata = _metadata(body)
        with self.store.lock:
            record = self._conversation(cid)
            record["object"] = {**record["object"], "metadata": metadata}
            self.store.put_conversation(cid, record)
            self.store.commit()
            obj: dict[str, Any] = record["object"]
            return obj

    def delete_conversation(self, cid: str) -> dict[str, Any]:
        """``DELETE /v1/conversations/{id}``."""
        with self.store.lock:
            self._conversation(cid)
            self.store.drop_conversation(cid)
            self.store.commit()
        return {"id": cid, "object": "conversation.deleted", "deleted": True}

    def add_items(self, cid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/conversations/{id}/items``: append up to 20 items; returns them as a list."""
        _check_unknown(body, frozenset({"items"}))
        raw = body.get("items")
        if raw is None:
            raise missing_parameter("items")
        with self.store.lock:
            record = self._conversation(cid)
            items = self._new_conversation_items(raw, record["item_ids"])
            for item in items:
                self.store.put_item(item)
            record["item_ids"].extend(i["id"] for i in items)
            self.store.put_conversation(cid, record)
            self.store.commit()
        return {
            "object": "list",
            "data": items,
            "first_id": items[0]["id"] if items else None,
            "last_id": items[-1]["id"] if items else None,
            "has_more": False,
        }

    def list_items(self, cid: str, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /v1/conversations/{id}/items``: newest first unless ``order=asc``."""
        with self.store.lock:
            record = self._conversation(cid)
            items = [self.store.items[i] for i in record["item_ids"] if i in self.store.items]
            return _page(items, query)

    def get_item(self, cid: str, item_id: str) -> dict[str, Any]:
        """``GET /v1/conversations/{id}/items/{item_id}``."""
        with self.store.lock:
            record = self._conversation(cid)
            if item_id not in record["item_ids"] or item_id not in self.store.items:
                raise not_found(f"Item with id '{item_id}' not found.")
            return self.store.items[item_id]

    def delete_item(self, cid: str, item_id: str) -> dict[str, Any]:
        """``DELETE /v1/conversations/{id}/items/{item_id}``: returns the conversation."""
        with self.store.lock:
            record = self._conversation(cid)
            if item_id not in record["item_ids"]:
                raise not_found(f"Item with id '{item_id}' not found.")
            record["item_ids"].remove(item_id)
            self.store.put_conversation(cid, record)
            self.store.commit()
            obj: dict[str, Any] = record["object"]
            return obj

    # -- /v1/chat/completions --

    def chat(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/chat/completions`` (non-streamed shape)."""
        _check_unknown(body, CHAT_PARAMS)
        model = self._model(body, chat=True)
        assert model is not None
        messages = _get(body, "messages", "array", required=True)
        # Token counting walks these: a wrong type must be a 400 here, not a TypeError (500) there.
        for key in ("tools", "functions"):
            for entry in _get(body, key, "array") or ():
                if not isinstance(entry, dict):
                    raise invalid_type(f"{key}[]", "object", entry)
        if not messages:
            raise bad_request(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, "
                "but got an empty array instead.",
                param="messages",
                code="empty_array",
            )
        for index, message in enumerate(messages):
            where = f"messages[{index}]"
            if not isinstance(message, Mapping):
                raise invalid_type(where, "object", message)
            role = message.get("role")
            if role is None:
                raise missing_parameter(f"{where}.role")
            if role not in CHAT_ROLES:
                raise invalid_value(f"{where}.role", role, CHAT_ROLES)
            content = message.get("content")
            if content is None and role in ("user", "system", "developer"):
                raise missing_parameter(f"{where}.content")
            if content is not None and not isinstance(content, str | list):
                raise invalid_type(f"{where}.content", "one of a string or an array", content)
        _range(_get(body, "temperature", "number"), "temperature", 0, 2)
        _range(_get(body, "top_p", "number"), "top_p", 0, 1)
        _get(body, "stream", "boolean")
        n = _get(body, "n", "integer")
        if n is None:
            n = 1
        elif not 1 <= n <= 128:
            raise invalid_value("n", n, why="Expected a value between 1 and 128.")
        _effort(body.get("reasoning_effort"), "reasoning_effort")
        _get(body, "response_format", "object")
        _below_max(_get(body, "max_tokens", "integer"), "max_tokens")
        _below_max(_get(body, "max_completion_tokens", "integer"), "max_completion_tokens")
        max_out = _get(body, "max_completion_tokens", "integer")
        if max_out is None:
            max_out = _get(body, "max_tokens", "integer")
        if max_out is not None and max_out < 1:
            raise bad_request(
                f"Invalid 'max_completion_tokens': integer below minimum value. Expected a value >= 1, "
                f"but got {max_out} instead.",
                param="max_completion_tokens",
                code="integer_below_min_value",
            )
        _metadata(body)
        limits = self._limits(model)
        with self.store.lock:
            prompt_tokens = self.tokens.request("/v1/chat/completions", body)
            if prompt_tokens > limits.context_window:
                raise bad_request(
                    f"This model's maximum context length is {limits.context_window} tokens. However, your "
                    f"messages resulted in {prompt_tokens} tokens. Please reduce the length of the messages.",
                    param="messages",
                    code="context_length_exceeded",
                )
            cached = self._cached_tokens(model, None, messages, prompt_tokens)
            effort = body.get("reasoning_effort")
            # A leading system/developer message is Chat's form of `instructions`, which replies never count.
            lead = next((i for i, m in enumerate(messages) if m.get("role") not in ("system", "developer")), 0)
            text, text_tokens, reasoning_tokens, cut = self._generate(model, messages[lead:], max_out, effort)
            cid = self.store.new_token("chatcmpl-", 29)
            created = self.store.now()
        completion = text_tokens + reasoning_tokens
        choice: dict[str, Any] = {
            "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": "length" if cut else "stop",
        }
        return {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": snapshot(model),
            "choices": [{"index": i, **choice} for i in range(n)],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion * n,
                "total_tokens": prompt_tokens + completion * n,
                "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": reasoning_tokens * n,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_" + hashlib.sha256(model.encode()).hexdigest()[:10],
        }

    # -- /v1/models --

    def models(self) -> dict[str, Any]:
        """``GET /v1/models``: the models with built-in snapshots."""
        from convotest.emulator.models import SNAPSHOTS

        data = [self.model(name) for name in SNAPSHOTS]
        return {"object": "list", "data": data}

    def model(self, name: str) -> dict[str, Any]:
        """``GET /v1/models/{name}``."""
        if not is_known_model(name, self.config):
            raise not_found(f"The model '{name}' does not exist", param="model", code="model_not_found")
        return {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "system"}


def _usage(input_tokens: int, cached: int, output_tokens: int, reasoning: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }
