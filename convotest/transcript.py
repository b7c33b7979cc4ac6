"""Plain data types for recorded traffic and the per-turn transcript rebuilt from it.

``Exchange`` is one HTTP request/response as seen on the wire (parsed JSON, or parsed SSE events).
``reconstruct.build_transcript`` turns a list of exchanges into a ``Transcript``: one ``TurnRecord`` per
model call, each with the effective context the model saw. ``tokens`` fills in ``TurnRecord.tokens``.
Nothing here does I/O or imports the SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "TEXT_PART_TYPES",
    "ContextItem",
    "Exchange",
    "TokenInfo",
    "Transcript",
    "TurnRecord",
    "Usage",
    "plain_message_text",
]

#: Which API a model call went to.
Endpoint = Literal["chat", "responses", "compact"]

#: Content part types that hold nothing but their ``text``.
TEXT_PART_TYPES = frozenset({"input_text", "output_text", "text", "summary_text", "reasoning_text"})


def plain_message_text(raw: Any) -> str | None:
    """The text of a message dict that holds nothing but a role and text, else ``None``.

    Its content is a string or text parts only (``TEXT_PART_TYPES``); it has no name, tool or function
    calls, audio, image or file part. Such messages with equal role and text are interchangeable, in any form.
    """
    if (
        type(raw) is not dict
        or raw.get("name")
        or raw.get("tool_calls")
        or raw.get("function_call")
        or raw.get("audio")
    ):
        return None
    if type(raw.get("role")) is not str or raw.get("type", "message") != "message":
        return None
    content = raw.get("content")
    if type(content) is str:
        return content
    if type(content) is not list:
        return None
    texts = []
    for part in content:
        text = part.get("text") if type(part) is dict else None
        if type(text) is not str or part.get("type") not in TEXT_PART_TYPES:
            return None
        texts.append(text)
    return texts[0] if len(texts) == 1 else "".join(texts)


@dataclass(slots=True)
class Exchange:
    """One HTTP exchange, bodies parsed.

    ``request``/``response`` hold the parsed JSON body (``None`` when empty or not JSON; then ``*_text``
    holds the raw text). A streamed (``text/event-stream``) response has ``events``: the parsed SSE events
    as ``{"event": name or None, "data": parsed JSON or the raw string}``; ``response`` is then ``None``.
    ``turn`` is the 0-based scenario turn the runner was driving when this request was sent, or ``None``
    for traffic recorded by other tools.
    """

    index: int
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    request: Any = None
    request_text: str | None = None
    status: int = 200
    response: Any = None
    response_text: str | None = None
    events: list[dict[str, Any]] | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    turn: int | None = None

    @property
    def is_model_call(self) -> bool:
        """Whether this exchange asked the model for output (chat, responses create, compact)."""
        if self.method.upper() != "POST":
            return False
        p = self.path.rstrip("/")
        return p.endswith("/chat/completions") or p.endswith("/responses") or p.endswith("/responses/compact")


@dataclass(frozen=True, slots=True)
class ContextItem:
    """One item of the effective context, normalised.

    ``kind`` is ``message``, ``reasoning``, ``compaction``, ``function_call``, ``function_call_output``
    or ``other``. ``role`` and ``text`` are set for messages (text is the concatenation of text parts).
    ``raw`` keeps the item as it was sent or produced. Two contexts carried in different modes compare
    equal when their ``(kind, role, text)`` triples are equal (see ``context.normalise``).
    """

    kind: str
    role: str | None = None
    text: str | None = None
    raw: Any = field(default=None, compare=False, hash=False)
    #: A message that holds nothing but ``role`` and ``text`` (``plain_message_text`` of its raw form, or a
    #: bare string input): what it counts follows from those two. False is always safe (``raw`` is read).
    plain: bool = field(default=False, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Usage:
    """Server-reported usage, in one shape for Chat and Responses."""

    input_tokens: int
    output_tokens: int
    total_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(slots=True)
class TokenInfo:
    """Token accounting for one turn (filled by ``convotest.tokens``)."""

    estimate: int
    reported_input: int | None
    cached: int | None
    output: int | None
    reasoning: int | None
    total: int | None
    context_window: int
    max_output_tokens: int
    #: reported input (or the estimate) / context window.
    window_used: float
    #: context window − input − max output requested (or the model's max output).
    headroom: int
    #: input tokens billed so far in this run, this turn included.
    billed_input: int
    #: output was cut (status incomplete / finish_reason length).
    truncated: bool
    max_input_tokens: int | None = None


@dataclass(slots=True)
class TurnRecord:
    """One model call and what the model saw for it."""

    index: int
    endpoint: Endpoint
    #: The scenario turn this call belongs to (``None`` for foreign traffic).
    turn: int | None
    exchange: Exchange
    request: dict[str, Any]
    #: The final response object (assembled from the stream for streamed calls); ``None`` on HTTP error.
    response: dict[str, Any] | None
    http_status: int
    #: Effective context, instructions excluded, in the order the model saw it.
    context: list[ContextItem]
    instructions: str | None
    #: The assistant's visible text for this call (``None`` for compact or errors).
    reply: str | None
    #: ``completed`` / ``incomplete`` / … for Responses; mapped from ``finish_reason`` for Chat. ``incomplete``
    #: whenever the output was cut: ``incomplete_details`` gives a reason, or any choice's ``finish_reason`` is
    #: ``length``.
    status: str | None
    output_items: list[dict[str, Any]]
    usage: Usage | None
    model: str | None
    #: How state was carried: ``manual_chat``, ``manual_responses``, ``previous_response_id``,
    #: ``conversation`` or ``compact`` — as observed in the request.
    carried_by: str
    streamed: bool = False
    #: Server-side problems found while rebuilding (e.g. unknown previous_response_id).
    notes: list[str] = field(default_factory=list)
    tokens: TokenInfo | None = None
    #: The context lacks items the traffic does not show (chain or conversation begun before it).
    partial: bool = False
    #: ``index`` of an earlier call whose whole context this call's context begins with, the very same item
    #: objects (set by ``reconstruct`` when it builds one from the other; ``None`` when not known). Token
    #: accounting counts only what a call adds to it. Clear it when editing ``context`` by hand.
    context_base: int | None = field(default=None, compare=False, repr=False)


@dataclass(slots=True)
class Transcript:
    """Every model call of one run, in order, plus the raw exchanges."""

    turns: list[TurnRecord]
    exchanges: list[Exchange]
    scenario: str | None = None
    mode: str | None = None
    #: Every context item reconstruct made, each once, in the order it made them; empty for a transcript built
    #: by hand. What work done once per item starts from: ``tokens.annotate`` counts their texts in one batch.
    items: list[ContextItem] = field(default_factory=list, compare=False, repr=False)
    #: ``turns`` grouped by scenario turn, with the list as it was when grouped (regrouped when it changes).
    _by_turn: tuple[list[TurnRecord], dict[int | None, list[TurnRecord]]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def for_turn(self, turn: int) -> list[TurnRecord]:
        """The model calls made while driving scenario turn ``turn`` (0-based)."""
        # Checks ask once per scenario turn: group once rather than scan every call each time. Comparing the
        # list with its snapshot is C-level (identity short-circuits it) and catches any change made since.
        grouped = self._by_turn
        if grouped is None or grouped[0] != self.turns:
            groups: dict[int | None, list[TurnRecord]] = {}
            for record in self.turns:
                groups.setdefault(record.turn, []).append(record)
            grouped = self._by_turn = (list(self.turns), groups)
        return list(grouped[1].get(turn, ()))

    def last_for_turn(self, turn: int) -> TurnRecord | None:
        """The last model call of scenario turn ``turn``: the one its expectations are checked on."""
        calls = self.for_turn(turn)
        return calls[-1] if calls else None
