"""Live-mode faults: against an emulator that injects 429s and 5xx answers, or answers slowly, the SDK's retries
are honoured (and visible in the traffic), a timeout or exhausted retries fail the turn with a clear message,
and nothing partial is ever saved as a cassette.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import SHIPPED

from convotest.emulator.config import EmulatorConfig, FaultConfig
from convotest.emulator.server import EmulatorServer
from convotest.plugin import render_failures
from convotest.runner import RunResult, Settings, run
from convotest.scenario.loader import load_file
from convotest.scenario.model import Scenario

MODE = "manual_chat"


@pytest.fixture
def jokes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scenario:
    """The shipped ``jokes`` scenario (two turns), copied into the test's own folder, which is the cwd."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(SHIPPED / "jokes.convo.yaml", tmp_path)
    [scenario] = load_file("jokes.convo.yaml")
    return scenario


def faulty(**faults: Any) -> EmulatorServer:
    return EmulatorServer(EmulatorConfig(faults=FaultConfig(**faults)))


def settings(server: EmulatorServer, *, live: bool = False, **extra: Any) -> Settings:
    return Settings(
        record_mode="none" if live else "rewrite",
        live=live,
        emulator=True,
        base_url=server.base_url,
        cassette_dir=Path("cassettes"),
        rootdir=Path.cwd(),
        **extra,
    )


def traffic(result: RunResult) -> list[tuple[int, int | None]]:
    """(HTTP status, scenario turn) of every exchange of the run, retries included."""
    assert result.transcript is not None
    return [(e.status, e.turn) for e in result.transcript.exchanges]


CASSETTE = Path("cassettes/jokes/jokes/manual_chat.yaml")

#: name → (faults, what the traffic looks like): the SDK retries (max_retries=2, its default) until it succeeds.
#: A 429 carries ``retry-after``, which the SDK waits; 5xx answers have none, so it backs off (~0.5 s, then ~1 s).
RETRIED = {
    "429 twice": ({"status": 429, "first": 2, "retry_after": 0.01}, [(429, 0), (429, 0), (200, 0), (200, 1)]),
    "500 every second request": ({"status": 500, "every": 2}, [(200, 0), (500, 1), (200, 1)]),
    "503 once": ({"status": 503, "first": 1}, [(503, 0), (200, 0), (200, 1)]),
    "502 once, slowly": ({"status": 502, "first": 1, "delay_ms": 50}, [(502, 0), (200, 0), (200, 1)]),
}


@pytest.mark.parametrize("live", [True, False], ids=["live", "recording"])
@pytest.mark.parametrize("case", list(RETRIED))
def test_the_sdk_retries_through_injected_faults(case: str, live: bool, jokes: Scenario) -> None:
    faults, expected = RETRIED[case]
    with faulty(**faults) as server:
        result = run(jokes, MODE, settings(server, live=live))
    assert result.failures == []
    assert traffic(result) == expected
    if live:
        assert result.cassette is None and result.cassette_status == "live"
        assert not Path("cassettes").exists()
        return
    # The cassette keeps the failed attempts too, so replay retries exactly as the recording did.
    assert result.cassette_status == "recorded" and CASSETTE.is_file()
    replay = run(jokes, MODE, Settings(cassette_dir=Path("cassettes"), rootdir=Path.cwd()))
    assert replay.failures == [] and replay.cassette_status == "replayed"
    assert traffic(replay) == expected


@pytest.mark.parametrize("live", [True, False], ids=["live", "recording"])
def test_exhausted_retries_fail_the_turn_and_save_nothing(live: bool, jokes: Scenario) -> None:
    with faulty(status=429, first=3, retry_after=0.01) as server:
        result = run(jokes, MODE, settings(server, live=live))
    assert traffic(result) == [(429, 0), (429, 0), (429, 0)]
    assert render_failures(result, rootdir=Path.cwd()) == (
        "jokes.convo.yaml:15: turn 1 [manual_chat]: RateLimitError: Error code: 429 - "
        "Rate limit reached for requests. Please try again later.\n"
        "    turn 1 (jokes.convo.yaml:15): user: 'Tell me a joke.'"
    )
    assert not Path("cassettes").exists()
    assert result.cassette_status == ("live" if live else "not_saved")


def test_a_failure_after_recorded_turns_leaves_the_previous_cassette(jokes: Scenario) -> None:
    """Turn 1 is recorded, turn 2 fails (a 500 and no retries left): the old cassette stays, byte for byte."""
    with EmulatorServer() as server:
        assert run(jokes, MODE, settings(server)).failures == []
    before = CASSETTE.read_bytes()
    with faulty(status=500, every=2) as server:
        result = run(jokes, MODE, settings(server, max_retries=0))
    assert traffic(result) == [(200, 0), (500, 1)]
    assert render_failures(result, rootdir=Path.cwd()) == (
        "jokes.convo.yaml:22: turn 2 [manual_chat]: InternalServerError: Error code: 500 - "
        "The server had an error while processing your request. Sorry about that!\n"
        "    turn 2 (jokes.convo.yaml:22): user: 'Tell me another.'"
    )
    assert result.cassette_status == "not_saved"
    assert CASSETTE.read_bytes() == before
    assert sorted(p.name for p in CASSETTE.parent.iterdir()) == ["manual_chat.yaml"]


@pytest.mark.parametrize(("live", "retries"), [(True, 0), (False, 1)], ids=["live", "recording-with-a-retry"])
def test_a_timeout_is_a_clear_per_turn_failure(retries: int, live: bool, jokes: Scenario) -> None:
    """The emulator answers after 0.8 s, the client waits 0.2 s: turn 1 fails, whatever the retries."""
    with faulty(delay_ms=800) as server:
        result = run(jokes, MODE, settings(server, live=live, timeout=0.2, max_retries=retries))
    assert render_failures(result, rootdir=Path.cwd()) == (
        "jokes.convo.yaml:15: turn 1 [manual_chat]: APITimeoutError: Request timed out.\n"
        "    turn 1 (jokes.convo.yaml:15): user: 'Tell me a joke.'"
    )
    assert [f.turn for f in result.failures] == [0]
    assert not Path("cassettes").exists()


def test_a_recording_that_times_out_is_reported_not_saved(jokes: Scenario) -> None:
    with faulty(delay_ms=800) as server:
        result = run(jokes, MODE, settings(server, timeout=0.2, max_retries=0))
    assert result.cassette_status == "not_saved"
