"""2. Long conversations: replay cost per turn and cassette bytes at 10, 100 and 1,000 turns.

``manual_responses`` (the whole history resent every turn, ``store: false``) and ``previous_response_id``
(only the new message, chained by id). Each conversation sends exactly the requests convotest's driver of
that mode sends (same bodies, built from the responses the same way), with a plain ``httpx2`` client rather
than the openai SDK: the SDK's own request building (``maybe_transform`` walks the whole history every turn)
costs the same with any cassette tool, and at 1,000 manual turns it alone takes the better part of an hour
on this machine. What is timed is therefore the cassette tool and what runs on top of it.

Recorded once against the emulator with convotest's cassette layer, and once with plain vcrpy (its own
YAML serializer). Replay is timed in-process:

* convotest: ``recording.open_cassette`` (indexed matching on method, path and normalised body), the
  conversation, then what the runner does after driving — ``reconstruct.build_transcript``,
  ``tokens.annotate`` and the expectation checks;
* plain vcrpy: ``vcr.use_cassette(record_mode="none")`` around the same conversation, with vcrpy's default
  matching (method, scheme, host, port, path, query — it does not compare bodies);
* the client alone: the same conversation against an in-memory transport answering with the recorded
  responses — the application's own cost per turn, which grows with a resent history whatever replays it.
  The targets are on replay's cost: convotest's time minus this (the wall time ratio is quoted beside).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import gen
from benchmarks.common import Context, Result, Target, fmt, median, profile_call, profile_table, ratio, timed

MODES = ("manual_responses", "previous_response_id")
_REPLAY_URL = "http://emulator.convotest/v1"


@dataclass
class Recorded:
    """One long conversation recorded both ways."""

    mode: str
    turns: int
    scenario: Any
    convo_cassette: Path
    vcr_cassette: Path
    #: The base URL plain vcrpy recorded (its default matching compares host and port).
    base_url: str


class Conversation:
    """The requests the mode's driver sends, turn by turn (see ``convotest/drivers/<mode>.py``)."""

    def __init__(self, scenario: Any, mode: str) -> None:
        self.scenario = scenario
        self.mode = mode
        self.history: list[dict[str, Any]] = []
        self.last_id: str | None = None

    def body(self, text: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.scenario.model}
        if self.scenario.instructions is not None:
            body["instructions"] = self.scenario.instructions
        if self.mode == "manual_responses":
            self.history.append({"role": "user", "content": text})
            body.update(input=list(self.history), store=False, include=["reasoning.encrypted_content"])
        else:
            body["input"] = [{"role": "user", "content": text}]
            if self.last_id is not None:
                body["previous_response_id"] = self.last_id
        return body

    def answer(self, response: dict[str, Any]) -> None:
        if self.mode == "manual_responses":
            self.history.extend(response["output"])
        else:
            self.last_id = response["id"]

    def run(self, client: Any, traffic: Any = None) -> None:
        for turn in self.scenario.turns:
            if traffic is not None:
                traffic.turn = turn.index
            response = client.post("/responses", json=self.body(turn.messages[0].content))
            if response.status_code != 200:
                raise RuntimeError(f"turn {turn.number}: HTTP {response.status_code}: {response.text[:300]}")
            self.answer(response.json())
        if traffic is not None:
            traffic.turn = None


def _client(base_url: str, traffic: Any = None) -> Any:
    import httpx2

    from convotest.drivers.client import ObservingTransport

    transport = httpx2.HTTPTransport()
    return httpx2.Client(
        base_url=base_url,
        headers={"authorization": "Bearer x"},
        transport=ObservingTransport(transport, traffic) if traffic is not None else transport,
        timeout=600,
    )


def _header(scenario: Any, mode: str) -> dict[str, Any]:
    from importlib import metadata

    from convotest import __version__

    return {
        "format": 1,
        "convotest": __version__,
        "openai": metadata.version("openai"),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "scenario": scenario.name,
        "file": Path(scenario.path).name,
        "mode": mode,
        "model": scenario.model,
    }


def _scenario(folder: Path, mode: str, turns: int) -> Any:
    from convotest.scenario.loader import load_file

    path = folder / f"long_{turns}.convo.yaml"
    # A token budget on every turn, and the generated per-turn expectations (reply, status, context).
    text = gen.scenario_yaml(f"long_{turns}", 1, turns, [mode])
    path.write_text(text.replace("input_max: 120000", "input_max: 10000000"), encoding="utf-8")
    return load_file(path)[0]


def record(ctx: Context, mode: str, turns: int) -> Recorded:
    """Record (or reuse) the ``turns``-turn conversation in ``mode``, with convotest and with plain vcrpy."""
    import vcr

    from convotest.drivers.client import TrafficLog
    from convotest.emulator.server import EmulatorServer
    from convotest.recording.scrub import Scrubber
    from convotest.recording.vcr_backend import open_cassette
    from convotest.runner import EMULATOR_HOST

    folder = ctx.work / "long" / f"{mode}-{turns}"
    marker = folder / "recorded.json"
    if folder.exists() and not marker.is_file():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scenario = _scenario(folder, mode, turns)
    convo, plain = folder / "convotest.yaml", folder / "vcrpy.yaml"
    if marker.is_file():
        return Recorded(mode, turns, scenario, convo, plain, json.loads(marker.read_text())["base_url"])
    ctx.log(f"recording {mode} × {turns:,} turns (convotest and plain vcrpy)")
    with EmulatorServer() as server:
        traffic = TrafficLog()
        netloc = server.base_url.split("//", 1)[1].split("/", 1)[0]
        with open_cassette(
            convo,
            record_mode="rewrite",
            scrubber=Scrubber.from_config(),
            header=_header(scenario, mode),
            turn_source=lambda: traffic.turn,
            host_alias=(netloc, EMULATOR_HOST),
        ) as session:
            Conversation(scenario, mode).run(_client(server.base_url, traffic), traffic)
            session.keep()
    with EmulatorServer() as server, vcr.use_cassette(str(plain), record_mode="all"):
        Conversation(scenario, mode).run(_client(server.base_url))
        base_url = server.base_url
    marker.write_text(json.dumps({"base_url": base_url}))
    return Recorded(mode, turns, scenario, convo, plain, base_url)


def replay_convotest(rec: Recorded) -> Callable[[], None]:
    """Replay with convotest's cassette layer, then reconstruct, count tokens and check, as the runner does."""
    from convotest import assertions, tokens
    from convotest.drivers.client import TrafficLog
    from convotest.reconstruct import build_transcript
    from convotest.recording.scrub import Scrubber
    from convotest.recording.vcr_backend import open_cassette

    limits = tokens.model_limits(rec.scenario.model)

    def go() -> None:
        traffic = TrafficLog()
        with open_cassette(
            rec.convo_cassette,
            record_mode="none",
            scrubber=Scrubber.from_config(),
            header=_header(rec.scenario, rec.mode),
            turn_source=lambda: traffic.turn,
        ) as session:
            Conversation(rec.scenario, rec.mode).run(_client(_REPLAY_URL, traffic), traffic)
            session.keep()
        transcript = build_transcript(traffic.exchanges)
        tokens.annotate(transcript, limits=limits, params=rec.scenario.params)
        failures = assertions.check_turns(rec.scenario, rec.mode, transcript)
        failures += tokens.check_tokens(rec.scenario, rec.mode, transcript)
        if failures or len(transcript.turns) != rec.turns:
            raise RuntimeError(f"convotest replay of {rec.mode} × {rec.turns} failed: {failures[:1]}")

    return go


def client_only(rec: Recorded) -> Callable[[], None]:
    """The same conversation against an in-memory transport answering with the recorded responses.

    No cassette tool at all: what the application's own requests cost (building and encoding each body,
    decoding each response), which any tool's figure includes.
    """
    import httpx2

    from convotest.recording import cassette_format

    data = cassette_format.deserialize(rec.convo_cassette.read_text(encoding="utf-8"))
    bodies = [i["response"]["body"]["string"] for i in data["interactions"]]

    def go() -> None:
        answers = iter(bodies)

        def answer(request: Any) -> Any:
            request.read()
            return httpx2.Response(200, content=next(answers), headers={"content-type": "application/json"})

        client = httpx2.Client(base_url=_REPLAY_URL, transport=httpx2.MockTransport(answer))
        Conversation(rec.scenario, rec.mode).run(client)

    return go


def replay_vcrpy(rec: Recorded) -> Callable[[], None]:
    import vcr

    def go() -> None:
        with vcr.use_cassette(str(rec.vcr_cassette), record_mode="none"):
            Conversation(rec.scenario, rec.mode).run(_client(rec.base_url))

    return go


def run(ctx: Context) -> Result:
    size = ctx.size
    recorded = {(mode, turns): record(ctx, mode, turns) for mode in MODES for turns in size.long_turns}
    if size.warmup:  # imports, first-call paths
        for mode in MODES:
            replay_convotest(recorded[(mode, size.long_turns[0])])()
            replay_vcrpy(recorded[(mode, size.long_turns[0])])()
    per_turn: dict[tuple[str, int, str], float] = {}
    result = Result(2, "Long conversations: replay per turn and cassette size")
    result.table = [
        [
            "mode",
            "turns",
            "convotest per turn",
            "plain vcrpy per turn",
            "convotest / vcrpy",
            "client alone per turn",
            "convotest minus client",
            "convotest cassette",
            "vcrpy cassette",
        ]
    ]
    for (mode, turns), rec in recorded.items():
        # Short conversations replay in milliseconds: run them more often, so their median is as steady.
        repeats = min(size.repeats, 2) if turns >= 1000 else size.repeats * min(15, 1000 // turns)
        conv_times, plain_times, own_times = [], [], []
        arms = (replay_convotest(rec), replay_vcrpy(rec), client_only(rec))
        for _ in range(repeats):
            for times, arm in zip((conv_times, plain_times, own_times), arms, strict=True):
                times.append(timed(arm)[0])
        conv, plain, own = median(conv_times), median(plain_times), median(own_times)
        per_turn[(mode, turns, "convotest")] = conv / turns
        per_turn[(mode, turns, "vcrpy")] = plain / turns
        per_turn[(mode, turns, "client")] = own / turns
        ctx.log(f"{mode} × {turns:,}: convotest {conv:.2f} s, vcrpy {plain:.2f} s, client alone {own:.2f} s")
        result.table.append(
            [
                mode,
                f"{turns:,}",
                f"{conv / turns * 1000:.2f} ms",
                f"{plain / turns * 1000:.2f} ms",
                f"{ratio(conv, plain):.2f}×",
                f"{own / turns * 1000:.2f} ms",
                f"{max(conv - own, 0) / turns * 1000:.2f} ms",
                _kb(rec.convo_cassette),
                _kb(rec.vcr_cassette),
            ]
        )
    low, high = size.long_turns[0], size.long_turns[-1]

    def added(mode: str, turns: int) -> float:
        """Replay cost per turn: convotest's time minus the application's own (the client alone)."""
        return max(per_turn[(mode, turns, "convotest")] - per_turn[(mode, turns, "client")], 1e-9)

    for mode in MODES:
        gross = ratio(per_turn[(mode, high, "convotest")], per_turn[(mode, low, "convotest")])
        result.targets.append(
            Target(
                f"{mode}: replay cost per turn at {high:,} / at {low:,} turns (the client's own request building "
                f"excluded; wall time per turn with it: {fmt(gross)}×)",
                ratio(added(mode, high), added(mode, low)),
                1.5,
            )
        )
    manual = recorded[("manual_responses", high)].convo_cassette.stat().st_size
    chained = recorded[("previous_response_id", high)].convo_cassette.stat().st_size
    result.targets.append(
        Target(f"{high:,}-turn cassette bytes, manual_responses / previous_response_id", ratio(manual, chained), 3.0)
    )
    vcr_growth = {mode: ratio(per_turn[(mode, high, "vcrpy")], per_turn[(mode, low, "vcrpy")]) for mode in MODES}
    vcr_manual = recorded[("manual_responses", high)].vcr_cassette.stat().st_size

    result.notes = [
        '"Client alone" is the same conversation against an in-memory transport that answers with the recorded '
        "responses, no cassette tool at all: the application's own cost of building, encoding and sending each "
        "request. In manual_responses it grows with the history (each body is JSON-encoded from all the items so "
        f"far): {per_turn[('manual_responses', low, 'client')] * 1000:.2f} ms per turn at {low:,} turns, "
        f"{per_turn[('manual_responses', high, 'client')] * 1000:.2f} ms at {high:,}, whatever replays it. The "
        'targets compare what replay adds to that ("convotest minus client"): matching, the traffic log, '
        "reconstruction, token accounting and the checks.",
        f"Plain vcrpy's per-turn growth from {low:,} to {high:,} turns on the same traffic: "
        + ", ".join(f"{mode} {fmt(g)}×" for mode, g in vcr_growth.items())
        + f". Its {high:,}-turn manual_responses cassette is {fmt(ratio(vcr_manual, manual))}× the size of "
        "convotest's: it stores the whole history again in every request, convotest stores each request's "
        "history as the items added since the previous one (`extends`) with repeated items as YAML aliases.",
        "Requests are sent with a plain `httpx2` client (same bodies as the drivers): with the openai SDK, "
        "`responses.create(input=history)` adds the SDK's own per-turn cost, which grows with the history "
        "(its `maybe_transform` walks every item every turn) whatever the cassette tool.",
    ]
    missed = [mode for mode in MODES if not result.targets[MODES.index(mode)].holds]
    if missed:
        rec = recorded[(missed[0], high)]
        result.notes.append(_WHY.get(missed[0], ""))
        result.notes.append(
            profile_table(
                profile_call(replay_convotest(rec)),
                f"Profile of one convotest replay of the {high:,}-turn {missed[0]} conversation (cProfile, top "
                "entries by own time):",
            )
        )
    return result


_WHY = {
    "manual_responses": (
        'Why manual_responses misses: see "client alone" above — the part of each turn that grows with the '
        "history is the application's own request (encoding about 2,000 items at turn 1,000). convotest's "
        "matching keys a resent history item by item, parses only what a body adds to the one before "
        "(`convotest/incremental_json.py`), and keys recorded requests from their `extends` deltas; "
        "reconstruction and token accounting reuse the previous turn's items. The profile below shows what "
        "remains."
    ),
}


def _kb(path: Path) -> str:
    size = path.stat().st_size
    if size >= 10 * 1024 * 1024:
        return f"{size / 1024 / 1024:,.0f} MB"
    return f"{size / 1024:,.0f} KB" if size >= 10 * 1024 else f"{size / 1024:.1f} KB"
