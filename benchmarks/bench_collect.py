"""4. Collection: ``pytest --collect-only`` of scenario files vs trivial Python test files.

convotest: N ``*.convo.yaml`` files (one scenario, 4 modes, 8 turns with expectations each: 4 items per
file), each read, checked against the JSON Schema and the semantic rules. Baseline: N ``test_*.py`` files
with 4 trivial test functions each (the same number of items), imported and collected by pytest (their
bytecode cached after the warm-up run, as in any repeated run).
"""

from __future__ import annotations

from benchmarks import gen
from benchmarks.common import (
    Context,
    Result,
    Target,
    fmt,
    interleaved,
    median,
    profile_pytest,
    profile_table,
    pytest_cmd,
    ratio,
    run_checked,
)
from benchmarks.corpus import CONVO_PLUGIN

_TRIVIAL = "\n".join(f"def test_{k}():\n    assert {k} + 1 == {k + 1}\n\n" for k in range(4))


def run(ctx: Context) -> Result:
    n = ctx.size.collect_files
    folder = ctx.dir("collect")
    convo, plain = folder / "convo", folder / "plain"
    gen.write_ini(convo.parent)
    convo.mkdir()
    plain.mkdir()
    gen.write_ini(convo)
    gen.write_ini(plain)
    gen.write_scenarios(convo, n, ctx.size.turns)
    for i in range(n):
        (plain / f"test_{i:04d}.py").write_text(_TRIVIAL, encoding="utf-8")

    expected = f"{4 * n} tests collected"

    def convo_arm() -> None:
        out = run_checked(pytest_cmd(*CONVO_PLUGIN, "--collect-only"), convo)
        if expected not in out:
            raise RuntimeError(f"convotest collected something else than {expected}: {out[-300:]}")

    def plain_arm() -> None:
        out = run_checked(pytest_cmd("--collect-only"), plain)
        if expected not in out:
            raise RuntimeError(f"pytest collected something else than {expected}: {out[-300:]}")

    times = interleaved({"convotest": convo_arm, "pytest": plain_arm}, ctx.size.repeats, ctx.size.warmup)
    c, p = median(times["convotest"]), median(times["pytest"])
    c_cpu, p_cpu = median(times.cpu["convotest"]), median(times.cpu["pytest"])
    result = Result(4, f"Collection: {n:,} files, {4 * n:,} items (`pytest --collect-only -q`)")
    result.table = [
        ["files", "wall time (median)", "per file", "CPU time (median)", "wall times of the runs"],
        [
            f"{n:,} scenario files (collected and validated)",
            f"{c:.2f} s",
            f"{c / n * 1000:.2f} ms",
            f"{c_cpu:.2f} s",
            _runs(times["convotest"]),
        ],
        [
            f"{n:,} trivial Python test files",
            f"{p:.2f} s",
            f"{p / n * 1000:.2f} ms",
            f"{p_cpu:.2f} s",
            _runs(times["pytest"]),
        ],
    ]
    result.notes = [f"CPU time ratio: {ratio(c_cpu, p_cpu):.2f}×."]
    result.targets = [Target("scenario files / Python files", ratio(c, p), 1.5)]
    if not result.targets[0].holds:
        result.notes.append(
            "Why it misses: each scenario file is read with a source position for every value (libyaml's events, "
            "composed in Python), checked against the JSON Schema (jsonschema, pure Python) and the semantic "
            "rules, and turned into the scenario model — about 1 ms of CPU per file (`load_file` below) — and "
            "then pytest makes its 4 items, as for a Python file. A trivial Python test file costs pytest about "
            "1 ms in all, its bytecode being cached between runs. Closing the gap would take caching validated "
            "scenarios between runs, keyed by the file's content (as Python caches bytecode): not done, it "
            "needs a decision on where such a cache lives."
        )
        stats = profile_pytest((*CONVO_PLUGIN, "--collect-only"), convo)
        result.notes.append(
            profile_table(stats, "Profile of one convotest collection (cProfile, top entries by own time):")
        )
        stats.sort_stats("cumulative")
        load = [v[3] for k, v in stats.stats.items() if k[2] == "load_file"]  # type: ignore[attr-defined]
        if load:
            result.notes.append(f"`scenario.loader.load_file`, cumulative under the profiler: {load[0]:.2f} s.")
    return result


def _runs(values: list[float]) -> str:
    return ", ".join(fmt(v) for v in values)
