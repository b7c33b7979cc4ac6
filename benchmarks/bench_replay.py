"""1. Replay: convotest vs the same SDK calls as plain pytest tests replayed by pytest-recording.

Both arms replay the same conversations from cassettes recorded against the emulator:

* convotest: ``pytest scenarios`` (the generated ``*.convo.yaml`` files, every mode, record mode none);
* baseline: generated ``test_*.py`` modules, one ``@pytest.mark.vcr`` test per (scenario, mode), each
  making the SDK calls convotest's drivers made (bodies taken from convotest's cassettes, server ids read
  from the earlier responses as a hand-written test would), replayed by pytest-recording matching on
  method, path and body, from cassettes it recorded itself (``--record-mode=once``).

Each arm runs with plugin autoload off and only its own plugin, so neither pays for unrelated plugins.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import gen
from benchmarks.common import (
    Context,
    Result,
    Target,
    clean_env,
    fmt,
    gc_probe,
    interleaved,
    median,
    profile_pytest,
    profile_table,
    pytest_cmd,
    ratio,
    run_checked,
)
from benchmarks.corpus import CONVO_PLUGIN, RECORDING_PLUGIN, recorded_corpus


def write_baseline(corpus: Path, folder: Path) -> int:
    """The plain-pytest equivalent of every recorded (scenario, mode); returns the number of tests."""
    from convotest.traffic import load_cassette_exchanges

    gen.write_ini(folder)
    (folder / "conftest.py").write_text(gen.VCR_CONFTEST, encoding="utf-8")
    count = 0
    for stem_dir in sorted((corpus / "cassettes").iterdir()):
        tests: dict[str, list[str]] = {}
        for mode in gen.ALL_MODES:
            cassette = stem_dir / stem_dir.name / f"{mode}.yaml"
            exchanges, _ = load_cassette_exchanges(cassette)
            tests[mode] = gen.sdk_calls(exchanges)
        gen.write_plain_test(folder / f"test_{stem_dir.name}.py", tests)
        count += len(tests)
    return count


def run(ctx: Context) -> Result:
    size = ctx.size
    corpus = recorded_corpus(ctx, size.replay_scenarios, size.turns)
    base = ctx.dir("replay_baseline")
    tests = write_baseline(corpus, base)

    ctx.log(f"recording the {tests} equivalent plain tests with pytest-recording (--record-mode=once)")
    from convotest.emulator.server import EmulatorServer

    with EmulatorServer() as server:
        env = clean_env({"BENCH_BASE_URL": server.base_url})
        run_checked(pytest_cmd(*RECORDING_PLUGIN, "--record-mode=once"), base, env=env)

    def convotest_arm() -> None:
        run_checked(pytest_cmd(*CONVO_PLUGIN, "scenarios"), corpus)

    def baseline_arm() -> None:
        run_checked(pytest_cmd(*RECORDING_PLUGIN), base)

    ctx.log(f"replaying {tests} items per arm, {size.repeats} times each, interleaved")
    # No warm-up run: the two recording runs just imported (and byte-compiled) everything both arms use.
    times = interleaved({"convotest": convotest_arm, "pytest-recording": baseline_arm}, size.repeats, warmup=False)
    conv, plain = median(times["convotest"]), median(times["pytest-recording"])
    conv_cpu, plain_cpu = median(times.cpu["convotest"]), median(times.cpu["pytest-recording"])
    items = tests
    requests = _requests(corpus)
    result = Result(1, f"Replay: {items} items ({size.replay_scenarios} scenarios × 4 modes × {size.turns} turns)")
    result.table = [["arm", "wall time (median)", "per item", "CPU time (median)", "wall times of the runs"]]
    for name, label, wall, cpu in (
        ("convotest", "convotest (`pytest scenarios`)", conv, conv_cpu),
        ("pytest-recording", "pytest-recording, body matching", plain, plain_cpu),
    ):
        per_item = f"{wall / items * 1000:.1f} ms"
        result.table.append([label, f"{wall:.2f} s", per_item, f"{cpu:.2f} s", _runs(times[name])])
    result.targets = [Target("convotest / pytest-recording wall time", ratio(conv, plain), 1.0)]
    result.notes = [
        f"Both arms replay the same {requests:,} HTTP interactions through the openai SDK; convotest also "
        "rebuilds every turn's context, counts its tokens and checks the scenario's expectations, which the "
        "baseline does not. Each arm is a fresh `pytest` process with only its own plugin loaded.",
        f"CPU time ratio (less sensitive to other load on the machine): {ratio(conv_cpu, plain_cpu):.2f}×.",
    ]
    if not result.targets[0].holds:
        result.notes += _why_missed(corpus, base)
    return result


def _why_missed(corpus: Path, base: Path) -> list[str]:
    """Where convotest's extra time goes: the garbage collector's share in each arm, and a profile."""
    notes = []
    probes = {name: gc_probe(args, cwd) for name, args, cwd in _arms(corpus, base)}
    if all(probes.values()):
        rows = [
            "| arm | cyclic GC time | collections (gen 0, 1, 2) | GC-tracked objects at exit |",
            "|---|---|---|---|",
        ]
        for name, (seconds, counts, objects) in probes.items():  # type: ignore[misc]
            rows.append(f"| {name} | {seconds:.2f} s | {counts} | {objects:,} |")
        notes.append("Python's cyclic garbage collector in each arm (one more run of each):\n\n" + "\n".join(rows))
    notes.append(
        "Why it can miss: in-process, convotest's per-item replay costs less CPU than pytest-recording's (vcrpy "
        "compares every recorded request's body with each request, and builds a diff for each that differs; "
        "convotest looks requests up by key). What it adds is per process and per run: loading the tokenizer "
        "(tiktoken's o200k file, ~0.5 s), importing deepdiff (~0.3 s, for failure diffs only) and jsonschema, "
        "and keeping every item's result — transcript and parsed traffic — until the session ends, for the "
        "summary and reports: a larger heap makes each full collection of the cyclic GC slower (table above). "
        "Those live in the plugin, the tokenizer loader and `context.py`, not in the benchmarked replay path."
    )
    notes.append(
        profile_table(
            profile_pytest((*CONVO_PLUGIN, "scenarios"), corpus),
            "Profile of one convotest replay run (cProfile, top entries by own time):",
        )
    )
    return notes


def _arms(corpus: Path, base: Path) -> list[tuple[str, tuple[str, ...], Path]]:
    return [("convotest", (*CONVO_PLUGIN, "scenarios"), corpus), ("pytest-recording", RECORDING_PLUGIN, base)]


def _runs(values: list[float]) -> str:
    return ", ".join(fmt(v) for v in values)


def _requests(corpus: Path) -> int:
    total = 0
    for path in (corpus / "cassettes").rglob("*.yaml"):
        with path.open(encoding="utf-8") as handle:
            total += sum(1 for line in handle if line.startswith("- request:"))
    return total
