"""The recorded scenario corpus that benchmarks 1 and 6 replay (recorded once, reused when it fits)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import gen
from benchmarks.common import Context, pytest_cmd, run_checked

CONVO_PLUGIN = ("-p", "convotest.plugin")
XDIST_PLUGIN = ("-p", "xdist.plugin")
RECORDING_PLUGIN = ("-p", "pytest_recording.plugin")


def recorded_corpus(ctx: Context, scenarios: int, turns: int) -> Path:
    """``scenarios`` files × 4 modes × ``turns`` turns, recorded against the emulator with convotest.

    Lives in ``work/corpus-<scenarios>x<turns>``; a marker file says the recording finished, so a second
    benchmark of the same size reuses it.
    """
    name = f"corpus-{scenarios}x{turns}"
    folder = ctx.work / name
    marker = folder / "corpus.json"
    wanted = {"scenarios": scenarios, "turns": turns, "modes": list(gen.ALL_MODES)}
    if marker.is_file() and json.loads(marker.read_text()) == wanted:
        return folder
    folder = ctx.dir(name)
    gen.write_ini(folder)
    gen.write_scenarios(folder / "scenarios", scenarios, turns)
    ctx.log(f"recording {scenarios} scenarios × 4 modes × {turns} turns with convotest against the emulator")
    run_checked(pytest_cmd(*CONVO_PLUGIN, "scenarios", "--convo-emulator", "--convo-record-mode=rewrite"), folder)
    marker.write_text(json.dumps(wanted))
    return folder
