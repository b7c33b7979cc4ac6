"""Custom drivers: run the user's own conversation code (``driver: "pkg.mod:Name"``) as mode ``custom``.

The user's class is constructed with the SDK client the harness provides — ``Name(client)`` or
``Name(client, scenario)`` — and called once per scenario turn: ``send(text) -> str`` for a user turn,
``send_messages([{"role", "content"}, …]) -> str`` for an ``input`` turn of several messages, ``compact()``
for a compact step. Each may be a coroutine function when the client is an ``AsyncOpenAI``.
See docs/custom-drivers.md.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Sequence
from typing import Any

import openai

from convotest.drivers.base import Driver, input_messages, register
from convotest.errors import ConfigError, DriverError
from convotest.scenario.model import Message, Scenario, Turn

__all__ = ["CustomDriver", "load_driver_class"]

_FORM = '"package.module:ClassName"'


def _where(scenario: Scenario) -> str:
    loc = scenario.locs.get("driver") or scenario.loc
    return f"{loc if loc is not None else scenario.path}: scenario {scenario.name!r}"


def load_driver_class(spec: str, scenario: Scenario) -> type[Any]:
    """Import the class named by ``spec`` (``"pkg.mod:Name"``); ``ConfigError`` naming the driver if it can't."""
    where = _where(scenario)
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name.strip() or not attr.strip() or ":" in attr:
        raise ConfigError(f"{where}: driver {spec!r} must look like {_FORM}")
    module_name, attr = module_name.strip(), attr.strip()
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(
            f"{where}: driver {spec!r}: cannot import module {module_name!r}: {type(exc).__name__}: {exc}"
        ) from exc
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"{where}: driver {spec!r}: module {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if not inspect.isclass(target):
        raise ConfigError(
            f"{where}: driver {spec!r}: {attr!r} is not a class (got {type(target).__name__}); "
            "expected a class with a send(text) method"
        )
    if not callable(getattr(target, "send", None)):
        raise ConfigError(f"{where}: driver {spec!r}: class {target.__name__} has no send(text) method")
    return target


def _arguments(signature: inspect.Signature, client: Any, scenario: Scenario) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``(client,)``, plus the scenario when the constructor asks for it: by name, or as a required 2nd argument."""
    params = list(signature.parameters.values())
    named = signature.parameters.get("scenario")
    if named is not None and named.kind != inspect.Parameter.POSITIONAL_ONLY:
        # By keyword, so it lands on `scenario` wherever it sits among defaulted parameters.
        return (client,), {"scenario": scenario}
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if named is not None and positional.index(named) == 1:
        return (client, scenario), {}
    if len(positional) >= 2 and positional[1].default is inspect.Parameter.empty:
        return (client, scenario), {}
    return (client,), {}


def _construct(cls: type[Any], client: Any, scenario: Scenario, spec: str) -> Any:
    """``cls(client)``, or ``cls(client, scenario)`` when its constructor takes the scenario."""
    where = _where(scenario)
    args: tuple[Any, ...] = (client,)
    kwargs: dict[str, Any] = {}
    try:
        signature: inspect.Signature | None = inspect.signature(cls)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        args, kwargs = _arguments(signature, client, scenario)
        try:
            signature.bind(*args, **kwargs)
        except TypeError:
            names = ", ".join(str(p.replace(annotation=inspect.Parameter.empty)) for p in signature.parameters.values())
            raise ConfigError(
                f"{where}: driver {spec!r}: {cls.__name__}({names}) must accept the client as its only "
                "required argument, or (client, scenario)"
            ) from None
    try:
        return cls(*args, **kwargs)
    except Exception as exc:
        raise DriverError(f"{where}: driver {spec!r}: {cls.__name__}(…) raised {type(exc).__name__}: {exc}") from exc


async def _call(method: Any, *args: Any) -> Any:
    result = method(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


@register
class CustomDriver(Driver):
    """Adapts a user's ``send(text) -> str`` class to the driver interface."""

    name = "custom"
    api = "custom"
    # Whether the user's code can compact is found out at the compact step (it needs a compact() method).
    supports_compact = True
    supports_server_compaction = True

    def __init__(self, client: openai.OpenAI | openai.AsyncOpenAI, scenario: Scenario, spec: str | None = None) -> None:
        super().__init__(client, scenario)
        spec = spec or scenario.driver
        if not spec:
            raise ConfigError(f"{_where(scenario)}: mode 'custom' needs a driver: set driver: {_FORM} in the scenario")
        self.spec = spec
        self.target_class = load_driver_class(spec, scenario)
        self.target = _construct(self.target_class, client, scenario, spec)

    @classmethod
    def check_scenario(cls, scenario: Scenario) -> None:
        """Custom drivers take the scenario as it is: params and compaction are the user's business."""

    def _label(self) -> str:
        return f"driver {self.spec!r}"

    async def aturn(self, turn: Turn) -> str | None:
        """Call the user's ``send`` / ``send_messages`` / ``compact`` for this turn."""
        name = self.target_class.__name__
        if turn.kind == "compact":
            method = getattr(self.target, "compact", None)
            if not callable(method):
                raise DriverError(
                    f"turn {turn.number} ({turn.describe()}) is a compact step but {self._label()} "
                    f"({name}) has no compact() method"
                )
            await _call(method)
            return None
        if len(turn.messages) == 1 and turn.messages[0].role == "user":
            return self._reply(await _call(self.target.send, turn.messages[0].content), "send")
        method = getattr(self.target, "send_messages", None)
        if not callable(method):
            raise DriverError(
                f"turn {turn.number} ({turn.describe()}) sends {len(turn.messages)} messages but "
                f"{self._label()} ({name}) has no send_messages(messages) method"
            )
        return self._reply(await _call(method, input_messages(turn.messages)), "send_messages")

    async def send(self, messages: Sequence[Message]) -> str | None:
        """Send messages through the user's driver (as an ``input`` turn would)."""
        turn = Turn(index=0, kind="input", messages=tuple(messages))
        return await self.aturn(turn)

    def _reply(self, value: Any, method: str) -> str:
        if not isinstance(value, str):
            raise DriverError(
                f"{self._label()}: {method}() returned {type(value).__name__}, expected the reply text (str)"
            )
        return value
