"""End to end against the emulator: a custom driver that forgets the compacted window is caught.

Runs live against the built-in emulator (no cassette, no network beyond localhost).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MODEL = "gpt-4.1-mini"
SCENARIO = """\
version: 1
name: forgetful
model: gpt-4.1-mini
driver: "{driver}"
turns:
  - user: "Plan a trip to Lisbon."
  - user: "Describe day one."
  - compact: {{}}
    expect:
      compaction:
        user_messages_verbatim: true
        compaction_items: 1
  - user: "Which city was it?"
"""


class _Driver:
    """Manual history over store:false; ``use_window`` decides whether compact() adopts the compacted output."""

    use_window = True

    def __init__(self, client: Any) -> None:
        self.client = client
        self.history: list[Any] = []

    def send(self, text: str) -> str:
        self.history.append({"role": "user", "content": text})
        response = self.client.responses.create(model=MODEL, input=self.history, store=False)
        self.history.extend(item.model_dump(exclude_none=True, warnings=False) for item in response.output)
        return str(response.output_text)

    def compact(self) -> None:
        compacted = self.client.responses.compact(model=MODEL, input=self.history)
        if self.use_window:
            self.history = [item.model_dump(exclude_none=True, warnings=False) for item in compacted.output]


class CarefulDriver(_Driver):
    """Continues from the compacted window."""


class ForgetfulDriver(_Driver):
    """Calls compact but keeps sending the full old history: the bug the continuation check exists for."""

    use_window = False


def _run(name: str, tmp_path: Path) -> Any:
    from convotest.runner import Settings, run
    from convotest.scenario.loader import load_text

    path = tmp_path / "forgetful.convo.yaml"
    (scenario,) = load_text(SCENARIO.format(driver=f"{__name__}:{name}"), path)
    return run(scenario, "custom", Settings(live=True, emulator=True, cassette_dir=tmp_path))


def test_careful_driver_passes(tmp_path: Path) -> None:
    result = _run("CarefulDriver", tmp_path)
    assert result.failures == []
    assert [t.endpoint for t in result.transcript.turns] == ["responses", "responses", "compact", "responses"]


def test_forgetful_driver_is_caught(tmp_path: Path) -> None:
    result = _run("ForgetfulDriver", tmp_path)
    continuation = result.failures
    # The compact response itself is fine: only the request after it is wrong.
    assert [(f.check, f.turn, f.mode) for f in continuation] == [("compaction.continuation", 3, "custom")]
    assert continuation[0].message.startswith(
        "after the compaction at turn 3: $.context[0]: the next request does not carry the compacted window: "
        "compaction item cmp_"
    )
    assert continuation[0].loc is not None and continuation[0].loc.line == 13
