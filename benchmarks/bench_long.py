"""2. Long conversations: replay cost per turn and cassette bytes at 10, 100 and 1,000 turns.

``manual_responses`` (the whole history resent every turn) and ``previous_response_id`` (only the new
message, chained by id). Each conversation is recorded once against the emulator with convotest, and once
with plain vcrpy (its own YAML serializer) driving the very same SDK calls (convotest's driver, without
convotest's cassette layer, reconstruction or checks). Replay is timed in-process (no pytest start-up):

* convotest: ``convotest.runner.run`` — cassette, SDK calls, reconstruction, token accounting, checks;
* plain vcrpy: ``vcr.use_cassette(record_mode="none")`` around the same driver, with vcrpy's default
  matching (method, scheme, host, port, path, query — it does not compare bodies).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import gen
from benchmarks.common import Context, Result, Target, fmt, median, ratio, timed

MODES = ("manual_responses", "previous_response_id")


@dataclass
class Recorded:
    """One long conversation recorded both ways."""

    mode: str
    turns: int
    scenario: Any
    cassette_dir: Path
    convo_cassette: Path
    vcr_cassette: Path
    base_url: str


def _scenario(folder: Path, mode: str, turns: int) -> Any:
    from convotest.scenario.loader import load_file

    path = folder / f"long_{turns}.convo.yaml"
    text = gen.scenario_yaml(f"long_{turns}", 1, turns, [mode], expectations=False)
    # One expectation on the last turn, so the checks run.
    text += f"expect:\n  tokens:\n    input_max: {10_000_000}\n"
    path.write_text(text, encoding="utf-8")
    return load_file(path)[0]


def record(ctx: Context, mode: str, turns: int) -> Recorded:
    """Record (or reuse) the ``turns``-turn conversation in ``mode``, with convotest and with plain vcrpy."""
    import vcr

    from convotest.drivers import ClientOptions, TrafficLog, drive
    from convotest.emulator.server import EmulatorServer
    from convotest.recording.paths import cassette_path
    from convotest.runner import Settings, run

    folder = ctx.work / "long" / f"{mode}-{turns}"
    marker = folder / "recorded.json"
    cassette_dir = folder / "cassettes"
    vcr_cassette = folder / "vcrpy.yaml"
    if folder.exists() and not marker.is_file():
        import shutil

        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scenario = _scenario(folder, mode, turns)
    convo_cassette = cassette_path(cassette_dir, scenario.file_stem, scenario.name, mode)
    if marker.is_file():
        base_url = json.loads(marker.read_text())["base_url"]
        return Recorded(mode, turns, scenario, cassette_dir, convo_cassette, vcr_cassette, base_url)
    ctx.log(f"recording {mode} × {turns} turns (convotest and plain vcrpy)")
    with EmulatorServer() as server:
        result = run(
            scenario, mode, Settings(record_mode="rewrite", cassette_dir=cassette_dir, base_url=server.base_url)
        )
        if result.failures:
            raise RuntimeError(f"recording {mode} × {turns} failed: {result.failures[0]}")
        base_url = server.base_url
        with vcr.use_cassette(str(vcr_cassette), record_mode="all"):
            outcome = drive(scenario, mode, options=ClientOptions(base_url=base_url, api_key="x"), traffic=TrafficLog())
        if outcome.error is not None:
            raise RuntimeError(f"vcrpy recording {mode} × {turns} failed: {outcome.error}")
    marker.write_text(json.dumps({"base_url": base_url}))
    return Recorded(mode, turns, scenario, cassette_dir, convo_cassette, vcr_cassette, base_url)


def replay_convotest(rec: Recorded) -> Callable[[], None]:
    from convotest.runner import Settings, run

    settings = Settings(record_mode="none", cassette_dir=rec.cassette_dir)

    def go() -> None:
        result = run(rec.scenario, rec.mode, settings)
        if result.failures or result.cassette_status != "replayed":
            raise RuntimeError(f"convotest replay of {rec.mode} × {rec.turns} failed: {result.failures[:1]}")

    return go


def replay_vcrpy(rec: Recorded) -> Callable[[], None]:
    import vcr

    from convotest.drivers import ClientOptions, TrafficLog, drive

    def go() -> None:
        with vcr.use_cassette(str(rec.vcr_cassette), record_mode="none"):
            outcome = drive(
                rec.scenario, rec.mode, options=ClientOptions(base_url=rec.base_url, api_key="x"), traffic=TrafficLog()
            )
        if outcome.error is not None:
            raise RuntimeError(f"vcrpy replay of {rec.mode} × {rec.turns} failed: {outcome.error.exception}")

    return go


def run(ctx: Context) -> Result:
    size = ctx.size
    recorded = {(mode, turns): record(ctx, mode, turns) for mode in MODES for turns in size.long_turns}
    # Warm up: imports, the tokenizer, the SDK's models.
    for rec in recorded.values():
        if size.warmup and rec.turns == size.long_turns[0]:
            replay_convotest(rec)()
            replay_vcrpy(rec)()
    per_turn: dict[tuple[str, int, str], float] = {}
    result = Result(2, "Long conversations: replay per turn and cassette size")
    result.table = [
        [
            "mode",
            "turns",
            "convotest per turn",
            "plain vcrpy per turn",
            "convotest / vcrpy",
            "convotest cassette",
            "vcrpy cassette",
        ]
    ]
    for (mode, turns), rec in recorded.items():
        repeats = size.repeats if turns < 1000 else max(1, min(size.repeats, 3))
        conv = median([timed(replay_convotest(rec))[0] for _ in range(repeats)])
        plain = median([timed(replay_vcrpy(rec))[0] for _ in range(repeats)])
        per_turn[(mode, turns, "convotest")] = conv / turns
        per_turn[(mode, turns, "vcrpy")] = plain / turns
        ctx.log(f"{mode} × {turns}: convotest {conv:.2f} s, vcrpy {plain:.2f} s")
        result.table.append(
            [
                mode,
                f"{turns:,}",
                f"{conv / turns * 1000:.2f} ms",
                f"{plain / turns * 1000:.2f} ms",
                f"{ratio(conv, plain):.2f}×",
                _kb(rec.convo_cassette),
                _kb(rec.vcr_cassette),
            ]
        )
    low, high = size.long_turns[0], size.long_turns[-1]
    for mode in MODES:
        growth = ratio(per_turn[(mode, high, "convotest")], per_turn[(mode, low, "convotest")])
        result.targets.append(Target(f"{mode}: per-turn replay at {high:,} / at {low:,} turns", growth, 1.5))
    manual = recorded[("manual_responses", high)].convo_cassette.stat().st_size
    chained = recorded[("previous_response_id", high)].convo_cassette.stat().st_size
    result.targets.append(
        Target(f"{high:,}-turn cassette bytes, manual_responses / previous_response_id", ratio(manual, chained), 3.0)
    )
    vcr_growth = {mode: ratio(per_turn[(mode, high, "vcrpy")], per_turn[(mode, low, "vcrpy")]) for mode in MODES}
    vcr_manual = recorded[("manual_responses", high)].vcr_cassette.stat().st_size
    result.notes = [
        f"Per-turn growth from {low:,} to {high:,} turns for plain vcrpy on the same traffic: "
        + ", ".join(f"{mode} {fmt(g)}×" for mode, g in vcr_growth.items())
        + f". Plain vcrpy's {high:,}-turn manual_responses cassette is {fmt(ratio(vcr_manual, manual))}× convotest's "
        "(it stores the whole history again in every request).",
    ]
    return result


def _kb(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1024:,.0f} KB" if size >= 10 * 1024 else f"{size / 1024:.1f} KB"
