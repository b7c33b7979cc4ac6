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

    times = interleaved({"convotest": convo_arm, "pytest": plain_arm}, ctx.size.collect_repeats, ctx.size.warmup)
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
            "composed in Python), checked (a check compiled from the JSON Schema; jsonschema itself only for "
            "files that fail it) and turned into the scenario model, and then pytest makes its 4 items, as for a "
            "Python file. The models stay alive with their items (source positions included), so pytest's own "
            "`gc.collect()` passes at the end of the session walk about twice as many objects as for the Python "
            "files. This arm runs with `-p no:cacheprovider`: with pytest's cache, valid files' models come from "
            "`.pytest_cache` (convotest's scenario cache) and only changed files are read again."
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
