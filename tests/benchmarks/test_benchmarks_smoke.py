"""Smoke test: every benchmark still runs end to end, at the tiny size.

Nothing here looks at timings (they mean nothing at this size, and on a shared machine): only that each
benchmark completes, produces its table and targets, and that RESULTS.md renders.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.common import SIZES, Context, Result, Target
from benchmarks.run import BENCHMARKS, main, render


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Context:
    # One work folder per module (per xdist worker): benchmarks 1 and 6 share the recorded corpus, 2 and 3
    # the long conversations.
    return Context(SIZES["tiny"], work=tmp_path_factory.mktemp("bench"), verbose=False)


@pytest.mark.parametrize("number", sorted(BENCHMARKS))
def test_benchmark_runs_at_tiny_size(ctx: Context, number: int) -> None:
    result = BENCHMARKS[number][1](ctx)
    assert result.number == number
    head, *rows = result.table
    assert rows and all(len(row) == len(head) for row in rows)
    assert f"### {number}." in result.markdown()
    for target in result.targets:
        assert target.value == target.value  # a number, not NaN
        assert isinstance(target.holds, bool)


def test_results_file_renders_summary_and_failures() -> None:
    result = Result(3, "Token accounting", table=[["a", "b"], ["1", "2"]], targets=[Target("x / y", 1.7, 1.3)])
    text = render([result], "tiny", 12.0, ["5. emulator under load"])
    assert "| 3. x / y | 1.70× | <= 1.30× | **no** |" in text
    assert "**Did not complete:** 5. emulator under load" in text
    assert "| a | b |" in text


def test_command_line_rejects_unknown_benchmark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--only", "9", "--work", str(tmp_path)]) == 2
    assert "unknown benchmark 9" in capsys.readouterr().err
