"""Every mode records through vcrpy underneath the observing transport and replays offline, sync or async."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from convotest.scenario.model import ALL_MODES, RESPONSES_MODES

runner = pytest.importorskip("convotest.runner")

#: Nothing listens on the discard port: a request that is not replayed fails instead of reaching a server.
DEAD = "http://127.0.0.1:9/v1"


def steps_for(h: Any, mode: str) -> list[Any]:
    steps: list[Any] = ["My name is Ada.", [("developer", "Be terse."), ("user", "I like tea.")]]
    if mode in RESPONSES_MODES:
        steps.append(h.Compact())
    steps.append("What is my name?")
    return steps


@pytest.mark.parametrize("stream", [False, True], ids=["unstreamed", "streamed"])
@pytest.mark.parametrize("mode", ALL_MODES)
def test_record_then_replay_offline(h: Any, emulator_url: str, tmp_path: Path, mode: str, stream: bool) -> None:
    scenario = h.build(*steps_for(h, mode), model="gpt-5-mini", instructions="Be brief.", params={"stream": stream})
    record = runner.Settings(record_mode="once", cassette_dir=tmp_path, base_url=emulator_url, api_key="sk-test")
    recorded = runner.run(scenario, mode, record)
    assert recorded.failures == []
    assert recorded.cassette_status == "recorded"

    # A dead port now: every request must be answered from the cassette, for a sync or async client.
    for use_async in (False, True):
        replay = runner.Settings(
            record_mode="none", cassette_dir=tmp_path, base_url=DEAD, api_key="sk-test", use_async=use_async
        )
        replayed = runner.run(scenario, mode, replay)
        assert replayed.failures == [], [f.headline() for f in replayed.failures]
        assert replayed.cassette_status == "replayed"
        assert [t.reply for t in replayed.transcript.turns] == [t.reply for t in recorded.transcript.turns]
