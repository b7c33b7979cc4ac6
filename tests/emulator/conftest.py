"""Fixtures for the emulator tests: one emulator over real HTTP for the session, and SDK clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openai import OpenAI

from convotest.emulator import EmulatorConfig
from convotest.emulator.server import EmulatorServer


@pytest.fixture(scope="session")
def server() -> Iterator[EmulatorServer]:
    """The shared emulator (in memory, seed 0)."""
    with EmulatorServer() as srv:
        yield srv


@pytest.fixture(scope="session")
def client(server: EmulatorServer) -> OpenAI:
    """The real SDK pointed at the shared emulator, without retries (errors surface at once)."""
    return OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)


@pytest.fixture
def fresh() -> Iterator[Callable[..., EmulatorServer]]:
    """Start emulators with their own state (``fresh(config)``); all stopped at teardown."""
    started: list[EmulatorServer] = []

    def start(config: EmulatorConfig | None = None, **kwargs: Any) -> EmulatorServer:
        srv = EmulatorServer(config or EmulatorConfig(**kwargs)).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
