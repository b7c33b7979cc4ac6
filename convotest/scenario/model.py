"""The in-memory form of a scenario file (format v1), with source positions kept on every part.

The loader (``convotest.scenario.loader``) builds these from YAML; everything downstream (drivers,
runner, assertions, plugin) reads them. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from convotest.errors import SourceLoc

__all__ = [
    "ALL_MODES",
    "RESPONSES_MODES",
    "CompactionExpect",
    "ContextExpect",
    "Expect",
    "Limits",
    "Marks",
    "Message",
    "ReplyExpect",
    "Scenario",
    "ServerCompaction",
    "TokensExpect",
    "Turn",
]

#: Every built-in state mode, in the order tests are generated.
ALL_MODES: tuple[str, ...] = ("manual_chat", "manual_responses", "previous_response_id", "conversation")
#: The modes built on the Responses API (the only ones that can compact).
RESPONSES_MODES: tuple[str, ...] = ("manual_responses", "previous_response_id", "conversation")

TurnKind = Literal["user", "input", "compact"]


@dataclass(frozen=True)
class Message:
    """One message a turn sends: ``role`` is user, assistant, system or developer."""

    role: str
    content: str
    loc: SourceLoc | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ReplyExpect:
    """Checks on the assistant's reply text."""

    contains: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    matches: str | None = None


@dataclass(frozen=True)
class ContextExpect:
    """Checks on what the model saw at a turn (instructions excluded from messages/roles/equals)."""

    messages: int | None = None
    roles: tuple[str, ...] | None = None
    contains: tuple[str, ...] = ()
    equals: tuple[Message, ...] | None = None
    starts_with_compaction: bool | None = None
    instructions: str | None = None
    #: Reasoning items the model saw again (a reasoning model's earlier turns, sent back by the client).
    reasoning_items: int | None = None
    #: Scenario level only: the normalised context must be identical in every mode.
    same_across_modes: bool = False


@dataclass(frozen=True)
class TokensExpect:
    """Token budget checks; every bound optional."""

    input_max: int | None = None
    input_min: int | None = None
    output_max: int | None = None
    reasoning_max: int | None = None
    total_max: int | None = None
    headroom_min: int | None = None
    window_used_max: float | None = None
    estimate_tolerance: int | None = None
    billed_input_max: int | None = None


@dataclass(frozen=True)
class CompactionExpect:
    """Checks on a compact step's output."""

    user_messages_verbatim: bool | None = None
    compaction_items: int | None = None
    input_tokens_after_max: int | None = None
    #: Path (relative to the scenario file) of a user JSON Schema for the compact response.
    schema: str | None = None


@dataclass(frozen=True)
class Expect:
    """Everything a turn (or, for tokens/context, the whole scenario) may expect."""

    reply: ReplyExpect | None = None
    status: Literal["completed", "incomplete"] | None = None
    context: ContextExpect | None = None
    tokens: TokensExpect | None = None
    compaction: CompactionExpect | None = None
    #: Where each top-level key of ``expect`` was written (``"reply"`` → loc, ``"tokens.input_max"`` → loc).
    locs: Mapping[str, SourceLoc] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Turn:
    """One step of a scenario: a user message, several input messages, or a compact step."""

    index: int
    kind: TurnKind
    #: For ``user`` one message; for ``input`` every message; empty for ``compact``.
    messages: tuple[Message, ...] = ()
    #: ``compact: {instructions: …}``.
    compact_instructions: str | None = None
    expect: Expect | None = None
    loc: SourceLoc | None = None

    @property
    def number(self) -> int:
        """1-based turn number, as shown to users."""
        return self.index + 1

    def describe(self) -> str:
        """A short one-line rendering of the turn's script, for failure messages."""
        if self.kind == "compact":
            return "compact" + (f" (instructions: {self.compact_instructions!r})" if self.compact_instructions else "")
        if self.kind == "user":
            return f"user: {self.messages[0].content!r}"
        return "input: [" + ", ".join(f"{m.role}: {m.content!r}" for m in self.messages) + "]"


@dataclass(frozen=True)
class Limits:
    """Per-scenario overrides of the model table."""

    context_window: int | None = None
    max_output_tokens: int | None = None


@dataclass(frozen=True)
class Marks:
    """pytest marks to apply to every item of the scenario."""

    skip: str | None = None
    xfail: str | None = None


@dataclass(frozen=True)
class ServerCompaction:
    """Server-side compaction: ``context_management=[{"type": "compaction", "compact_threshold": N}]``."""

    compact_threshold: int


@dataclass(frozen=True)
class Scenario:
    """One scenario: a named conversation script with expectations, runnable in several modes."""

    name: str
    path: str
    model: str
    turns: tuple[Turn, ...]
    modes: tuple[str, ...]
    version: int = 1
    description: str | None = None
    instructions: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    driver: str | None = None
    expect: Expect | None = None
    marks: Marks = field(default_factory=Marks)
    server_compaction: ServerCompaction | None = None
    #: Index of this scenario's YAML document within its file (0-based).
    document: int = 0
    loc: SourceLoc | None = None
    #: Where each top-level key was written (``"model"`` → loc, …).
    locs: Mapping[str, SourceLoc] = field(default_factory=dict, compare=False)

    @property
    def file_stem(self) -> str:
        """The file name without ``.convo.yaml`` / ``.convo.yml``: the cassette folder name."""
        name = self.path.replace("\\", "/").rsplit("/", 1)[-1]
        for suffix in (".convo.yaml", ".convo.yml", ".yaml", ".yml"):
            if name.endswith(suffix):
                return name[: -len(suffix)]
        return name

    @property
    def has_compact(self) -> bool:
        """Whether any turn is a compact step."""
        return any(t.kind == "compact" for t in self.turns)

    def turn_loc(self, index: int) -> SourceLoc | None:
        """The source position of turn ``index``."""
        return self.turns[index].loc
