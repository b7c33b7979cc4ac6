"""Token accounting: the model table, request token counts, per-turn annotation, checks and projection.

Pure and offline: tiktoken is loaded through ``convotest.tokenizer_data`` (never its downloader).
The counting rules, and which parts are estimates rather than exact, are documented in ``docs/tokens.md``.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from functools import lru_cache, reduce
from itertools import compress, repeat
from typing import TYPE_CHECKING, Any

from convotest.errors import ConfigError, SourceLoc
from convotest.failures import Failure
from convotest.scenario.model import Scenario, TokensExpect
from convotest.tokenizer_data import get_encoding
from convotest.transcript import TEXT_PART_TYPES, ContextItem, TokenInfo, Transcript, TurnRecord

if TYPE_CHECKING:
    import tiktoken

__all__ = [
    "COMPACT_OVERHEAD",
    "MODEL_TABLE",
    "ModelLimits",
    "Projection",
    "TokenCounter",
    "annotate",
    "check_tokens",
    "count_items_tokens",
    "count_request_tokens",
    "count_text",
    "encoding_for",
    "estimate_record",
    "format_token_table",
    "model_limits",
    "project",
    "reply_primer",
    "window_failure",
]


@dataclass(frozen=True)
class ModelLimits:
    """A model's context window, output cap, optional lower input cap, and tiktoken encoding."""

    context_window: int
    max_output_tokens: int
    max_input_tokens: int | None = None
    encoding: str = "o200k_base"

    @property
    def input_limit(self) -> int:
        """The most input tokens a request may carry: ``max_input_tokens`` when set, else the window."""
        return self.max_input_tokens if self.max_input_tokens is not None else self.context_window


_O200K = "o200k_base"
_CL100K = "cl100k_base"

#: Base model name → limits (docs/tokens.md "Model table"). Dated snapshots match by longest prefix.
MODEL_TABLE: dict[str, ModelLimits] = {
    "gpt-4o": ModelLimits(128_000, 16_384, None, _O200K),
    "gpt-4o-mini": ModelLimits(128_000, 16_384, None, _O200K),
    "gpt-4.1": ModelLimits(1_047_576, 32_768, None, _O200K),
    "gpt-4.1-mini": ModelLimits(1_047_576, 32_768, None, _O200K),
    "gpt-4.1-nano": ModelLimits(1_047_576, 32_768, None, _O200K),
    "o1": ModelLimits(200_000, 100_000, None, _O200K),
    "o3": ModelLimits(200_000, 100_000, None, _O200K),
    "o3-mini": ModelLimits(200_000, 100_000, None, _O200K),
    "o4-mini": ModelLimits(200_000, 100_000, None, _O200K),
    "gpt-5": ModelLimits(400_000, 128_000, 272_000, _O200K),
    "gpt-5-mini": ModelLimits(400_000, 128_000, 272_000, _O200K),
    "gpt-5-nano": ModelLimits(400_000, 128_000, 272_000, _O200K),
    "gpt-4-turbo": ModelLimits(128_000, 4_096, None, _CL100K),
    "gpt-4": ModelLimits(8_192, 4_096, None, _CL100K),
    "gpt-3.5-turbo": ModelLimits(16_385, 4_096, None, _CL100K),
}

# Families whose encoding is known even when their limits are not (gpt-5.4, gpt-4.5-preview, o3-pro…).
_O200K_FAMILIES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-6", "o1", "o3", "o4", "chatgpt-4o")
_CL100K_FAMILIES = ("gpt-4", "gpt-3.5")

_LIMIT_FIELDS = frozenset(f.name for f in fields(ModelLimits))

_SETTING_HINT = (
    "set its limits in the scenario (`limits: {{context_window: …, max_output_tokens: …}}`) or for the "
    "project (a line `{model} CONTEXT_WINDOW MAX_OUTPUT_TOKENS` in ini `convotest_model_limits`, or "
    "`model_limits={{{model!r}: {{'context_window': …, 'max_output_tokens': …}}}}` in `convo_config`)"
)


def _base_name(model: str) -> str:
    # Fine-tuned models are named ``ft:<base>:<org>::<id>``; their limits are the base model's.
    name = model.strip().lower()
    if name.startswith("ft:"):
        name = name[3:].split(":", 1)[0]
    return name


def _table_key(model: str, table: Mapping[str, Any]) -> str | None:
    """The longest table key that ``model`` is, or starts with followed by ``-`` (a dated snapshot)."""
    name = _base_name(model)
    best: str | None = None
    for key in table:
        k = key.lower()
        if (name == k or name.startswith(k + "-")) and (best is None or len(k) > len(best)):
            best = key
    return best


def _apply(base: ModelLimits | None, values: Mapping[str, Any], model: str, source: str) -> ModelLimits:
    unknown = sorted(set(values) - _LIMIT_FIELDS)
    if unknown:
        raise ConfigError(
            f"{source}: unknown model limit setting(s) {', '.join(unknown)} for {model!r}; "
            f"known: {', '.join(sorted(_LIMIT_FIELDS))}"
        )
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if key == "encoding":
            if not isinstance(value, str):
                raise ConfigError(f"{source}: encoding for {model!r} must be a string, got {value!r}")
            clean[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{source}: {key} for {model!r} must be a positive integer, got {value!r}")
        clean[key] = value
    if base is None:
        missing = [k for k in ("context_window", "max_output_tokens") if k not in clean]
        if missing:
            raise ConfigError(
                f"unknown model {model!r}: {' and '.join(missing)} not set; " + _SETTING_HINT.format(model=model)
            )
        clean.setdefault("encoding", _default_encoding(model))
        return ModelLimits(**clean)
    return replace(base, **clean)


def model_limits(
    model: str,
    *,
    overrides: Mapping[str, Any] | None = None,
    default: ModelLimits | None = None,
) -> ModelLimits:
    """The limits of ``model``: the table entry (longest-prefix match), else ``default``, with ``overrides``.

    ``overrides`` holds field → value pairs (``{"context_window": 4000}``: a scenario's ``limits``), a
    per-model table (``{"gpt-5.4": {"context_window": …, "max_output_tokens": …}}``: the project
    setting, whose names match like the built-in table's), or both: the matching per-model entry applies
    first, then the fields. A model known to neither table needs ``context_window`` and
    ``max_output_tokens`` from somewhere: ``ConfigError`` otherwise, naming the settings to add.
    """
    key = _table_key(model, MODEL_TABLE)
    base = MODEL_TABLE[key] if key is not None else default
    overrides = overrides or {}
    values: dict[str, Any] = {}
    source = "limits"
    per_model_table = {k: v for k, v in overrides.items() if k not in _LIMIT_FIELDS}
    per_model = _table_key(model, per_model_table)
    if per_model is not None:
        entry = per_model_table[per_model]
        if not isinstance(entry, Mapping):
            raise ConfigError(f"model limits for {per_model!r} must be a mapping of settings, got {entry!r}")
        values.update(entry)
        source = f"model limits for {per_model!r}"
    values.update((k, v) for k, v in overrides.items() if k in _LIMIT_FIELDS)
    if not values:
        if base is None:
            where = (
                f"not in the built-in table nor the configured model limits ({', '.join(sorted(per_model_table))})"
                if per_model_table
                else "no built-in limits"
            )
            raise ConfigError(f"unknown model {model!r}: {where}; " + _SETTING_HINT.format(model=model))
        return base
    return _apply(base, values, model, source)


@lru_cache(maxsize=256)
def _default_encoding(model: str) -> str:
    name = _base_name(model)
    key = _table_key(name, MODEL_TABLE)
    if key is not None:
        return MODEL_TABLE[key].encoding
    if any(name == f or name.startswith(f + "-") or name.startswith(f + ".") for f in _O200K_FAMILIES):
        return _O200K
    if any(name == f or name.startswith(f + "-") for f in _CL100K_FAMILIES):
        return _CL100K
    # Every current OpenAI chat model uses o200k_base; an unknown name is most likely a newer one.
    return _O200K


def encoding_for(model: str | None) -> tiktoken.Encoding:
    """The tiktoken encoding of ``model`` (o200k_base when unknown), loaded offline."""
    return get_encoding(_default_encoding(model or ""))


def count_text(text: str, model: str | None) -> int:
    """Tokens of ``text`` under ``model``'s encoding (special-token text counted as plain text)."""
    if not text:
        return 0
    return len(encoding_for(model).encode(text, disallowed_special=()))


# --- counting -------------------------------------------------------------------------------------

#: Cookbook message formula: every message costs 3 tokens of framing plus its role and content…
TOKENS_PER_MESSAGE = 3
#: …and one more when it has a ``name`` (plus the name's own tokens)…
TOKENS_PER_NAME = 1
#: …and every request 3 for the primer of the reply (``<|start|>assistant<|message|>``).
REPLY_PRIMER = 3
#: /v1/responses/compact reports this many input tokens more than its window's text (calibrated).
COMPACT_OVERHEAD = 93
#: Estimate for one image part: 85 for ``detail: low``, else a 1024×1024 image at high detail.
IMAGE_TOKENS_LOW = 85
IMAGE_TOKENS_HIGH = 765
#: Estimate of a compaction item's cost per character of its ``encrypted_content`` (calibrated).
COMPACTION_TOKENS_PER_CHAR = 0.0985
#: Framing estimate for a function call / its output in the context.
FUNCTION_CALL_OVERHEAD = 5
FUNCTION_CALL_OUTPUT_OVERHEAD = 5
#: Structured output (``text.format`` / ``response_format`` json_schema): tokens of the schema's compact
#: JSON plus this (estimate, fitted on gpt-5.4 traffic).
STRUCTURED_OUTPUT_OVERHEAD = -4
#: Responses renders function definitions this much shorter than the cookbook's Chat estimate.
RESPONSES_TOOLS_DELTA = -6
#: gpt-5 family: per assistant message, and reply primer relative to ``REPLY_PRIMER`` (calibrated).
GPT5_PER_ASSISTANT = 2
GPT5_PRIMER_DELTA = -1
#: Function definitions, the cookbook's constants for gpt-4o (estimate).
FUNC_INIT = 7
PROP_INIT = 3
PROP_KEY = 3
ENUM_INIT = -3
ENUM_ITEM = 3
FUNC_END = 12
#: Before the latest compaction item the server keeps only these messages (calibrated, estimate).
_KEPT_BEFORE_COMPACTION = frozenset({"user", "system", "developer"})

_COMPACTION_TYPES = frozenset({"compaction", "compaction_summary"})
_IMAGE_PARTS = frozenset({"input_image", "image_url", "image"})


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _parts_text(content: Any) -> tuple[str, list[Mapping[str, Any]]]:
    """The concatenated text of a content (string or parts) and its non-text parts."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    texts: list[str] = []
    other: list[Mapping[str, Any]] = []
    # Parsed JSON holds lists and dicts: testing for them first skips the slower ABC checks.
    for part in content if type(content) is list or isinstance(content, Sequence) else [content]:
        if isinstance(part, str):
            texts.append(part)
        elif type(part) is dict or isinstance(part, Mapping):
            kind = part.get("type")
            if kind in TEXT_PART_TYPES or (kind is None and isinstance(part.get("text"), str)):
                texts.append(str(part.get("text") or ""))
            elif kind == "refusal":
                texts.append(str(part.get("refusal") or ""))
            else:
                other.append(part)
    return "".join(texts), other


def _image_detail(part: Mapping[str, Any]) -> str:
    detail = part.get("detail")
    url = part.get("image_url")
    if detail is None and isinstance(url, Mapping):
        detail = url.get("detail")
    return str(detail or "auto")


@dataclass(frozen=True)
class _Rendering:
    """How a model family frames a conversation: what the per-message and per-reply overheads are."""

    key: str
    encoding: str
    #: Extra tokens on every assistant message (gpt-5's ``<|channel|>final``).
    per_assistant: int
    primer: int


@lru_cache(maxsize=256)
def _rendering(model: str | None, encoding: str | None = None) -> _Rendering:
    name = _base_name(model or "")
    enc = encoding or _default_encoding(name)
    # gpt-5 renders replies with a channel marker (2 tokens more per assistant message) and primes the
    # reply with one token less (docs/tokens.md, calibrated on the gpt-5-mini and gpt-5.4 traffic).
    if name == "gpt-5" or name.startswith(("gpt-5-", "gpt-5.")):
        return _Rendering(f"gpt-5/{enc}", enc, GPT5_PER_ASSISTANT, REPLY_PRIMER + GPT5_PRIMER_DELTA)
    return _Rendering(f"chat/{enc}", enc, 0, REPLY_PRIMER)


def reply_primer(model: str | None) -> int:
    """The tokens every request adds for the reply's primer under ``model`` (3; gpt-5 family 2)."""
    return _rendering(model).primer


def _is_message(item: Mapping[str, Any]) -> bool:
    return item.get("type") in (None, "message") and "role" in item


def _rendered(items: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """The items the server renders: before the latest compaction item only user/system messages remain."""
    last = -1
    for i, item in enumerate(items):
        if item.get("type") in _COMPACTION_TYPES:
            last = i
    for i, item in enumerate(items):
        if i < last and not (_is_message(item) and item.get("role") in _KEPT_BEFORE_COMPACTION):
            continue
        yield item


def _message_key(r: _Rendering, role: str, name: str, text: str) -> tuple[str, ...]:
    """The item-cache key of a message of text only: everything its count depends on (``_message_terms``)."""
    return (r.key, "m", role, name, text)


def _item_key(item: Mapping[str, Any], r: _Rendering) -> tuple[str, ...]:
    """The item-cache key: role + text for plain messages (short and typed forms share it), else canonical JSON."""
    if _is_message(item) and not item.get("tool_calls"):
        text, other = _parts_text(item.get("content"))
        name = item.get("name")
        key = _message_key(r, str(item["role"]), name if isinstance(name, str) else "", text)
        return (*key, _canonical(other)) if other else key
    return (r.key, "j", _canonical(item))


def _message_terms(r: _Rendering, role: str, name: str, text: str) -> tuple[int, list[str]]:
    """A message's framing and texts: 3 + role + content (+ 1 + name), plus what the rendering adds."""
    n = TOKENS_PER_MESSAGE + (r.per_assistant if role == "assistant" else 0)
    return (n + TOKENS_PER_NAME, [role, text, name]) if name else (n, [role, text])


def _item_terms(item: Mapping[str, Any], r: _Rendering) -> tuple[int, list[str]]:
    """An item's tokens as a constant plus the tokens of some texts (each counted through the text cache)."""
    if _is_message(item):
        text, other = _parts_text(item.get("content"))
        name = item.get("name")
        n, texts = _message_terms(r, str(item["role"]), name if isinstance(name, str) else "", text)
        for part in other:
            if part.get("type") in _IMAGE_PARTS:
                n += IMAGE_TOKENS_LOW if _image_detail(part) == "low" else IMAGE_TOKENS_HIGH
            else:
                # Files, audio and unknown parts: their text fields, if any (estimate).
                texts += [v for k, v in part.items() if k != "type" and isinstance(v, str)]
        # Chat assistant tool calls: name + arguments each (estimate).
        for call in item.get("tool_calls") or []:
            fn = call.get("function", {}) if isinstance(call, Mapping) else {}
            n += FUNCTION_CALL_OVERHEAD
            texts += [str(fn.get("name", "")), str(fn.get("arguments", ""))]
        return n, texts
    kind = item.get("type")
    if kind == "function_call":
        return TOKENS_PER_MESSAGE + FUNCTION_CALL_OVERHEAD, [str(item.get("name", "")), str(item.get("arguments", ""))]
    if kind == "function_call_output":
        output = item.get("output")
        return TOKENS_PER_MESSAGE + FUNCTION_CALL_OUTPUT_OVERHEAD, [
            output if isinstance(output, str) else _parts_text(output)[0]
        ]
    if kind in _COMPACTION_TYPES:
        encrypted = item.get("encrypted_content")
        if isinstance(encrypted, str) and encrypted:
            return round(len(encrypted) * COMPACTION_TOKENS_PER_CHAR), []
        # A readable summary (a gateway's ``compaction_summary``): count it as a message's text.
        text = _parts_text(item.get("summary") or item.get("content") or item.get("text"))[0]
        return (TOKENS_PER_MESSAGE, [text]) if text else (0, [])
    # Reasoning items of earlier turns are dropped by the server; item references cannot be resolved
    # here (the emulator rebuilds them before counting): both count 0, an estimate.
    return 0, []


_TEXT = operator.attrgetter("text")
_PLAIN = operator.attrgetter("plain")


class TokenCounter:
    """Counts tokens with two caches: text → tokens, and item → tokens (framing included).

    Counting a growing history turn after turn therefore encodes each distinct text once: items already
    seen are looked up by role + text (messages) or canonical JSON (anything else). ``encoder(encoding,
    text) -> int`` can be replaced (tests count calls through it); by default it is tiktoken loaded via
    ``tokenizer_data``. Each cache is dropped wholesale past ``max_entries`` so it cannot grow forever.
    """

    def __init__(
        self,
        *,
        encoder: Callable[[str, str], int] | None = None,
        max_entries: int = 200_000,
    ) -> None:
        self._encoder = encoder or _tiktoken_count
        self._max_entries = max_entries
        #: encoding -> text -> tokens (the empty text is always 0, never stored).
        self._texts: dict[str, dict[str, int]] = {}
        self._items: dict[tuple[str, ...], int] = {}
        #: Texts that reached the encoder (text-cache misses).
        self.encoded = 0

    def _text_cache(self, encoding: str, adding: int) -> dict[str, int]:
        """The text cache of ``encoding``, emptied (every encoding's) first if ``adding`` more would overfill it."""
        if sum(map(len, self._texts.values())) + adding > self._max_entries:
            self._drop_texts()
        cache = self._texts.get(encoding)
        if cache is None:
            cache = self._texts[encoding] = {}
        return cache

    def _drop_texts(self) -> None:
        # In place, not the dicts themselves: a counting loop may hold one (``_counting``).
        for cache in self._texts.values():
            cache.clear()

    def _counting(self, encoding: str) -> tuple[dict[str, int], Callable[[str], int]]:
        """The text cache of ``encoding`` and a function that counts a text it lacks, caching the count.

        For loops over many texts: a cache hit costs them one dict lookup, and only a miss a call. A miss goes
        to tiktoken's Rust core straight away with the default encoder: the Python wrapper costs a frame per
        text (it repairs lone surrogates, which the core refuses).
        """
        cache = self._text_cache(encoding, 0)
        encode = self._encoder
        core = getattr(get_encoding(encoding), "_core_bpe", None) if encode is _tiktoken_count else None
        # Entries of other encodings count towards the bound too, taken now: a loop counts under one at a time.
        room = self._max_entries - sum(map(len, self._texts.values())) + len(cache)

        def miss(text: str) -> int:
            nonlocal room
            if not text:
                return 0
            if len(cache) >= room:
                self._drop_texts()
                room = self._max_entries
            if core is None:
                n = encode(encoding, text)
            else:
                try:
                    n = len(core.encode_ordinary(text))
                except UnicodeEncodeError:
                    n = encode(encoding, text)
            cache[text] = n
            self.encoded += 1
            return n

        return cache, miss

    def text(self, text: str, model: str | None = None, *, encoding: str | None = None) -> int:
        """Tokens of ``text`` under ``encoding`` (else ``model``'s encoding), cached."""
        if not text:
            return 0
        enc = encoding or _default_encoding(model or "")
        hit = self._texts.get(enc, {}).get(text)
        if hit is not None:
            return hit
        cache = self._text_cache(enc, 1)
        self.encoded += 1
        n = cache[text] = self._encoder(enc, text)
        return n

    def prime(self, texts: Iterable[str], *, encoding: str) -> dict[str, int]:
        """Count many texts at once, filling the text cache, and return the count of each (and of "", 0).

        With the default encoder the texts not counted yet go to tiktoken together: one joined encode from a
        few texts on, else one C-level loop, with no per-text Python besides it.
        """
        given = dict.fromkeys(texts)
        given.pop("", None)
        cache = self._fill(given, encoding)
        counts = {"": 0}
        counts.update((text, cache[text]) for text in given)
        return counts

    def _fill(self, given: Mapping[str, None], encoding: str) -> dict[str, int]:
        """Count the texts of ``given`` (distinct, none empty) that the cache of ``encoding`` lacks; that cache."""
        cache = self._texts.get(encoding) or {}
        batch = [text for text in given if text not in cache] if cache else list(given)
        if batch:
            cache = self._text_cache(encoding, len(batch))
            if not cache:
                batch = list(given)  # emptied to make room (or new): the cached ones are counted again
            if self._encoder is _tiktoken_count:
                fresh: Iterable[int] = _count_each(get_encoding(encoding), batch)
            else:
                fresh = [self._encoder(encoding, text) for text in batch]
            cache.update(zip(batch, fresh, strict=True))
            self.encoded += len(batch)
        return cache

    def _prime_plain(self, items: Sequence[ContextItem], encoding: str) -> None:
        """Count the texts of the plain messages among ``items`` together (``_count_each`` decides how).

        With the default encoder only (batching is what it buys), and only while they fit the cache.
        """
        if self._encoder is not _tiktoken_count:
            return
        # C-level: the texts of the plain items, less None and "".
        texts = dict.fromkeys(filter(None, compress(map(_TEXT, items), map(_PLAIN, items))))
        if len(texts) <= self._max_entries:
            self._fill(texts, encoding)

    def message(self, role: str, text: str, *, model: str | None = None, name: str | None = None) -> int:
        """One message by the cookbook formula: 3 + role + content (+ 1 + name), per the model's rendering."""
        item: dict[str, Any] = {"role": role, "content": text}
        if name:
            item["name"] = name
        return self.item(item, model=model)

    def item(self, item: Mapping[str, Any], *, model: str | None = None) -> int:
        """Tokens of one context item (Chat message or Responses input/output item), cached."""
        return self._item(item, _rendering(model))

    def _item(self, item: Mapping[str, Any], r: _Rendering) -> int:
        key = _item_key(item, r)
        hit = self._items.get(key)
        if hit is not None:
            return hit
        return self._remember(key, self._count_item(item, r))

    def _remember(self, key: tuple[str, ...], n: int) -> int:
        if len(self._items) >= self._max_entries:
            self._items.clear()
        self._items[key] = n
        return n

    def items(
        self,
        items: Sequence[Mapping[str, Any]],
        *,
        model: str | None = None,
        instructions: str | None = None,
        encoding: str | None = None,
    ) -> int:
        """A whole context: ``instructions`` as a system message, every rendered item, the reply primer.

        ``encoding`` overrides the model's (``ModelLimits.encoding`` of a configured model).
        """
        return self._context(items, instructions, _rendering(model, encoding))

    def request(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        context: Sequence[Mapping[str, Any]] | None = None,
        encoding: str | None = None,
    ) -> int:
        """Input tokens of one request body, as ``count_request_tokens`` (see there)."""
        endpoint = _endpoint(path)
        r = _rendering(str(body.get("model") or ""), encoding)
        if endpoint == "chat":
            messages = context if context is not None else body.get("messages") or []
            return self._context(messages, None, r) + self._extras(endpoint, body, r)
        items = context if context is not None else _input_items(body.get("input"))
        instructions = body.get("instructions")
        n = self._context(items, instructions if isinstance(instructions, str) else None, r)
        return n + self._extras(endpoint, body, r)

    def tools(self, tools: Sequence[Mapping[str, Any]], *, model: str | None = None) -> int:
        """Function definitions (estimate, after the OpenAI cookbook's ``num_tokens_for_tools``)."""
        return self._tools(tools, _default_encoding(model or ""))

    # -- internals --

    def _context(self, items: Sequence[Mapping[str, Any]], instructions: str | None, r: _Rendering) -> int:
        n = r.primer
        if instructions:
            n += self._item({"role": "system", "content": instructions}, r)
        for item in _rendered(items):
            n += self._item(item, r)
        return n

    def _extras(self, endpoint: str, body: Mapping[str, Any], r: _Rendering) -> int:
        """What a request adds besides its context: function definitions, a response schema, compact overhead."""
        if endpoint == "chat":
            tools = [t.get("function", t) for t in body.get("tools") or [] if isinstance(t, Mapping)]
            tools += [f for f in body.get("functions") or [] if isinstance(f, Mapping)]
            n = self._tools(tools, r.encoding)
            fmt = body.get("response_format")
            if isinstance(fmt, Mapping) and isinstance(fmt.get("json_schema"), Mapping):
                n += self._schema(fmt["json_schema"], r.encoding)
            return n
        n = COMPACT_OVERHEAD if endpoint == "compact" else 0
        # Tested before anything is built: most calls have neither, and this runs once per call.
        if body.get("tools"):
            tools = [t for t in body["tools"] if isinstance(t, Mapping) and t.get("type") == "function"]
            if tools:
                n += max(0, self._tools(tools, r.encoding) + RESPONSES_TOOLS_DELTA)
        text = body.get("text")
        if isinstance(text, Mapping):
            fmt = text.get("format")
            if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
                n += self._schema(fmt, r.encoding)
        return n

    def _tools(self, tools: Sequence[Mapping[str, Any]], enc: str) -> int:
        if not tools:
            return 0
        n = 0
        for fn in tools:
            name, desc = str(fn.get("name", "")), fn.get("description") or ""
            n += FUNC_INIT + self.text(f"{name}:{desc}" if desc else name, encoding=enc)
            params = fn.get("parameters")
            props = params.get("properties") if isinstance(params, Mapping) else None
            if isinstance(props, Mapping) and props:
                n += PROP_INIT
                for key, spec in props.items():
                    spec = spec if isinstance(spec, Mapping) else {}
                    line = f"{key}:{spec.get('type', '')}:{spec.get('description') or ''}"
                    n += PROP_KEY + self.text(line, encoding=enc)
                    enum = spec.get("enum")
                    if isinstance(enum, list) and enum:
                        n += ENUM_INIT + sum(ENUM_ITEM + self.text(str(v), encoding=enc) for v in enum)
        return n + FUNC_END

    def _schema(self, fmt: Mapping[str, Any], enc: str) -> int:
        # Structured output: the schema's compact JSON plus a fitted constant (estimate).
        return max(0, self.text(_canonical(fmt.get("schema")), encoding=enc) + STRUCTURED_OUTPUT_OVERHEAD)

    def _count_item(self, item: Mapping[str, Any], r: _Rendering) -> int:
        n, texts = _item_terms(item, r)
        return n + sum(self.text(text, encoding=r.encoding) for text in texts)


def _tiktoken_count(encoding: str, text: str) -> int:
    # Special-token text counts as plain text, as the API treats user content: same as encode(…, disallowed_special=()).
    return len(get_encoding(encoding).encode_ordinary(text))


def _count_each(encoding: tiktoken.Encoding, texts: Sequence[str]) -> list[int]:
    """The tokens of each text, as ``_tiktoken_count`` counts them, in as few calls into tiktoken as it can."""
    core = getattr(encoding, "_core_bpe", None)
    if core is not None:
        if len(texts) >= _BATCH_FROM:
            counts = _count_joined(encoding, core, texts)
            if counts is not None:
                return counts
        # tiktoken's Rust core straight away: its Python wrapper costs a frame per text, which shows over
        # thousands of short texts. The wrapper repairs lone surrogates, which the core refuses.
        try:
            return list(map(len, map(core.encode_ordinary, texts)))
        except UnicodeEncodeError:
            pass
    return list(map(len, map(encoding.encode_ordinary, texts)))


#: From this many texts on, one joined encode costs less than a call per text (measured: the join, the split
#: and tiktoken's restart at each separator against its fixed cost per call).
_BATCH_FROM = 4
#: Characters handed to tiktoken at once when counting joined: bounds the joined copy and its token buffer.
_BATCH_CHARS = 1 << 20
_SEPARATOR = "<|endoftext|>"


@functools.cache
def _separator_token(encoding: tiktoken.Encoding) -> tuple[bytes, frozenset[str]] | None:
    """``_SEPARATOR``'s token as it lies in tiktoken's buffer, and the allowed set that makes it one; None without."""
    if _SEPARATOR not in encoding.special_tokens_set:
        return None
    return encoding.encode_single_token(_SEPARATOR).to_bytes(4, sys.byteorder), frozenset((_SEPARATOR,))


def _count_joined(encoding: tiktoken.Encoding, core: Any, texts: Sequence[str]) -> list[int] | None:
    """Each text's tokens from one encode of them all, joined by ``<|endoftext|>`` and split at its token.

    Exact: tiktoken encodes what lies between two allowed special tokens as ``encode_ordinary`` encodes it
    alone (its regex runs on that slice). Cheaper than a call per text because tiktoken's fixed cost per call
    is paid once and its token buffer is read as bytes, with no Python int per token. None where it could not
    be exact: a text holding the separator itself, a lone surrogate (the core refuses it), a tiktoken without
    the buffer, or a separator's bytes found off a token boundary.
    """
    separator = _separator_token(encoding)
    to_buffer = getattr(core, "encode_to_tiktoken_buffer", None)
    if separator is None or to_buffer is None:
        return None
    token, allowed = separator
    counts: list[int] = []
    # Chunks of equal text counts, as many as keep each near _BATCH_CHARS: sizing them text by text would cost a
    # Python step per text, which is what batching saves.
    per_chunk = -(-len(texts) * _BATCH_CHARS // max(sum(map(len, texts)), 1))
    for start in range(0, len(texts), per_chunk):
        chunk = texts[start : start + per_chunk]
        try:
            parts = memoryview(to_buffer(_SEPARATOR.join(chunk), allowed)).tobytes().split(token)
        except UnicodeEncodeError:
            return None
        sizes = list(map(len, parts))
        # A text holding the separator adds a part. So can a 4-byte match off a token boundary (possible where
        # the separator's id has a zero byte), which also leaves a part whose size is no multiple of 4.
        if len(sizes) != len(chunk) or reduce(operator.or_, sizes) & 3:
            return None
        counts += map(operator.rshift, sizes, repeat(2))
    return counts


def _endpoint(path: str) -> str:
    p = path.split("?", 1)[0].rstrip("/")
    if p.endswith("/chat/completions"):
        return "chat"
    if p.endswith("/responses/compact"):
        return "compact"
    if p.endswith("/responses/input_tokens"):
        return "input_tokens"
    if p.endswith("/responses"):
        return "responses"
    raise ValueError(f"not a model endpoint: {path!r} (expected /v1/chat/completions or /v1/responses…)")


def _input_items(value: Any) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return [v for v in value if isinstance(v, Mapping)]


_DEFAULT_COUNTER = TokenCounter()


def count_request_tokens(
    path: str,
    body: Mapping[str, Any],
    *,
    context: Sequence[Mapping[str, Any]] | None = None,
    encoding: str | None = None,
) -> int:
    """Input tokens the server reports for ``body`` sent to ``path`` (Chat, Responses, compact, input_tokens).

    Exact for plain-text messages (cookbook formula, ``instructions`` as a system message); tools,
    images, compaction and reasoning items, and the compact endpoint's overhead are estimates
    (docs/tokens.md). Counts only what the body holds: for a ``previous_response_id`` / ``conversation``
    request, pass the rebuilt items as ``context`` (they replace ``input`` / ``messages``; tools, the
    response format and the compact overhead still come from ``body``). ``encoding`` overrides the
    model's tiktoken encoding (a configured model's ``ModelLimits.encoding``).
    """
    return _DEFAULT_COUNTER.request(path, body, context=context, encoding=encoding)


def count_items_tokens(
    items: Sequence[Mapping[str, Any]],
    *,
    model: str | None,
    instructions: str | None = None,
    encoding: str | None = None,
) -> int:
    """Input tokens of a fully rebuilt Responses context (short-form or typed items) plus ``instructions``."""
    return _DEFAULT_COUNTER.items(items, model=model, instructions=instructions, encoding=encoding)


# --- per-turn accounting ----------------------------------------------------------------------------

_MAX_OUTPUT_KEYS = ("max_output_tokens", "max_completion_tokens", "max_tokens")
#: The keys of a Responses request that can add to its count or set its max output.
_NOTED_KEYS = ("tools", "text", *_MAX_OUTPUT_KEYS)
#: Not taken yet: no string or ``None`` is this.
_UNSET = object()


def _countable(item: ContextItem) -> Mapping[str, Any]:
    """The item to count for a context item: its raw form, normalised where Chat splits things up."""
    raw = item.raw
    if type(raw) is dict or isinstance(raw, Mapping):  # parsed JSON: the exact type first, the ABC check costs more
        if item.kind == "message" and raw.get("tool_calls"):
            # reconstruct gives each Chat tool call its own function_call item: don't count it twice.
            return {k: v for k, v in raw.items() if k != "tool_calls"}
        if item.kind == "function_call" and isinstance(raw.get("function"), Mapping):
            fn = raw["function"]
            return {"type": "function_call", "name": fn.get("name", ""), "arguments": fn.get("arguments", "")}
        return raw
    if item.kind == "message":
        return {"role": item.role or "user", "content": item.text or ""}
    return {"type": item.kind}


def _requested_max_output(source: Mapping[str, Any], default: int) -> int:
    """The max output tokens ``source`` (a request body or the scenario's params) asks for, else ``default``."""
    for key in _MAX_OUTPUT_KEYS:
        value = source.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return default


def _call_rendering(rec: TurnRecord, encoding: str | None) -> _Rendering:
    # The record's model: the request's, unless that is not a string (then the response's).
    return _rendering(rec.model or "", encoding)


def _instructions_role(rec: TurnRecord) -> str | None:
    """The role of the message a call's ``instructions`` are counted as, if any (see ``_instructions_item``)."""
    if rec.endpoint != "chat":
        return "system" if rec.instructions else None
    if rec.instructions is None:
        return None
    messages = rec.request.get("messages")
    first = messages[0] if messages else {}
    role = first.get("role", "system") if isinstance(first, Mapping) else "system"
    return str(role)


def _instructions_item(rec: TurnRecord) -> dict[str, Any] | None:
    """The message a call's ``instructions`` are counted as, if any.

    Chat: reconstruct moved the leading system (or developer) message into ``instructions``; it counts in
    front again, under its own role.
    """
    role = _instructions_role(rec)
    return None if role is None else {"role": role, "content": rec.instructions}


def estimate_record(rec: TurnRecord, counter: TokenCounter | None = None, *, encoding: str | None = None) -> int:
    """Local estimate of the input tokens of one model call: its effective context plus instructions."""
    counter = counter or _DEFAULT_COUNTER
    r = _call_rendering(rec, encoding)
    n = r.primer + sum(counter._item(item, r) for item in _rendered([_countable(ci) for ci in rec.context]))
    instructions = _instructions_item(rec)
    if instructions is not None:
        n += counter._item(instructions, r)
    # The endpoint, not the recorded path: a proxy or base URL may put anything before it.
    return n + counter._extras(rec.endpoint, rec.request, r)


def _extends(context: Sequence[ContextItem], prev: Sequence[ContextItem]) -> bool:
    """Whether ``context`` starts with the very same objects as ``prev``.

    Identity, not equality: ``ContextItem`` equality leaves ``raw`` out, and equal items can count differently
    (a name, an image part, another compaction blob). It stops at the first difference; when there is none
    it walks the whole previous context: the fallback for calls reconstruct said nothing about.
    """
    return len(context) >= len(prev) and all(map(operator.is_, context, prev))


def _base_position(context: Sequence[ContextItem], shared: Sequence[ContextItem]) -> bool:
    """Whether ``context`` begins with ``shared`` whole, checked in constant time: the same first and last item.

    For a base reconstruct named (``TurnRecord.context_base``), which is an identity prefix unless the
    transcript was edited since: the ends catch a context cut shorter or its first items replaced.
    """
    n = len(shared)
    return n <= len(context) and (n == 0 or (context[0] is shared[0] and context[n - 1] is shared[-1]))


def _frame(counter: TokenCounter, r: _Rendering, frame: dict[str, int], role: str) -> int:
    """A message's tokens besides its text under ``r``: framing and role (``frame`` holds ``r``'s, by role)."""
    n = frame.get(role)
    if n is None:
        n, _ = _message_terms(r, role, "", "")
        n = frame[role] = n + counter.text(role, encoding=r.encoding)
    return n


def _limits_of(rec: TurnRecord, known: dict[str, ModelLimits]) -> ModelLimits:
    """The limits of a call's model, looked up once per model (``ConfigError`` if unknown)."""
    model = rec.model or ""
    lim = known.get(model)
    if lim is None:
        lim = known[model] = model_limits(model)
    return lim


def annotate(
    transcript: Transcript,
    *,
    limits: ModelLimits | None = None,
    params: Mapping[str, Any] | None = None,
    counter: TokenCounter | None = None,
) -> None:
    """Fill ``TurnRecord.tokens`` for every model call of ``transcript``, in order.

    ``limits`` applies to every call (else each call's model is looked up: ``ConfigError`` when unknown,
    once the calls before it are annotated); ``params`` are the scenario's request parameters, consulted for
    the requested max output when the request body has none. Billed input is the running sum of reported
    input tokens (estimates for successful calls that report no usage; nothing for failed calls, which are
    not billed).

    Each call's estimate is what ``estimate_record`` gives, got incrementally: calls of a conversation mostly
    see an earlier call's context plus a few items. When a call's context begins with an earlier one's (its
    base: ``TurnRecord.context_base`` checked in constant time, else the previous call compared item by item)
    under the same rendering, and what it adds holds no compaction item (which changes what the server renders
    before it), only the added items are counted. A plain message (``ContextItem.plain``) counts its role's
    framing plus its text; any other item goes through the counter's item cache. The plain messages' texts of
    ``Transcript.items`` are counted in one batch first (``TokenCounter.prime``); any other text as the walk
    meets it, each once. Every record is read once, while it is at hand.
    """
    counter = counter or TokenCounter()
    asked = _requested_max_output(params or {}, 0)
    known: dict[str, ModelLimits] = {}
    frames: dict[str, dict[str, int]] = {}
    #: Every call's context, rendering and what its rendered items count (no primer, no instructions), by
    #: ``TurnRecord.index``: the bases of later calls.
    counted: dict[int, tuple[list[ContextItem], _Rendering, int]] = {}
    last: tuple[list[ContextItem], _Rendering, int] = ([], _rendering(None), 0)
    last_index: int | None = None
    billed = 0
    # Consecutive calls mostly name one model, and share their instructions: what follows from them is
    # looked up once.
    model: object = None
    lim: ModelLimits | None = None
    # Set at the first call (``lim`` is None until then).
    r = last[1]
    frame: dict[str, int] = {}
    cache: dict[str, int] = {}
    miss: Callable[[str], int] = len
    #: The instructions the primer-plus-instructions count ``fixed`` was last taken for.
    fixed_for: object = _UNSET
    fixed = 0
    # The plain messages' texts reconstruct made (``Transcript.items``) are counted in one batch before the
    # first call is: the walk then finds them cached.
    unprimed = True
    for rec in transcript.turns:
        call_lim = limits if limits is not None else _limits_of(rec, known)
        request = rec.request
        call_model = rec.model
        if call_lim is not lim or call_model != model:
            model, lim = call_model, call_lim
            r = _call_rendering(rec, lim.encoding)
            frame = frames.setdefault(r.key, {})
            if unprimed:
                # Under the first call's encoding, every call's in most transcripts: a call under another one
                # counts its texts as the walk meets them.
                unprimed = False
                counter._prime_plain(transcript.items, r.encoding)
            cache, miss = counter._counting(r.encoding)
            fixed_for = _UNSET
        context = rec.context
        # The base: the call reconstruct names, if it still fits (``_base_position``), else the previous call.
        hint = rec.context_base
        base = last if hint == last_index else counted.get(hint) if hint is not None else None
        if base is not None and base[1] is r and _base_position(context, base[0]):
            total, added = base[2], context[len(base[0]) :]
        elif last[1] is r and _extends(context, last[0]):
            total, added = last[2], context[len(last[0]) :]
        else:
            total, added = 0, context
        for ci in added:
            if ci.plain:
                text, role = ci.text or "", ci.role or ""
                n = cache.get(text)
                f = frame.get(role)
                total += (miss(text) if n is None else n) + (_frame(counter, r, frame, role) if f is None else f)
                continue
            item = _countable(ci)
            if item.get("type") in _COMPACTION_TYPES:
                # The server renders what precedes a compaction item differently: count the context as rendered.
                total = sum(counter._item(each, r) for each in _rendered(list(map(_countable, context))))
                break
            total += counter._item(item, r)
        # The primer and the instructions (framing and text): once per instructions text, but for Chat, whose
        # instructions take the role of the message they came from.
        instructions = rec.instructions
        if instructions != fixed_for or rec.endpoint == "chat":
            fixed_for = instructions
            role_of = _instructions_role(rec)
            fixed = r.primer
            if role_of is not None:
                fixed += counter.text(instructions or "", encoding=r.encoding) + _frame(counter, r, frame, role_of)
        estimate = fixed + total
        max_out = asked or lim.max_output_tokens
        # Most Responses requests have no tools, text format or max output (``_extras`` and
        # ``_requested_max_output`` would find nothing): asked for by key (isdisjoint walks the tuple, looking
        # each up), not by walking the request's keys, which would read every key object.
        if rec.endpoint != "responses" or not request.keys().isdisjoint(_NOTED_KEYS):
            estimate += counter._extras(rec.endpoint, request, r)
            max_out = _requested_max_output(request, max_out)
        window = lim.context_window
        usage = rec.usage
        reported: int | None = None
        cached = output = reasoning = all_tokens = None
        if usage is None:
            used = estimate  # the window figures follow the estimate
            if 200 <= rec.http_status < 300 and rec.response is not None:
                billed += estimate  # served, yet no usage reported: the estimate stands in for it
        else:
            used = reported = usage.input_tokens
            cached, output, reasoning = usage.cached_tokens, usage.output_tokens, usage.reasoning_tokens
            all_tokens = usage.total_tokens
            billed += used
        # Positional, in the order of TokenInfo's fields: keywords cost more than the rest of the call.
        rec.tokens = TokenInfo(
            estimate,
            reported,  # reported_input
            cached,
            output,
            reasoning,
            all_tokens,  # total
            window,  # context_window
            max_out,  # max_output_tokens
            used / window,  # window_used
            window - used - max_out,  # headroom
            billed,  # billed_input
            rec.status == "incomplete",  # truncated
            lim.max_input_tokens,
        )
        last_index = rec.index
        counted[last_index] = last = (context, r, total)


# --- checks -------------------------------------------------------------------------------------------


def _n(value: int) -> str:
    return f"{value:,}"


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%".replace(".0%", "%")


def _input_of(info: TokenInfo) -> int:
    return info.reported_input if info.reported_input is not None else info.estimate


def _limit_label(info: TokenInfo) -> tuple[int, str]:
    """The input limit a call must stay under, and how to name it in a message."""
    if info.max_input_tokens is not None and info.max_input_tokens < info.context_window:
        return info.max_input_tokens, "input limit"
    return info.context_window, "window"


def window_failure(rec: TurnRecord, mode: str | None = None, loc: SourceLoc | None = None) -> Failure | None:
    """``input 131,204 tokens > window 128,000 (gpt-4o)`` when a call's input exceeds the model's limit."""
    info = rec.tokens
    if info is None:
        return None
    used = _input_of(info)
    limit, label = _limit_label(info)
    if used <= limit:
        return None
    msg = f"input {_n(used)} tokens > {label} {_n(limit)} ({rec.model or 'model'})"
    if info.reported_input is None:
        msg += " — estimated locally, the call reported no usage"
    return Failure(check="tokens.window", message=msg, turn=rec.turn, mode=mode, loc=loc)


def _check_one(
    exp: TokensExpect,
    locs: Mapping[str, SourceLoc],
    fallback: SourceLoc | None,
    rec: TurnRecord,
    info: TokenInfo,
    turn: int,
    mode: str,
) -> list[Failure]:
    out: list[Failure] = []
    model = rec.model or "model"

    def fail(key: str, message: str) -> None:
        out.append(Failure(f"tokens.{key}", message, turn, mode, locs.get(f"tokens.{key}", fallback)))

    used = _input_of(info)
    if exp.input_max is not None and used > exp.input_max:
        fail("input_max", f"input {_n(used)} tokens > input_max {_n(exp.input_max)}")
    if exp.input_min is not None and used < exp.input_min:
        fail("input_min", f"input {_n(used)} tokens < input_min {_n(exp.input_min)}")
    if exp.output_max is not None and info.output is not None and info.output > exp.output_max:
        fail("output_max", f"output {_n(info.output)} tokens > output_max {_n(exp.output_max)}")
    if exp.reasoning_max is not None and info.reasoning is not None and info.reasoning > exp.reasoning_max:
        fail("reasoning_max", f"reasoning {_n(info.reasoning)} tokens > reasoning_max {_n(exp.reasoning_max)}")
    if exp.total_max is not None and info.total is not None and info.total > exp.total_max:
        fail("total_max", f"total {_n(info.total)} tokens > total_max {_n(exp.total_max)}")
    if exp.headroom_min is not None and info.headroom < exp.headroom_min:
        fail(
            "headroom_min",
            f"headroom {_n(info.headroom)} tokens < headroom_min {_n(exp.headroom_min)} (window "
            f"{_n(info.context_window)} − input {_n(used)} − max output {_n(info.max_output_tokens)}, {model})",
        )
    if exp.window_used_max is not None and info.window_used > exp.window_used_max:
        fail(
            "window_used_max",
            f"window used {_pct(info.window_used)} > window_used_max {_pct(exp.window_used_max)} "
            f"(input {_n(used)} of {_n(info.context_window)}, {model})",
        )
    if exp.estimate_tolerance is not None and info.reported_input is not None:
        diff = abs(info.estimate - info.reported_input)
        if diff > exp.estimate_tolerance:
            fail(
                "estimate_tolerance",
                f"estimate {_n(info.estimate)} tokens differs from reported {_n(info.reported_input)} by "
                f"{_n(diff)} > estimate_tolerance {_n(exp.estimate_tolerance)}",
            )
    if exp.billed_input_max is not None and info.billed_input > exp.billed_input_max:
        fail(
            "billed_input_max",
            f"billed input {_n(info.billed_input)} tokens so far > billed_input_max {_n(exp.billed_input_max)}",
        )
    return out


def check_tokens(scenario: Scenario, mode: str, transcript: Transcript) -> list[Failure]:
    """Evaluate ``expect.tokens`` (scenario level on every turn, then turn level) and window overflows.

    Checks read the last model call of each turn. Calls not yet annotated are annotated with the
    scenario's model limits first. A call whose input exceeds the window (or gpt-5's input limit) is
    reported as ``tokens.window`` even without an expectation.
    """
    if any(rec.tokens is None for rec in transcript.turns):
        overrides = {
            k: v
            for k, v in (
                ("context_window", scenario.limits.context_window),
                ("max_output_tokens", scenario.limits.max_output_tokens),
            )
            if v is not None
        }
        annotate(transcript, limits=model_limits(scenario.model, overrides=overrides), params=scenario.params)
    failures: list[Failure] = []
    scenario_exp = scenario.expect.tokens if scenario.expect is not None else None
    scenario_locs = scenario.expect.locs if scenario.expect is not None else {}
    for turn in scenario.turns:
        rec = transcript.last_for_turn(turn.index)
        if rec is None or rec.tokens is None:
            continue
        overflow = window_failure(rec, mode, turn.loc)
        if overflow is not None:
            failures.append(replace(overflow, turn=turn.index))
        if scenario_exp is not None:
            fallback = scenario_locs.get("tokens", scenario.loc)
            failures += _check_one(scenario_exp, scenario_locs, fallback, rec, rec.tokens, turn.index, mode)
        if turn.expect is not None and turn.expect.tokens is not None:
            locs = turn.expect.locs
            fallback = locs.get("tokens", turn.loc)
            failures += _check_one(turn.expect.tokens, locs, fallback, rec, rec.tokens, turn.index, mode)
    return failures


# --- projection ---------------------------------------------------------------------------------------

#: How many of the latest turns the growth rate is fitted on.
PROJECTION_WINDOW = 5
#: The smallest ``compact_threshold`` the API accepts for server-side compaction.
MIN_COMPACT_THRESHOLD = 1_000


@dataclass(frozen=True)
class Projection:
    """Where a conversation is heading if it keeps growing as in its last turns."""

    model: str
    #: Input tokens of the last model call of each observed turn (reported, else estimated), in order.
    inputs: tuple[int, ...]
    #: 1-based number of the last observed turn.
    last_turn: int
    #: Fitted input growth per turn (least squares over the last ``PROJECTION_WINDOW`` turns).
    growth: float
    #: The input the conversation must stay under: the window (or input limit), or its fraction.
    limit: int
    limit_label: str
    #: 1-based turn at which input would first exceed ``limit``; ``None`` if it never does.
    crossing_turn: int | None
    #: A ``compact_threshold`` that keeps every turn under ``limit``; ``None`` if none can.
    compact_threshold: int | None

    @property
    def last_input(self) -> int:
        """Input tokens of the last observed turn."""
        return self.inputs[-1] if self.inputs else 0

    def describe(self) -> str:
        """One line for the terminal summary and the CLI."""
        now = f"input {_n(self.last_input)} at turn {self.last_turn}"
        target = f"{self.limit_label} {_n(self.limit)} ({self.model})"
        if self.crossing_turn is None:
            return f"projection: {now}, not growing; stays under the {target}"
        if self.crossing_turn <= self.last_turn:
            head = f"projection: {now} is already over the {target}"
        else:
            head = (
                f"projection: {now}, growing {_n(round(self.growth))} tokens/turn: crosses the {target} "
                f"at turn {self.crossing_turn}"
            )
        if self.compact_threshold is None:
            return head + "; no compact_threshold can keep it under (one turn adds too much)"
        return head + f"; compact_threshold {_n(self.compact_threshold)} would keep it under"


def _slope(xs: Sequence[int], ys: Sequence[int]) -> float:
    """Least-squares slope of ys over xs (0 for fewer than two points)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    den = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def project(
    transcript: Transcript,
    limits: ModelLimits,
    *,
    window_used_max: float | None = None,
) -> Projection:
    """Project input growth: the turn that would cross the window (or ``window_used_max`` of it).

    Growth is the least-squares slope of the input of each turn's last model call (compact calls left
    out) over the last ``PROJECTION_WINDOW`` turns since the input last dropped. The suggested
    compaction threshold leaves room for one more turn of growth below the limit, rounded down to a
    thousand (server-side compaction needs ≥ 1,000).
    Raises ``ValueError`` when no call has been annotated.
    """
    per_turn: dict[int, int] = {}
    compact_only: dict[int, int] = {}
    model = ""
    for pos, rec in enumerate(transcript.turns):
        if rec.tokens is None:
            continue
        # Foreign traffic has no turn tags: every call is its own turn.
        key = rec.turn if rec.turn is not None else pos
        # A compact call's input is the window before compaction, not a step of the conversation.
        (compact_only if rec.endpoint == "compact" else per_turn)[key] = _input_of(rec.tokens)
        model = rec.model or model
    per_turn = per_turn or compact_only
    if not per_turn:
        raise ValueError("no annotated model call to project from (run tokens.annotate first)")
    keys = sorted(per_turn)
    inputs = tuple(per_turn[k] for k in keys)
    last_turn = keys[-1] + 1
    if window_used_max is not None:
        limit, label = int(limits.context_window * window_used_max), f"{_pct(window_used_max)} of the window"
    elif limits.max_input_tokens is not None and limits.max_input_tokens < limits.context_window:
        limit, label = limits.max_input_tokens, "input limit"
    else:
        limit, label = limits.context_window, "window"
    # Fit on the stretch since the last drop (a compaction restarts growth from a lower base); right
    # after a drop, the stretch before it is the best guess of the rate.
    drops = [i for i in range(1, len(inputs)) if inputs[i] < inputs[i - 1]]
    start = drops[-1] if drops else 0
    if len(keys) - start < 2 and drops:
        start, stop = (drops[-2] if len(drops) > 1 else 0), drops[-1]
    else:
        stop = len(keys)
    xs, ys = keys[start:stop][-PROJECTION_WINDOW:], inputs[start:stop][-PROJECTION_WINDOW:]
    growth = _slope(xs, ys)
    last = inputs[-1]
    crossing: int | None
    if last > limit:
        crossing = last_turn
    elif growth <= 0:
        crossing = None
    else:
        crossing = last_turn + max(1, math.floor((limit - last) / growth) + 1)
    step = math.ceil(max(growth, 0.0))
    threshold = (limit - step) // 1000 * 1000
    return Projection(
        model=model or "model",
        inputs=inputs,
        last_turn=last_turn,
        growth=growth,
        limit=limit,
        limit_label=label,
        crossing_turn=crossing,
        compact_threshold=threshold if threshold >= MIN_COMPACT_THRESHOLD else None,
    )


# --- table ------------------------------------------------------------------------------------------

_COLUMNS = (
    "turn",
    "endpoint",
    "estimate",
    "input",
    "cached",
    "output",
    "reasoning",
    "window",
    "headroom",
    "billed",
    "cut",
)


def format_token_table(transcript: Transcript) -> str:
    """The per-model-call token table for a terminal (calls not annotated show ``-``)."""
    rows: list[tuple[str, ...]] = [_COLUMNS]

    def num(v: int | None) -> str:
        return "-" if v is None else _n(v)

    for rec in transcript.turns:
        t = rec.tokens
        turn = str(rec.turn + 1) if rec.turn is not None else "-"
        if t is None:
            rows.append((turn, rec.endpoint, *("-",) * (len(_COLUMNS) - 2)))
            continue
        rows.append(
            (
                turn,
                rec.endpoint,
                _n(t.estimate),
                num(t.reported_input),
                num(t.cached),
                num(t.output),
                num(t.reasoning),
                f"{t.window_used * 100:.1f}%",
                _n(t.headroom),
                _n(t.billed_input),
                "cut" if t.truncated else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    lines = []
    for r in rows:
        # text columns left-aligned, numbers right-aligned
        cells = [c.ljust(w) if i in (1, 10) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
