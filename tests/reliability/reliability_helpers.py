"""Shared pieces of the reliability tests: the soak factor, the shipped scenarios, throw-away projects.

Every count in these tests is a default multiplied by ``CONVOTEST_SOAK`` (an integer, default 1), so a
longer soak run is ``CONVOTEST_SOAK=10 python -m pytest tests/reliability``. See docs/reliability.md.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "scenarios"

#: Plugins that cost start-up time in every pytester run (and xdist worker) and play no part here.
INI = """\
[pytest]
addopts = -p no:hypothesispytest -p no:benchmark -p no:cacheprovider -p no:recording
"""


def soak() -> int:
    """The soak multiplier from ``CONVOTEST_SOAK`` (at least 1)."""
    raw = os.environ.get("CONVOTEST_SOAK", "1").strip() or "1"
    try:
        value = int(raw)
    except ValueError:
        raise pytest.UsageError(f"CONVOTEST_SOAK must be a whole number, not {raw!r}") from None
    return max(1, value)


def scaled(count: int) -> int:
    """``count`` times the soak multiplier."""
    return count * soak()


def shipped_files() -> list[Path]:
    """The shipped scenario files, sorted."""
    files = sorted(SHIPPED.glob("*.convo.yaml"))
    assert files, f"no shipped scenarios in {SHIPPED}"
    return files


def write_project(
    root: Path,
    scenarios: dict[str, str] | None = None,
    *,
    conftest: str = "",
    shipped: bool = False,
    ini: str = "",
) -> Path:
    """A pytest project in ``root``: ``pytest.ini``, a conftest, scenario files (and the shipped ones)."""
    (root / "pytest.ini").write_text(INI + textwrap.dedent(ini), encoding="utf-8")
    (root / "conftest.py").write_text(conftest, encoding="utf-8")
    if shipped:
        for path in shipped_files():
            shutil.copy(path, root / path.name)
    for name, text in (scenarios or {}).items():
        target = root / f"{name}.convo.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root


def every_file(folder: Path) -> list[Path]:
    """Every regular file below ``folder``, hidden ones included."""
    return sorted(p for p in folder.rglob("*") if p.is_file())


@dataclass
class PytestRun:
    """A finished ``python -m pytest`` subprocess."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def outcomes(self) -> dict[str, int]:
        """``{"passed": n, "failed": m, …}`` from pytest's last summary line."""
        lines = [line for line in self.stdout.splitlines() if line.startswith("=") and " in " in line]
        assert lines, self.output
        return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", lines[-1]) if word != "in"}


def run_pytest(
    root: Path, *args: str, env: dict[str, str] | None = None, replace_env: bool = False, timeout: float = 300
) -> PytestRun:
    """``python -m pytest ARGS`` in ``root`` (a project from ``write_project``), as a user would run it.

    ``env`` is added to this process's environment, or replaces it with ``replace_env``.
    """
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=root,
        env=dict(env or {}) if replace_env else {**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return PytestRun(done.returncode, done.stdout, done.stderr)


def run_inprocess(pytester: pytest.Pytester, *args: str) -> PytestRun:
    """``pytest ARGS`` inside this process in ``pytester.path`` (cheaper than a subprocess, same output)."""
    result = pytester.runpytest_inprocess(*args)
    return PytestRun(int(result.ret), "\n".join(result.outlines) + "\n", "\n".join(result.errlines))


#: A line mutation beyond the common ones: (draw, line) -> the line that replaces it.
LineEdit = Callable[[st.DrawFn, str], str]


def mutate_lines(draw: st.DrawFn, text: str, edits: Mapping[str, LineEdit]) -> str:
    """``text`` after one to four line mutations: delete, duplicate, swap, truncate the whole, or one of ``edits``."""
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "swap", *edits, "truncate"]))
        if action == "delete":
            del lines[at]
        elif action == "duplicate":
            lines.insert(at, lines[at])
        elif action == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif action == "truncate":
            joined = "".join(lines)
            lines = [joined[: draw(st.integers(0, len(joined)))]]
        else:
            lines[at] = edits[action](draw, lines[at])
    return "".join(lines)
