"""The driver base class and the registry of state modes (like vcrpy's matchers and persisters).

A driver carries a conversation's state one way (the whole history, a response chain, a conversation
object, the user's own code) and runs one scenario turn at a time. Each mode's logic is written once, as
coroutines over ``Sdk``; ``Driver.turn`` runs them with a sync client, ``Driver.aturn`` with an async one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

import openai
from openai.types.responses import Response

from convotest.drivers.sdk import Sdk, item_dict, run_sync
from convotest.errors import ConfigError, DriverError
from convotest.scenario.model import ALL_MODES, Message, Scenario, Turn

__all__ = [
    "Driver",
    "ResponsesDriver",
    "available_modes",
    "get",
    "register",
]

#: Request fields every mode sets itself; a scenario's ``params`` may not override them.
RESERVED_PARAMS: frozenset[str] = frozenset(
    {
        "model",
        "input",
        "messages",
        "instructions",
        "previous_response_id",
        "conversation",
        "store",
        "stream_options",
        "context_management",
    }
)


class Driver(ABC):
    """Carries a scenario's conversation state in one mode; ``turn`` runs one scenario turn."""

    #: The mode name scenarios and the CLI use.
    name: ClassVar[str]
    #: ``"chat"`` or ``"responses"`` (``"custom"`` for user drivers): which API the mode calls.
    api: ClassVar[str]
    #: Whether the mode can run ``compact`` steps.
    supports_compact: ClassVar[bool] = False
    #: Whether the mode can run with ``server_compaction`` (``context_management``).
    supports_server_compaction: ClassVar[bool] = False

    def __init__(self, client: openai.OpenAI | openai.AsyncOpenAI, scenario: Scenario) -> None:
        self.check_scenario(scenario)
        self.client = client
        self.scenario = scenario
        self.sdk = Sdk(client)

    @classmethod
    def check_scenario(cls, scenario: Scenario) -> None:
        """Raise ``ConfigError`` when the scenario needs something this mode cannot do."""
        where = _where(scenario)
        compact = next((t for t in scenario.turns if t.kind == "compact"), None)
        if compact is not None and not cls.supports_compact:
            raise ConfigError(
                f"{where}: mode {cls.name!r} cannot run compact steps (turn {compact.number}); "
                f"compaction needs a Responses mode: {', '.join(_compact_modes())}"
            )
        if scenario.server_compaction is not None and not cls.supports_server_compaction:
            raise ConfigError(
                f"{where}: mode {cls.name!r} cannot use server_compaction; "
                f"it needs a Responses mode: {', '.join(_compact_modes())}"
            )
        bad = sorted(RESERVED_PARAMS & scenario.params.keys())
        if bad:
            raise ConfigError(f"{where}: params.{bad[0]} is set by the state mode itself; remove it from params")

    def turn(self, turn: Turn) -> str | None:
        """Run one scenario turn with a sync client; returns the assistant's reply text (``None`` for compact)."""
        if self.sdk.is_async:
            raise DriverError(f"driver {self.name!r} has an AsyncOpenAI client: use `await driver.aturn(turn)`")
        return run_sync(self.aturn(turn))

    async def aturn(self, turn: Turn) -> str | None:
        """Run one scenario turn (sync or async client); returns the reply text (``None`` for compact)."""
        if turn.kind == "compact":
            await self.compact(turn)
            return None
        return await self.send(turn.messages)

    @abstractmethod
    async def send(self, messages: Sequence[Message]) -> str | None:
        """Send a user turn (one message) or an ``input`` turn (several); returns the reply text."""

    async def compact(self, turn: Turn) -> None:
        """Run a compact step."""
        raise DriverError(f"mode {self.name!r} cannot run compact steps (turn {turn.number})")

    # Helpers shared by the built-in modes.

    @property
    def stream(self) -> bool:
        """Whether the scenario asks for the streaming API (``params: {stream: true}``)."""
        return bool(self.scenario.params.get("stream"))

    def extra_params(self) -> dict[str, Any]:
        """The scenario's ``params`` other than ``stream``, as the request body fields to add."""
        return {k: v for k, v in self.scenario.params.items() if k != "stream"}


class ResponsesDriver(Driver):
    """Shared plumbing of the three Responses API modes."""

    api = "responses"
    supports_compact = True
    supports_server_compaction = True

    async def respond(self, **fields: Any) -> Response:
        """``responses.create`` with the model, instructions (every turn), params and ``fields``."""
        body: dict[str, Any] = {"model": self.scenario.model}
        if self.scenario.instructions is not None:
            # Instructions are not carried over by previous_response_id or conversations: resend each time.
            body["instructions"] = self.scenario.instructions
        body.update(fields)
        if self.scenario.server_compaction is not None:
            body["context_management"] = [
                {"type": "compaction", "compact_threshold": self.scenario.server_compaction.compact_threshold}
            ]
        extra = self.extra_params()
        if "include" in extra and "include" in body:
            body["include"] = list(dict.fromkeys([*extra.pop("include"), *body["include"]]))
        if extra:
            body["extra_body"] = extra
        return await self.sdk.respond(body, stream=self.stream)

    async def compact_window(
        self, turn: Turn, *, input: list[dict[str, Any]] | None = None, previous_response_id: str | None = None
    ) -> list[dict[str, Any]]:
        """``responses.compact`` of a window (given as items or as a response id); returns its ``output``."""
        body: dict[str, Any] = {"model": self.scenario.model}
        if previous_response_id is not None:
            body["previous_response_id"] = previous_response_id
        else:
            body["input"] = input if input is not None else []
        instructions = turn.compact_instructions or self.scenario.instructions
        if instructions is not None:
            body["instructions"] = instructions
        compacted = await self.sdk.compact(body)
        return [item_dict(item) for item in compacted.output]


def input_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Scenario messages as short-form input items / chat messages: ``{"role": …, "content": …}``."""
    return [{"role": m.role, "content": m.content} for m in messages]


def _where(scenario: Scenario) -> str:
    loc = scenario.loc
    return f"{loc if loc is not None else scenario.path}: scenario {scenario.name!r}"


_REGISTRY: dict[str, type[Driver]] = {}

D = TypeVar("D", bound=type[Driver])


def register(cls: D) -> D:
    """Class decorator: make a driver available under its ``name``."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__qualname__} needs a class attribute `name` (the mode name)")
    _REGISTRY[name] = cls
    return cls


def get(mode: str) -> type[Driver]:
    """The driver class of ``mode``; ``ConfigError`` listing the known modes when there is none."""
    try:
        return _REGISTRY[mode]
    except KeyError:
        raise ConfigError(f"unknown mode {mode!r}, amongst: {', '.join(available_modes())}") from None


def available_modes() -> list[str]:
    """Every registered mode name: the built-ins in ``ALL_MODES`` order, then the others as registered."""
    order = {name: i for i, name in enumerate(ALL_MODES)}
    return sorted(_REGISTRY, key=lambda name: order.get(name, len(order)))


def _compact_modes() -> list[str]:
    return [m for m in available_modes() if _REGISTRY[m].supports_compact and _REGISTRY[m].api == "responses"]
