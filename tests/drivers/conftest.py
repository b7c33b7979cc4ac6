"""Fixtures for the driver tests: the project's emulator over real HTTP, scenario building, driving."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from convotest.drivers import ClientOptions, DriveResult, drive
from convotest.drivers.client import TrafficLog
from convotest.errors import SourceLoc
from convotest.scenario.model import Message, Scenario, ServerCompaction, Turn
from convotest.transcript import Exchange

HERE = Path(__file__).parent


class Compact:
    """Marks a compact step in ``build(...)``."""

    def __init__(self, instructions: str | None = None) -> None:
        self.instructions = instructions


def build(
    *steps: str | Compact | list[tuple[str, str]],
    model: str = "gpt-4.1",
    instructions: str | None = None,
    params: dict[str, Any] | None = None,
    driver: str | None = None,
    server_compaction: int | None = None,
    name: str = "drivers-test",
) -> Scenario:
    """A scenario: a str is a user turn, a list of (role, text) an input turn, ``Compact()`` a compact step."""
    path = str(HERE / f"{name}.convo.yaml")
    turns: list[Turn] = []
    for i, step in enumerate(steps):
        loc = SourceLoc(path, 10 + i, 5)
        if isinstance(step, Compact):
            turns.append(Turn(i, "compact", (), step.instructions, loc=loc))
        elif isinstance(step, str):
            turns.append(Turn(i, "user", (Message("user", step),), loc=loc))
        else:
            turns.append(Turn(i, "input", tuple(Message(r, t) for r, t in step), loc=loc))
    return Scenario(
        name=name,
        path=path,
        model=model,
        turns=tuple(turns),
        modes=("custom",) if driver else ("manual_chat",),
        instructions=instructions,
        params=dict(params or {}),
        driver=driver,
        server_compaction=ServerCompaction(server_compaction) if server_compaction else None,
        loc=SourceLoc(path, 1, 1),
        locs={"driver": SourceLoc(path, 4, 9)} if driver else {},
    )


@pytest.fixture(scope="session")
def emulator_url() -> Iterator[str]:
    """The base URL (``…/v1``) of one emulator for the whole session."""
    server_mod = pytest.importorskip("convotest.emulator.server", reason="convotest.emulator not built yet")
    with server_mod.EmulatorServer() as srv:
        yield _v1(srv.base_url)


@pytest.fixture
def fresh_emulator() -> Callable[[], Any]:
    """Start a new emulator (fresh state, seed 0: the same requests get the same ids); stopped at teardown."""
    server_mod = pytest.importorskip("convotest.emulator.server", reason="convotest.emulator not built yet")
    servers: list[Any] = []

    def start() -> str:
        srv = server_mod.EmulatorServer()
        srv.__enter__()
        servers.append(srv)
        return _v1(srv.base_url)

    yield start
    for srv in servers:
        srv.__exit__(None, None, None)


def _v1(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


Runner = Callable[..., tuple[DriveResult, TrafficLog]]


@pytest.fixture
def run(emulator_url: str) -> Runner:
    """``run(scenario, mode, base_url=None, use_async=False, driver=None) -> (result, traffic)``."""

    def _run(
        scenario: Scenario,
        mode: str,
        *,
        base_url: str | None = None,
        use_async: bool = False,
        driver: str | None = None,
    ) -> tuple[DriveResult, TrafficLog]:
        traffic = TrafficLog()
        options = ClientOptions(base_url=base_url or emulator_url, api_key="sk-test", use_async=use_async)
        result = drive(scenario, mode, options=options, traffic=traffic, driver=driver)
        return result, traffic

    return _run


@pytest.fixture
def drivers_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``broken.<module>:Bot`` and ``custom_examples.<module>:<Class>`` importable, freshly imported."""
    monkeypatch.syspath_prepend(str(HERE))
    for name in [m for m in sys.modules if m.split(".")[0] in ("broken", "custom_examples")]:
        monkeypatch.delitem(sys.modules, name)


def model_calls(traffic: TrafficLog) -> list[Exchange]:
    """The model calls of a run, in order."""
    return [e for e in traffic.exchanges if e.is_model_call]


def reply_of(exchange: Exchange) -> str:
    """The assistant text of a model call (chat or responses, streamed or not)."""
    body = final_body(exchange)
    if "choices" in body:
        return str(body["choices"][0]["message"]["content"])
    return "".join(
        part["text"]
        for item in body["output"]
        if item.get("type") == "message"
        for part in item["content"]
        if part.get("type") == "output_text"
    )


def final_body(exchange: Exchange) -> dict[str, Any]:
    """The response body, or for a streamed call the final object the stream carried."""
    if exchange.events is None:
        assert isinstance(exchange.response, dict), exchange
        return exchange.response
    datas = [e["data"] for e in exchange.events if isinstance(e["data"], dict)]
    if datas and datas[0].get("object") == "chat.completion.chunk":
        content = "".join(
            c["delta"].get("content") or "" for d in datas for c in d.get("choices", []) if c["index"] == 0
        )
        finish = [c["finish_reason"] for d in datas for c in d.get("choices", []) if c.get("finish_reason")]
        usage = next((d["usage"] for d in reversed(datas) if d.get("usage")), None)
        return {
            "choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": finish[-1]}],
            "usage": usage,
        }
    terminal = [d for d in datas if d.get("type") in ("response.completed", "response.incomplete")]
    assert terminal, exchange.events
    body = terminal[-1]["response"]
    assert isinstance(body, dict)
    return body


_SEEN = re.compile(r"I have seen (\d+) messages")


def seen(text: str) -> int:
    """The ``n`` of an emulator reply."""
    found = _SEEN.search(text)
    assert found, text
    return int(found.group(1))


@pytest.fixture
def h() -> SimpleNamespace:
    """The helpers above, for tests (conftest is not importable by name under every import mode)."""
    return SimpleNamespace(
        build=build,
        Compact=Compact,
        model_calls=model_calls,
        reply_of=reply_of,
        final_body=final_body,
        seen=seen,
    )
