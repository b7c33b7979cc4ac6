"""State-mode drivers: run a scenario turn by turn through the real ``openai`` SDK.

``drive(scenario, mode, options=…, traffic=…)`` builds the client (see ``client.py``), instantiates the mode's
driver (or the scenario's custom driver) and runs every turn, tagging the traffic with the turn index.
See docs/modes.md for what each mode sends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openai

# Importing the mode modules registers them, in ALL_MODES order, then ``custom``.
from convotest.drivers import conversation as _conversation  # noqa: F401
from convotest.drivers import custom as _custom
from convotest.drivers import manual_chat as _manual_chat  # noqa: F401
from convotest.drivers import manual_responses as _manual_responses  # noqa: F401
from convotest.drivers import previous_response_id as _previous_response_id  # noqa: F401
from convotest.drivers.base import Driver, available_modes, get, register
from convotest.drivers.client import ClientOptions, TrafficLog, make_client
from convotest.drivers.sdk import run_sync
from convotest.scenario.model import Scenario

__all__ = [
    "ClientOptions",
    "DriveFailure",
    "DriveResult",
    "Driver",
    "TrafficLog",
    "available_modes",
    "create_driver",
    "drive",
    "get",
    "register",
]

T = TypeVar("T")


@dataclass
class DriveFailure:
    """The first turn that raised, and what it raised."""

    turn: int
    exception: Exception


@dataclass
class DriveResult:
    """What driving a scenario did: the reply text per driven turn, and the failure if a turn raised."""

    mode: str
    #: The assistant's reply per driven turn (``None`` for compact steps), up to the failing turn.
    replies: list[str | None] = field(default_factory=list)
    error: DriveFailure | None = None

    @property
    def ok(self) -> bool:
        """Whether every turn ran."""
        return self.error is None


def create_driver(
    scenario: Scenario,
    mode: str,
    client: openai.OpenAI | openai.AsyncOpenAI,
    *,
    driver: str | None = None,
) -> Driver:
    """Instantiate the driver of ``mode`` on ``client``; ``driver`` (else the scenario's) is used in ``custom`` only."""
    if mode == "custom":
        return _custom.CustomDriver(client, scenario, driver)
    # A built-in mode ignores the custom driver, so a driver's scenario can also run in a reference mode.
    return get(mode)(client, scenario)


def drive(
    scenario: Scenario,
    mode: str,
    *,
    options: ClientOptions,
    traffic: TrafficLog,
    driver: str | None = None,
) -> DriveResult:
    """Run every turn of ``scenario`` in ``mode``, logging the traffic; stops at the first turn that raises.

    Configuration problems (unknown mode, bad custom driver, a compact step in ``manual_chat``) raise
    ``ConfigError`` before any request; a turn's exception is returned as ``DriveResult.error``.
    """
    if mode != "custom":
        # Fail on a typo before building a client.
        get(mode).check_scenario(scenario)
    client = make_client(options, traffic)
    coro = _drive(scenario, mode, client, traffic, driver)
    if options.use_async:
        return _run_async(coro)
    return run_sync(coro)


async def _drive(
    scenario: Scenario,
    mode: str,
    client: openai.OpenAI | openai.AsyncOpenAI,
    traffic: TrafficLog,
    driver_spec: str | None,
) -> DriveResult:
    result = DriveResult(mode=mode)
    try:
        driver = create_driver(scenario, mode, client, driver=driver_spec)
        is_async = isinstance(client, openai.AsyncOpenAI)
        for turn in scenario.turns:
            traffic.turn = turn.index
            try:
                # With a sync client each turn is finished on its own, so a turn that needs an event loop
                # fails as that turn.
                reply = await driver.aturn(turn) if is_async else driver.turn(turn)
            except Exception as exc:
                # KeyboardInterrupt, SystemExit and cancellation are not Exceptions: they propagate.
                result.error = DriveFailure(turn=turn.index, exception=exc)
                break
            result.replies.append(reply)
    finally:
        traffic.turn = None
        if isinstance(client, openai.AsyncOpenAI):
            await client.close()
        else:
            client.close()
    return result


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a fresh event loop (in a worker thread when this thread already runs one)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="convotest-drive") as pool:
        return pool.submit(asyncio.run, coro).result()
